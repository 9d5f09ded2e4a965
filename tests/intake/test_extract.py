"""extract_archive: real zip files, real videos; the adversarial archives leave nothing outside the target."""

from __future__ import annotations

import hashlib
import warnings
import zipfile
from pathlib import Path

import pytest

from ltxcore.errors import RequestRejected
from ltxcore.intake.extract import ExtractLimits, extract_archive
from ltxcore.manifests import ArchiveRef
from tests.support.clips import add_symlink, make_bomb, make_image, make_overlap_bomb, make_video, make_zip, patch_entry


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
    archive = make_zip(
        tmp_path / "in.zip",
        {
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
        },
    )
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
    assert skipped == {
        "latin.mp4": "bad_caption",
        "photo.JPG": "image",
        "shots/frame.png": "image",
        "notes.pdf": "unsupported",
    }
    assert "latin.txt" in next(s.reason for s in out.skipped if s.file == "latin.mp4")
    assert len(files_under(tmp_path / "x")) == 5  # only the five videos were written


def test_clip_ids_do_not_depend_on_extraction_order_or_collide(tmp_path: Path, video: bytes) -> None:
    a = extract_archive(ref(make_zip(tmp_path / "1.zip", {"a/x.mp4": video, "a_x.mp4": video})), tmp_path / "1")
    b = extract_archive(ref(make_zip(tmp_path / "2.zip", {"a_x.mp4": video, "a/x.mp4": video})), tmp_path / "2")
    assert {c.rel_path: c.id for c in a.clips} == {c.rel_path: c.id for c in b.clips}
    assert len({c.id for c in a.clips}) == 2


@pytest.mark.parametrize("name", ["../evil.mp4", "ok/../../evil.mp4", "/tmp/evil.mp4", "C:/evil.mp4", "..\\evil.mp4"])
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
    assert list((tmp_path / "x").iterdir()) == []  # no videos folder, no temporary one: nothing half-written


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


def test_captions_pair_case_insensitively_on_the_whole_name(tmp_path: Path, video: bytes) -> None:
    archive = make_zip(
        tmp_path / "in.zip",
        {
            "B.MkV": video,
            "B.tXt": "mixed case",
            "Shots/C.mp4": video,
            "shots/c.TXT": "folder case differs too",
            "E.mp4": video,
            "e.txt": "lower",
            "E.txt": "exact",  # an exact-case match wins
            "D.MP4": video,
            "d.txt": "one",
            "d.TXT": "two",  # two candidates, neither exact: ambiguous
        },
    )
    out = extract_archive(ref(archive), tmp_path / "x")
    captions = {c.rel_path: c.caption for c in out.clips}
    assert captions == {"B.MkV": "mixed case", "Shots/C.mp4": "folder case differs too", "E.mp4": "exact"}
    (skip,) = out.skipped
    assert (skip.file, skip.type) == ("D.MP4", "bad_caption") and "d.TXT, d.txt" in skip.reason


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("a cat on a sofa".encode("utf-16-le"), "U+0000"),  # UTF-16 without a byte-order mark: valid UTF-8 with NULs
        ("a cat on a sofa".encode("utf-16-be"), "UTF-16 without a byte-order mark"),
        (b"a cat\x07 on a\x1b[0m sofa", "U+0007, U+001B"),  # a bell and a terminal escape
    ],
    ids=["utf16le-no-bom", "utf16be-no-bom", "control-bytes"],
)
def test_caption_with_nuls_or_control_bytes_skips_its_clip_naming_the_txt(
    tmp_path: Path, video: bytes, raw: bytes, why: str
) -> None:
    archive = make_zip(tmp_path / "in.zip", {"ok.mp4": video, "ok.txt": "fine", "bad/u.mp4": video, "bad/u.txt": raw})
    out = extract_archive(ref(archive), tmp_path / "x")
    assert [(c.rel_path, c.caption) for c in out.clips] == [("ok.mp4", "fine")]
    (skip,) = out.skipped
    assert (skip.file, skip.type) == ("bad/u.mp4", "bad_caption")
    assert "bad/u.txt" in skip.reason and why in skip.reason
    assert len(files_under(tmp_path / "x")) == 1  # the skipped clip's video was never written


def test_utf16_caption_with_a_byte_order_mark_is_read(tmp_path: Path, video: bytes) -> None:
    archive = make_zip(tmp_path / "in.zip", {"n.mp4": video, "n.txt": "a café at night ✓".encode("utf-16")})
    (clip,) = extract_archive(ref(archive), tmp_path / "x").clips
    assert clip.caption == "a café at night ✓"


def test_duplicate_entry_names_keep_the_last_and_list_the_shadowed_one(tmp_path: Path, video: bytes) -> None:
    other = make_video(tmp_path / "o.mp4", seconds=0.25).read_bytes()
    archive = tmp_path / "dup.zip"
    with warnings.catch_warnings(), zipfile.ZipFile(archive, "w") as zf:
        warnings.simplefilter("ignore")  # zipfile warns "Duplicate name", and writes it anyway
        zf.writestr("same.mp4", video)
        zf.writestr("keep.mp4", video)
        zf.writestr("same.mp4", other)
    out = extract_archive(ref(archive), tmp_path / "x")
    assert sorted(c.rel_path for c in out.clips) == ["keep.mp4", "same.mp4"]
    assert Path(next(c.path for c in out.clips if c.rel_path == "same.mp4")).read_bytes() == other
    (skip,) = out.skipped
    assert (skip.file, skip.type) == ("same.mp4", "duplicate_name")
    assert "archive entry 1" in skip.reason and "entry 3" in skip.reason


def test_names_equal_after_the_utf8_repair_never_lose_a_clip_silently(tmp_path: Path, video: bytes) -> None:
    archive = make_zip(tmp_path / "in.zip", {"Clips ü/a.mp4": video, "Clips ü/b.mp4": video})
    # Entry 2 becomes a UTF-8 name WITHOUT the UTF-8 flag (as Info-ZIP writes), named like entry 1 once repaired.
    data = archive.read_bytes().replace("Clips ü/b.mp4".encode(), "Clips ü/a.mp4".encode())
    archive.write_bytes(data)
    patch_entry(archive, 1, flag_bits=0)
    with zipfile.ZipFile(archive) as zf:
        assert zf.namelist() == ["Clips ü/a.mp4", "Clips ├╝/a.mp4"]  # two names to Python, one to a person
    out = extract_archive(ref(archive), tmp_path / "x")
    assert [c.rel_path for c in out.clips] == ["Clips ü/a.mp4"]
    assert [(s.file, s.type) for s in out.skipped] == [("Clips ü/a.mp4", "duplicate_name")]


def test_encrypted_and_deflate64_entries_are_skipped_by_name(tmp_path: Path, video: bytes) -> None:
    archive = make_zip(
        tmp_path / "in.zip",
        {"ok.mp4": video, "secret.mp4": video, "big.mp4": video, "capd.mp4": video, "capd.txt": "caption"},
    )
    patch_entry(archive, 1, flag_bits=0x1)  # encrypted (ZipCrypto): zipfile would ask for a password
    patch_entry(archive, 2, method=9)  # Deflate64, as Windows Explorer writes large files
    patch_entry(archive, 4, method=98)  # a PPMd caption
    with zipfile.ZipFile(archive) as zf, pytest.raises(NotImplementedError):
        zf.read("big.mp4")  # the crash this guards against
    out = extract_archive(ref(archive), tmp_path / "x")
    assert [c.rel_path for c in out.clips] == ["ok.mp4"]
    reasons = {s.file: (s.type, s.reason) for s in out.skipped}
    assert reasons["secret.mp4"][0] == "unreadable_entry" and "encrypted" in reasons["secret.mp4"][1]
    assert reasons["big.mp4"][0] == "unreadable_entry" and "Deflate64 (method 9)" in reasons["big.mp4"][1]
    assert reasons["capd.mp4"][0] == "bad_caption" and "capd.txt" in reasons["capd.mp4"][1]
    assert "PPMd" in reasons["capd.mp4"][1]
    assert len(files_under(tmp_path / "x")) == 1


def test_overlapping_entries_sharing_one_compressed_block_refuse_the_archive(tmp_path: Path) -> None:
    archive = make_overlap_bomb(tmp_path / "bomb.zip", entries=30, kernel_bytes=1 << 20)
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        assert all(i.file_size < 100 * i.compress_size for i in infos)  # each entry passes the ratio cap alone
        assert sum(len(zf.read(i)) for i in infos) > 30 * (1 << 20)  # the threat: zipfile inflates 30 MiB...
    assert archive.stat().st_size < 64_000  # ...from a 50 KB file
    with pytest.raises(RequestRejected) as err:
        extract_archive(ref(archive), tmp_path / "x")
    (detail,) = err.value.details
    assert detail.type == "unsafe_archive" and "overlapping" in detail.msg
    assert detail.loc[:2] == ("body", "training_data_url") and detail.loc[2].endswith(".mp4")
    assert files_under(tmp_path) == {"bomb.zip"}


def test_central_directory_pointing_two_entries_at_one_header_is_refused(tmp_path: Path, video: bytes) -> None:
    archive = make_zip(tmp_path / "in.zip", {"a.mp4": video, "b.mp4": video})
    patch_entry(archive, 1, header_offset=0)  # b.mp4's central entry points at a.mp4's local header
    with pytest.raises(RequestRejected) as err:
        extract_archive(ref(archive), tmp_path / "x")
    assert err.value.details[0].type == "unsafe_archive" and "overlapping" in err.value.details[0].msg
