"""A rejection part-way through extraction leaves no half-written stage: no videos under extract/<key>/ and no
manifest, so the next run starts clean; a run that succeeds after one that was refused still publishes its videos."""

from __future__ import annotations

import hashlib
import random
import zipfile
from pathlib import Path

import pytest

from ltxcore.errors import RequestRejected
from ltxcore.intake.extract import ExtractLimits, extract_archive
from ltxcore.manifests import ArchiveRef, ExtractResult
from ltxcore.store.stages import EXTRACT

VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 16  # extraction copies bytes; it does not probe them


def ref(path: Path) -> ArchiveRef:
    data = path.read_bytes()
    return ArchiveRef(url=f"file://{path}", path=str(path), sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.name != ".lock")


def _run_stage(archive: ArchiveRef, work: Path, limits: ExtractLimits | None = None) -> ExtractResult:
    return EXTRACT.run(
        work, {"sha256": archive.sha256}, ExtractResult, lambda out: extract_archive(archive, out, limits)
    )


def test_a_caption_over_the_limit_after_a_video_was_written_leaves_no_videos_and_no_manifest(tmp_path: Path) -> None:
    path = tmp_path / "in.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.mp4", VIDEO)  # extracted first
        zf.writestr("b.mp4", VIDEO)
        zf.writestr("b.txt", random.Random(0).randbytes(2000).hex())  # read with b.mp4, after a.mp4 is on disk
    with pytest.raises(RequestRejected) as err:
        _run_stage(ref(path), tmp_path / "work", ExtractLimits(max_caption_bytes=1000))
    (detail,) = err.value.details
    assert detail.loc == ("body", "training_data_url", "b.txt") and detail.type == "caption_too_long"
    assert detail.msg == "caption is longer than 1000 bytes"
    assert files_under(tmp_path / "work") == []  # no extract/<key>/videos/a-*.mp4, no manifest, no temp folder


def test_a_crc_error_in_a_later_entry_leaves_no_videos_and_no_manifest(tmp_path: Path) -> None:
    path = tmp_path / "in.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("a.mp4", VIDEO)
        zf.writestr("b.mp4", VIDEO)
    data = bytearray(path.read_bytes())
    second = data.index(b"PK\x03\x04", 4)
    data[second + 200] ^= 0xFF  # inside b.mp4's stored bytes: its CRC no longer matches
    path.write_bytes(data)
    with pytest.raises(RequestRejected) as err:
        _run_stage(ref(path), tmp_path / "work")
    (detail,) = err.value.details
    assert detail.loc == ("body", "training_data_url") and detail.type == "bad_archive"
    assert "is a corrupt zip archive" in detail.msg and "CRC" in detail.msg
    assert files_under(tmp_path / "work") == []


def test_a_successful_extract_publishes_its_videos_under_videos_and_cleans_a_killed_runs_leftovers(
    tmp_path: Path,
) -> None:
    path = tmp_path / "in.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.mp4", VIDEO)
        zf.writestr("a.txt", "a caption")
    archive = ref(path)
    out = EXTRACT.dir(tmp_path / "work", sha256=archive.sha256)
    (out / ".videos-killed").mkdir(parents=True)  # what a run killed mid-extraction leaves
    (out / ".videos-killed" / "half.mp4").write_bytes(b"half")
    (out / "videos").mkdir()
    (out / "videos" / "stale.mp4").write_bytes(b"stale")  # videos without a manifest: not trusted
    result = _run_stage(archive, tmp_path / "work")
    (clip,) = result.clips
    assert Path(clip.path).parent == out / "videos" and Path(clip.path).read_bytes() == VIDEO
    assert clip.caption == "a caption"
    assert files_under(out) == ["manifest.json", f"videos/{Path(clip.path).name}"]
