"""extract_archive: real zip files, real videos; the adversarial archives leave nothing outside the target."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest
from media import add_symlink, make_bomb, make_image, make_video, make_zip

from ltxcore.errors import RequestRejected
from ltxcore.intake.extract import ExtractLimits, extract_archive
from ltxcore.manifests import ArchiveRef


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_video(tmp_path_factory.mktemp("v") / "v.mp4", seconds=0.5).read_bytes()


def ref(path: Path) -> ArchiveRef:
    data = path.read_bytes()
    return ArchiveRef(url=f"file://{path}", path=str(path), sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_realistic_archive_gives_distinct_clips_captions_and_a_skip_list(tmp_path: Path, video: bytes) -> None:
    image = make_image(tmp_path / "still.png").read_bytes()
    archive = make_zip(tmp_path / "in.zip", {
        "a/clip.mp4": video,
        "a/clip.txt": "\ufeffa dog runs\r\nacross the yard\r\n".encode(),  # BOM + CRLF from Windows Notepad
        "b/clip.mp4": video,  # same name, other folder: a different clip
        "b/clip.txt": "a cat sits",
        "top.MOV": video,  # upper-case extension
        "deep/er/x.Mkv": video,
        "deep/er/x.txt": "mkv caption",
        "c.avi": video,
        "latin.mp4": video,
        "latin.txt": "caf\xe9".encode("latin-1"),  # not UTF-8
        "photo.JPG": image,
        "shots/frame.png": image,
        "notes.pdf": b"%PDF-1.4",
        "__MACOSX/a/._clip.mp4": b"\x00\x05\x16\x07",
        ".DS_Store": b"\x00\x00\x00\x01Bud1",
        "a/.hidden.mp4": video,
        "empty_dir/": b"",
    })
    out = extract_archive(ref(archive), tmp_path / "x")
    by_path = {c.rel_path: c for c in out.clips}
    assert sorted(by_path) == ["a/clip.mp4", "b/clip.mp4", "c.avi", "deep/er/x.Mkv", "top.MOV"]
    assert len({c.id for c in out.clips}) == 5
    assert by_path["a/clip.mp4"].caption == "a dog runs across the yard"
    assert by_path["b/clip.mp4"].caption == "a cat sits"
    assert by_path["deep/er/x.Mkv"].caption == "mkv caption"
    assert by_path["top.MOV"].caption == "" and by_path["c.avi"].caption == ""
    for clip in out.clips:
        assert Path(clip.path).read_bytes() == video
        assert Path(clip.path).parent == tmp_path / "x" / "videos"
    skipped = {s.file: s.type for s in out.skipped}
    assert skipped == {"latin.mp4": "bad_caption", "photo.JPG": "image", "shots/frame.png": "image",
                       "notes.pdf": "unsupported"}
    assert "latin.txt" in next(s.reason for s in out.skipped if s.file == "latin.mp4")
    assert len(files_under(tmp_path / "x")) == 5  # only the five videos were written


def test_clip_ids_do_not_depend_on_extraction_order_or_collide(tmp_path: Path, video: bytes) -> None:
    a = extract_archive(ref(make_zip(tmp_path / "1.zip", {"a/x.mp4": video, "a_x.mp4": video})), tmp_path / "1")
    b = extract_archive(ref(make_zip(tmp_path / "2.zip", {"a_x.mp4": video, "a/x.mp4": video})), tmp_path / "2")
    assert {c.rel_path: c.id for c in a.clips} == {c.rel_path: c.id for c in b.clips}
    assert len({c.id for c in a.clips}) == 2


@pytest.mark.parametrize("name", ["../evil.mp4", "ok/../../evil.mp4", "/tmp/evil.mp4", "C:/evil.mp4",
                                  "..\\evil.mp4"])
def test_entries_escaping_the_target_refuse_the_archive(tmp_path: Path, video: bytes, name: str) -> None:
    archive = make_zip(tmp_path / "in.zip", {"good.mp4": video, name: video})
    with pytest.raises(RequestRejected) as err:
        extract_archive(ref(archive), tmp_path / "work" / "x")
    assert err.value.details[0].type == "unsafe_archive"
    assert err.value.details[0].loc == ("body", "training_data_url", name)
    assert files_under(tmp_path) == {"in.zip"}  # nothing written, inside or outside
    assert not Path("/tmp/evil.mp4").exists()


def test_symlink_entry_refuses_the_archive(tmp_path: Path, video: bytes) -> None:
    archive = add_symlink(make_zip(tmp_path / "in.zip", {"good.mp4": video}), "link.mp4", "/etc/passwd")
    with pytest.raises(RequestRejected) as err:
        extract_archive(ref(archive), tmp_path / "x")
    assert err.value.details[0].type == "unsafe_archive" and "symbolic link" in err.value.details[0].msg
    assert files_under(tmp_path) == {"in.zip"}


def test_oversized_entry_and_total_are_refused(tmp_path: Path, video: bytes) -> None:
    archive = make_zip(tmp_path / "in.zip", {"a.mp4": video, "b.mp4": video})
    with pytest.raises(RequestRejected) as err:
        extract_archive(ref(archive), tmp_path / "x", ExtractLimits(max_file_bytes=len(video) - 1))
    assert err.value.details[0].type == "archive_too_large" and err.value.details[0].loc[-1] == "a.mp4"
    with pytest.raises(RequestRejected) as err:
        extract_archive(ref(archive), tmp_path / "x", ExtractLimits(max_total_bytes=len(video) * 2 - 1))
    assert err.value.details[0].type == "archive_too_large" and "unpacks to" in err.value.details[0].msg
    assert files_under(tmp_path) == {"in.zip"}


def test_zip_bomb_ratio_is_refused_before_inflating(tmp_path: Path) -> None:
    archive = make_bomb(tmp_path / "bomb.zip", size=20 << 20)
    assert archive.stat().st_size < 100_000  # 20 MiB of zeros deflate to ~20 KiB
    with pytest.raises(RequestRejected) as err:
        extract_archive(ref(archive), tmp_path / "x")
    assert err.value.details[0].type == "archive_too_large" and "zip bomb" in err.value.details[0].msg
    assert files_under(tmp_path) == {"bomb.zip"}


def test_not_a_zip_is_a_422(tmp_path: Path) -> None:
    fake = tmp_path / "in.zip"
    fake.write_bytes(b"this is a text file, not an archive\n" * 10)
    with pytest.raises(RequestRejected) as err:
        extract_archive(ref(fake), tmp_path / "x")
    assert err.value.details[0].type == "bad_archive" and err.value.details[0].loc == ("body", "training_data_url")


def test_empty_zip_and_zip_without_videos_are_422(tmp_path: Path) -> None:
    empty = make_zip(tmp_path / "empty.zip", {})
    only_junk = make_zip(tmp_path / "junk.zip", {"a.txt": "hi", "__MACOSX/x.mp4": b"x", ".x.mp4": b"x"})
    for archive in (empty, only_junk):
        with pytest.raises(RequestRejected) as err:
            extract_archive(ref(archive), tmp_path / "x")
        assert err.value.details[0].type == "no_videos"
    assert not (tmp_path / "x").exists()


def test_corrupt_entry_is_a_422(tmp_path: Path, video: bytes) -> None:
    archive = make_zip(tmp_path / "in.zip", {"a.mp4": video})
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the stored video: the CRC no longer matches
    archive.write_bytes(bytes(data))
    assert zipfile.is_zipfile(archive)
    with pytest.raises(RequestRejected) as err:
        extract_archive(ref(archive), tmp_path / "x")
    assert err.value.details[0].type == "bad_archive"
    assert list((tmp_path / "x" / "videos").iterdir()) == []


def test_utf8_names_without_the_utf8_flag_are_read_as_utf8(tmp_path: Path) -> None:
    # Info-ZIP and macOS write UTF-8 names without flag bit 11, which Python then decodes as cp437. Python's own
    # writer sets the flag for non-ASCII names, so the archive is written with an ASCII stand-in of the same byte
    # length, then the stand-in's bytes are swapped for the UTF-8 ones.
    folder = "Clips ünï"
    stand_in = "Clips " + "X" * (len(folder.encode()) - len("Clips "))
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(f"{stand_in}/IMG 0001.MOV", b"not really a video")
        zf.writestr(f"{stand_in}/IMG 0001.txt", "a caption ✓".encode())
    archive.write_bytes(archive.read_bytes().replace(stand_in.encode(), folder.encode()))
    with zipfile.ZipFile(archive) as zf:
        assert [i.flag_bits & 0x800 for i in zf.infolist()] == [0, 0]
        assert zf.namelist()[0].startswith("Clips ├╝n├»")  # what Python alone makes of it
    ref = ArchiveRef(url=str(archive), path=str(archive), sha256="0" * 64, size=archive.stat().st_size)
    result = extract_archive(ref, tmp_path / "out")
    assert [c.rel_path for c in result.clips] == ["Clips ünï/IMG 0001.MOV"]
    assert result.clips[0].caption == "a caption ✓"
