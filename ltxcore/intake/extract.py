"""Safe unzip of the training archive into source clips with their captions.

The whole central directory is checked before one byte is written, so a refused archive leaves nothing behind:
- an entry whose name is absolute, has a drive letter or a `..` component, or is a symlink refuses the archive
  (such names do not come from zipping a folder; they come from someone probing for zip-slip);
- entry count, per-file and total uncompressed size, and each entry's compression ratio are capped (zip bombs);
  the caps are enforced again on the bytes actually inflated, since the declared sizes can lie;
- entries whose bytes overlap (the "quoted overlap" bomb, see `zip_layout`) refuse the archive.
Entries that cannot be read (encrypted, Deflate64 and other methods Python lacks) and entries that lose a name
collision (the same name twice, or equal after the UTF-8 name repair) are skipped with their reason, never dropped
silently. Only videos are written, under names derived from their id (never from the entry name), and captions are
read in memory, so nothing in the archive chooses a path on disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import lzma
import os
import re
import shutil
import stat
import struct
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, ConfigDict, Field

from ltxcore.errors import RequestRejected
from ltxcore.intake import zip_layout
from ltxcore.intake.captions import CAPTION_EXTENSION, CaptionError, CaptionIndex, decode_caption
from ltxcore.manifests import ArchiveRef, ExtractResult, SkippedClip, SourceClip

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif")
LOC = ("body", "training_data_url")
_CHUNK = 1 << 20
# What a hostile or damaged zip makes `zipfile` raise while reading (bad offsets, lying headers, broken streams).
_CORRUPT = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, struct.error, ValueError, OverflowError)


class ExtractLimits(BaseModel):
    """Caps that keep a crafted archive from filling the disk."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_entries: int = Field(default=10_000, description="Entries in the central directory.")
    max_file_bytes: int = Field(default=4 * 1024**3, description="Uncompressed bytes of one entry.")
    max_total_bytes: int = Field(default=40 * 1024**3, description="Uncompressed bytes of all extracted entries.")
    max_ratio: float = Field(default=100.0, description="Uncompressed / compressed size of one entry.")
    max_caption_bytes: int = Field(default=64 * 1024, description="Bytes of one caption file.")


def extract_archive(archive: ArchiveRef, dest_dir: Path, limits: ExtractLimits | None = None) -> ExtractResult:
    """Unzip `archive` into `dest_dir/videos/` and pair each video with its caption.

    Returns the clips (probe not yet filled in) and the files left out (images, unsupported files, captions that
    are not UTF-8). Raises `RequestRejected` for a file that is not a zip, a corrupt zip, an archive with no
    video, or any entry that breaks the safety rules above.
    """
    limits = limits or ExtractLimits()
    try:
        zf = zipfile.ZipFile(archive.path)
    except (*_CORRUPT, NotImplementedError, OSError) as exc:  # OSError: a central directory seeking off the file
        raise RequestRejected.one(
            LOC, f"{archive.url} is not a readable zip archive ({_short(exc)})", "bad_archive"
        ) from None
    with zf:
        infos = _checked_entries(zf, Path(archive.path), limits)
        files, skipped = _by_name([i for i in infos if not i.is_dir() and not _ignored(_name(i))])
        if not any(_ext(n) in VIDEO_EXTENSIONS for n in files):
            raise RequestRejected.one(
                LOC, f"{archive.url} contains no videos ({', '.join(VIDEO_EXTENSIONS)})", "no_videos"
            )
        result = _extract_atomically(archive, zf, files, dest_dir, limits)
    return result.model_copy(update={"skipped": [*skipped, *result.skipped]})


def _extract_atomically(
    archive: ArchiveRef, zf: zipfile.ZipFile, files: dict[str, zipfile.ZipInfo], dest_dir: Path, limits: ExtractLimits
) -> ExtractResult:
    """Extract into a temporary folder beside `dest_dir/videos` and rename it into place once every entry is read:
    a rejection part-way (a later caption over its limit, a CRC error in a later entry) or any other failure leaves
    no videos behind, only what was there before. The caller (the stage) holds `dest_dir`'s lock, so leftovers of
    a killed run (`.videos-*`) are removed here."""
    final = dest_dir / "videos"
    dest_dir.mkdir(parents=True, exist_ok=True)
    for stale in dest_dir.glob(".videos-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=".videos-", dir=dest_dir))
    try:
        try:
            result = _extract(zf, files, tmp, final, limits)
        except _CORRUPT as exc:
            raise RequestRejected.one(
                LOC, f"{archive.url} is a corrupt zip archive: {_short(exc)}", "bad_archive"
            ) from None
        if final.exists():  # a run killed before this fix, or one whose manifest is gone: its videos are stale
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result


def clip_id(rel_path: str) -> str:
    """A stable, filesystem-safe id from the path inside the archive; the hash keeps `a/x.mp4` and `a_x.mp4` apart."""
    stem = str(PurePosixPath(rel_path).with_suffix(""))
    slug = re.sub(r"[^A-Za-z0-9]+", "_", stem).strip("_")[:60] or "clip"
    return f"{slug}-{hashlib.sha256(rel_path.encode()).hexdigest()[:8]}"


# --- checks before writing anything ----------------------------------------------------------------------------


def _checked_entries(zf: zipfile.ZipFile, path: Path, limits: ExtractLimits) -> list[zipfile.ZipInfo]:
    infos = zf.infolist()
    if len(infos) > limits.max_entries:
        raise RequestRejected.one(
            LOC, f"archive has {len(infos)} entries; the limit is {limits.max_entries}", "archive_too_large"
        )
    _check_layout(path, infos)
    total = 0
    for info in infos:
        name = _name(info)
        loc = (*LOC, info.filename)
        if _escapes(name):
            raise RequestRejected.one(
                loc, f"archive entry {info.filename!r} points outside the archive folder", "unsafe_archive"
            )
        if _is_symlink(info):
            raise RequestRejected.one(
                loc, f"archive entry {info.filename!r} is a symbolic link, which is refused", "unsafe_archive"
            )
        if info.is_dir() or _ignored(name) or not _wanted(name):
            continue
        if info.file_size > limits.max_file_bytes:
            raise RequestRejected.one(
                loc,
                f"{name} is {info.file_size} bytes uncompressed; the limit per file is {limits.max_file_bytes}",
                "archive_too_large",
            )
        if info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise RequestRejected.one(
                loc,
                f"{name} compresses {info.file_size / max(info.compress_size, 1):.0f}:1; "
                f"ratios above {limits.max_ratio:.0f}:1 are refused (zip bomb)",
                "archive_too_large",
            )
        total += info.file_size
    if total > limits.max_total_bytes:
        raise RequestRejected.one(
            LOC, f"archive unpacks to {total} bytes; the limit is {limits.max_total_bytes}", "archive_too_large"
        )
    return infos


def _check_layout(path: Path, infos: list[zipfile.ZipInfo]) -> None:
    """Every entry's bytes lie inside the file, and no two entries share bytes."""
    try:
        spans = zip_layout.data_spans(path, infos)
    except ValueError as exc:
        raise RequestRejected.one(LOC, f"the archive is damaged: {exc}", "bad_archive") from None
    overlap = zip_layout.first_overlap(spans)
    if overlap:
        a, b = overlap
        raise RequestRejected.one(
            (*LOC, b.filename),
            f"archive entries {a.filename!r} and {b.filename!r} share the same compressed bytes "
            "(overlapping entries, a zip bomb); no zip tool writes that, so the archive is refused",
            "unsafe_archive",
        )


def _by_name(infos: list[zipfile.ZipInfo]) -> tuple[dict[str, zipfile.ZipInfo], list[SkippedClip]]:
    """Entries by their (repaired) name. When several share a name, the last one in the archive is used, as
    `unzip` would leave it, and each video it shadows is listed as skipped."""
    files: dict[str, zipfile.ZipInfo] = {}
    order: dict[str, list[int]] = {}
    for index, info in enumerate(infos):
        name = _name(info)
        files[name] = info
        order.setdefault(name, []).append(index + 1)
    skipped = [
        SkippedClip(
            file=name,
            type="duplicate_name",
            reason=f"archive entry {pos} is named {name!r} like entry {positions[-1]} (names compared after "
            f"decoding), which is the one used; rename it to train on it too",
        )
        for name, positions in order.items()
        if _ext(name) in VIDEO_EXTENSIONS
        for pos in positions[:-1]
    ]
    return files, skipped


def _name(info: zipfile.ZipInfo) -> str:
    """The entry's name as its author wrote it. Zips from Linux and macOS tools store UTF-8 names without setting the
    UTF-8 flag, so Python decodes them as cp437 ("ünï" -> "├╝n├»"); such a name is decoded again as UTF-8 when it is
    valid UTF-8 (a real cp437 name from an old Windows zip usually is not, and stays as it was)."""
    name = info.filename
    if not info.flag_bits & 0x800:
        with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
            name = name.encode("cp437").decode("utf-8")
    return name.replace("\\", "/")


def _escapes(name: str) -> bool:
    """Absolute, drive-lettered or `..`-climbing names could write outside the target folder."""
    parts = PurePosixPath(name).parts
    return name.startswith("/") or bool(re.match(r"^[A-Za-z]:", name)) or ".." in parts or "\x00" in name


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


def _ignored(name: str) -> bool:
    """macOS resource forks (`__MACOSX/`) and dot-files (`.DS_Store`, `._x.mp4`) are metadata, not data."""
    return any(p == "__MACOSX" or p.startswith(".") for p in PurePosixPath(name).parts)


def _ext(name: str) -> str:
    return PurePosixPath(name).suffix.lower()


def _wanted(name: str) -> bool:
    return _ext(name) in (*VIDEO_EXTENSIONS, CAPTION_EXTENSION)


# --- extraction ------------------------------------------------------------------------------------------------


def _extract(
    zf: zipfile.ZipFile, files: dict[str, zipfile.ZipInfo], out_dir: Path, final_dir: Path, limits: ExtractLimits
) -> ExtractResult:
    """Write the videos into `out_dir`; the clips name them under `final_dir`, where `out_dir` is renamed to."""
    out_dir.mkdir(parents=True, exist_ok=True)
    clips: list[SourceClip] = []
    skipped: list[SkippedClip] = []
    budget = [limits.max_total_bytes]
    captions = CaptionIndex(files)
    ids: set[str] = set()
    for name in sorted(files):
        ext = _ext(name)
        if ext in IMAGE_EXTENSIONS:
            skipped.append(
                SkippedClip(file=name, reason="images are not trained on (nothing to extend over time)", type="image")
            )
        elif ext not in (*VIDEO_EXTENSIONS, CAPTION_EXTENSION):
            skipped.append(
                SkippedClip(file=name, reason=f"not a video ({', '.join(VIDEO_EXTENSIONS)})", type="unsupported")
            )
        if ext not in VIDEO_EXTENSIONS:
            continue
        unreadable = zip_layout.unreadable_reason(files[name])
        if unreadable:
            skipped.append(SkippedClip(file=name, reason=f"the archive entry {unreadable}", type="unreadable_entry"))
            continue
        try:
            caption = _caption(zf, files, captions, name, limits, budget)
        except CaptionError as exc:
            skipped.append(SkippedClip(file=name, reason=exc.reason, type="bad_caption"))
            continue
        cid = clip_id(name)
        if cid in ids:  # two names with one slug and one 32-bit hash: never overwrite
            skipped.append(
                SkippedClip(
                    file=name,
                    reason=f"its clip id {cid} collides with another entry's; rename it",
                    type="duplicate_name",
                )
            )
            continue
        _inflate(zf, files[name], out_dir / f"{cid}{ext}", limits, budget)
        ids.add(cid)
        clips.append(SourceClip(id=cid, path=str(final_dir / f"{cid}{ext}"), rel_path=name, caption=caption))
    return ExtractResult(clips=clips, skipped=skipped)


def _caption(
    zf: zipfile.ZipFile,
    files: dict[str, zipfile.ZipInfo],
    captions: CaptionIndex,
    video: str,
    limits: ExtractLimits,
    budget: list[int],
) -> str:
    """The video's caption text ("" without one); `CaptionError` when it cannot be used."""
    name = captions.caption_for(video)
    if name is None:
        return ""
    unreadable = zip_layout.unreadable_reason(files[name])
    if unreadable:
        raise CaptionError(f"its caption {name} {unreadable}")
    return decode_caption(_read_caption(zf, files[name], limits, budget), name)


def _read_caption(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ExtractLimits, budget: list[int]) -> bytes:
    """The caption's bytes, counted against the archive's inflation budget."""
    with zf.open(info) as f:
        raw = f.read(limits.max_caption_bytes + 1)
    if len(raw) > limits.max_caption_bytes:
        raise RequestRejected.one(
            (*LOC, info.filename), f"caption is longer than {limits.max_caption_bytes} bytes", "caption_too_long"
        )
    budget[0] -= len(raw)
    return raw


def _inflate(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, limits: ExtractLimits, budget: list[int]) -> None:
    """Copy one entry out, counting real bytes against the caps; the name appears only when complete."""
    loc = (*LOC, info.filename)
    fd, tmp = tempfile.mkstemp(prefix=".extract-", dir=path.parent)
    written = 0
    try:
        with os.fdopen(fd, "wb") as out, zf.open(info) as src:
            while chunk := src.read(_CHUNK):
                written += len(chunk)
                if written > min(limits.max_file_bytes, budget[0]):
                    raise RequestRejected.one(loc, f"{info.filename} inflates past the size limit", "archive_too_large")
                out.write(chunk)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    budget[0] -= written


def _short(exc: BaseException) -> str:
    return str(exc)[:200] or type(exc).__name__
