"""Test media made on the spot with ffmpeg, and archives made with zipfile: tests never need outside files.

Plain functions, importable from any test module (`from tests.support.clips import make_video`). Every video is built
from ffmpeg `lavfi` sources, so its length, rate, size, audio, scene cuts and rotation are known exactly.
"""

from __future__ import annotations

import itertools
import json
import stat
import struct
import subprocess
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from ltxcore.media import ffmpeg_bin

COUNTER_STEP = 2  # luma per frame of the "counter" pattern: frames 0..109 fit in video range (16..235)
# Colours different enough in hue and brightness that a content detector sees a hard cut between them.
_SCENE_COLOURS = ("red", "blue", "yellow", "green", "magenta", "white")


def _ffmpeg(*args: str) -> None:
    cmd = [ffmpeg_bin.ffmpeg(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args]
    out = subprocess.run(cmd, timeout=120, capture_output=True, text=True)
    assert out.returncode == 0, f"test media could not be made: {out.stderr}"


def make_video(
    path: Path,
    *,
    seconds: float = 2.0,
    fps: float = 24,
    size: tuple[int, int] = (96, 64),
    audio: bool = False,  # a stereo sine tone of peak `volume`
    audio_rate: int = 44_100,
    tone_hz: float = 440.0,
    volume: float = 0.5,
    scene_cuts: Sequence[float] = (),
    vfr: bool = False,
    rotation: int | None = None,
    codec: str = "libx264",
    pattern: str = "testsrc2",
    tone_from: float = 0.0,
    sar: str | None = None,
) -> Path:
    """A synthetic clip of `seconds` at `fps`, `size` = (width, height), optionally with a sine tone.

    scene_cuts: times (s) of hard cuts between solid-colour scenes with a moving test pattern overlaid.
    vfr: the second half of the clip runs at a third of the frame rate (timestamps say so; mp4 keeps them).
    rotation: display-matrix rotation in degrees counter-clockwise (ffmpeg's `-display_rotation`).
    pattern: "testsrc2" (moving test card), "halves" (top half white, bottom half black: shows orientation) or
        "counter" (flat grey whose brightness is COUNTER_STEP x the frame index: shows which frames were taken) or
        "box" (a white box, square as DISPLAYED, half the picture high, centred on black: shows squashing).
    tone_from: the tone is silent before this time (s), to check that audio stays aligned with video.
    sar: sample aspect ratio "num/den" written into the stream (non-square pixels, as DV or anamorphic video).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    args: list[str] = []
    if scene_cuts:
        bounds = [0.0, *scene_cuts, seconds]
        parts = []
        for i, (a, b) in enumerate(itertools.pairwise(bounds)):
            colour = _SCENE_COLOURS[i % len(_SCENE_COLOURS)]
            args += ["-f", "lavfi", "-i", f"color=c={colour}:s={w}x{h}:r={fps}:d={b - a}"]
            parts.append(f"[{i}:v]")
        vgraph = "".join(parts) + f"concat=n={len(parts)}:v=1:a=0,format=yuv420p[v]"
    elif pattern == "counter":
        args += ["-f", "lavfi", "-i", f"color=c=black:s={w}x{h}:r={fps}:d={seconds}"]
        vgraph = f"[0:v]format=yuv420p,geq=lum='min(16+N*{COUNTER_STEP},235)':cb=128:cr=128[v]"
    elif pattern == "halves":
        args += ["-f", "lavfi", "-i", f"color=c=black:s={w}x{h}:r={fps}:d={seconds}"]
        vgraph = "[0:v]drawbox=x=0:y=0:w=iw:h=ih/2:color=white:t=fill,format=yuv420p[v]"
    elif pattern == "box":
        args += ["-f", "lavfi", "-i", f"color=c=black:s={w}x{h}:r={fps}:d={seconds}"]
        vgraph = (
            f"[0:v]setsar={sar or 1},drawbox=x=(iw-ih/2/sar)/2:y=ih/4:w=ih/2/sar:h=ih/2:color=white:t=fill,"
            "format=yuv420p[v]"
        )
    else:
        args += ["-f", "lavfi", "-i", f"testsrc2=s={w}x{h}:r={fps}:d={seconds}"]
        vgraph = "[0:v]format=yuv420p[v]"
    if sar:
        vgraph = vgraph.replace("[v]", f",setsar={sar}[v]")
    if vfr:
        # Frames of the second half are kept one in three: their timestamps stay, so the rate varies.
        half = int(seconds * fps / 2)
        vgraph = vgraph.replace("[v]", f",select='lt(n\\,{half})+not(mod(n\\,3))'[v]")
    n_video_inputs = len(scene_cuts) + 1 if scene_cuts else 1
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=f={tone_hz}:r={audio_rate}:d={seconds}"]
    args += ["-filter_complex", vgraph, "-map", "[v]"]
    if audio:
        # lavfi's sine has a peak of 1/8; the pan copies it to both channels at full level (no -3 dB upmix).
        tone = f"pan=stereo|c0=c0|c1=c0,volume={8 * volume},volume=0:enable='lt(t,{tone_from})'"
        args += ["-map", f"{n_video_inputs}:a", "-af", tone, "-c:a", "aac"]
    args += ["-c:v", codec]
    if codec == "libx264":
        args += ["-preset", "ultrafast", "-g", str(max(1, round(fps)))]
    if vfr:
        args += ["-fps_mode", "vfr"]
    if rotation is None:
        _ffmpeg(*args, str(path))
        return path
    tmp = path.with_name(f".unrotated-{path.name}")
    _ffmpeg(*args, str(tmp))
    _ffmpeg("-display_rotation", str(rotation), "-i", str(tmp), "-c", "copy", str(path))
    tmp.unlink()
    return path


def cut_with_edit_list(src: Path, dst: Path, start: float, seconds: float) -> Path:
    """A stream-copy cut (`-ss` before `-i`, `-c copy`), as editors and `ffmpeg -c copy` make them: the mp4 keeps
    the packets back to the previous keyframe and an edit list that tells players to skip them."""
    _ffmpeg("-ss", f"{start}", "-i", str(src), "-t", f"{seconds}", "-c", "copy", str(dst))
    return dst


def make_sparse_vfr(path: Path, starts_ms: Sequence[int], size: tuple[int, int] = (96, 64)) -> Path:
    """A "counter" clip whose frame k is shown from `starts_ms[k]` milliseconds (long irregular gaps, as webcams and
    screen recorders write); the last frame lasts 100 ms, so the clip ends at starts_ms[-1] + 100."""
    w, h = size
    expr = "0"
    for k, t in reversed(list(enumerate(starts_ms))):
        expr = f"if(eq(N,{k}),{t},{expr})"
    graph = (
        f"[0:v]format=yuv420p,geq=lum='min(16+N*{COUNTER_STEP},235)':cb=128:cr=128,"
        f"settb=1/1000,setpts='{expr}'[v]"
    )  # a millisecond time base: the times are exact
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"color=c=black:s={w}x{h}:r=10:d={len(starts_ms) / 10}",
        "-filter_complex",
        graph,
        "-map",
        "[v]",
        "-fps_mode",
        "passthrough",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        str(path),
    )
    return path


def make_image(path: Path, size: tuple[int, int] = (64, 64)) -> Path:
    """A one-frame PNG/JPEG (by extension): the kind of still the dataset must reject."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _ffmpeg("-f", "lavfi", "-i", f"testsrc2=s={size[0]}x{size[1]}:d=1", "-frames:v", "1", str(path))
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    """Cut a file to its first `keep` fraction of bytes: a broken upload."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def hls_playlist_as_video(path: Path, target: str = "/etc/passwd") -> Path:
    """An HLS playlist saved under a video extension that would make a naive ffmpeg read `target`."""
    path.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\n{target}\n#EXT-X-ENDLIST\n")
    return path


def make_zip(path: Path, entries: Mapping[str, bytes | str | Path]) -> Path:
    """A zip whose entry names are taken verbatim (folders, duplicates in other folders, __MACOSX, dot-files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in entries.items():
            if isinstance(content, Path):
                content = content.read_bytes()
            if isinstance(content, str):
                content = content.encode()
            # Videos are stored, as phones and zip tools usually do for already-compressed media.
            video = name.lower().endswith((".mp4", ".mov", ".mkv", ".avi"))
            zf.writestr(name, content, compress_type=zipfile.ZIP_STORED if video else zipfile.ZIP_DEFLATED)
    return path


def add_symlink(path: Path, name: str, target: str) -> Path:
    """Append a symlink entry (Unix mode S_IFLNK, the link text as content), as `zip --symlinks` writes it."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix: external_attr carries st_mode
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr(info, target)
    return path


def make_bomb(path: Path, name: str = "bomb.mp4", size: int = 50 * 1024 * 1024) -> Path:
    """A small zip holding one entry of `size` zero bytes: a compression ratio of about 1000."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf, zf.open(name, "w") as f:
        block = bytes(1 << 20)
        for _ in range(size >> 20):
            f.write(block)
    return path


def frame_count(path: Path) -> int:
    """Video frames, counted from the packets ffprobe reads (not the header's claim)."""
    out = subprocess.run(
        [
            ffmpeg_bin.ffprobe(),
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_packets",
            "-show_entries",
            "stream=nb_read_packets",
            "-of",
            "csv=p=0",
            str(path),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return int(out.stdout.strip())


def stream_info(path: Path) -> dict:
    """ffprobe's JSON for the file's streams and format."""
    out = subprocess.run(
        [ffmpeg_bin.ffprobe(), "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return json.loads(out.stdout)


def frame_indices(path: Path) -> list[int]:
    """Source frame index of every frame of a video made from the "counter" pattern (read from its brightness)."""
    import av

    with av.open(str(path)) as container:
        # Rows 0..height-1 of a yuv420p array are the luma plane, read as stored (no range conversion).
        return [
            round((float(f.to_ndarray(format="yuv420p")[: f.height].mean()) - 16) / COUNTER_STEP)
            for f in container.decode(video=0)
        ]


def gray_frames(path: Path) -> list:
    """Every frame as a (height, width) uint8 array."""
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="gray") for f in container.decode(video=0)]


def _central_offsets(data: bytes | bytearray, start_dir: int, count: int) -> list[int]:
    """Offsets of the central-directory headers (46 bytes + name + extra + comment each)."""
    offsets, pos = [], start_dir
    for _ in range(count):
        assert data[pos : pos + 4] == b"PK\x01\x02", "not a central directory header"
        offsets.append(pos)
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, pos + 28)
        pos += 46 + name_len + extra_len + comment_len
    return offsets


def patch_entry(
    path: Path, index: int, *, flag_bits: int | None = None, method: int | None = None, header_offset: int | None = None
) -> Path:
    """Rewrite entry `index`'s general-purpose flags and compression method (in its local AND central header), or
    where its central header says its local header is: what encrypting tools, Windows' Deflate64 and crafted
    archives write, which `zipfile` cannot produce itself."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        central = _central_offsets(data, zf.start_dir, len(infos))[index]
    local = infos[index].header_offset
    for offset, flags_at in ((local, 6), (central, 8)):  # local: sig, version; central: sig, made-by, version
        if flag_bits is not None:
            struct.pack_into("<H", data, offset + flags_at, flag_bits)
        if method is not None:
            struct.pack_into("<H", data, offset + flags_at + 2, method)
    if header_offset is not None:
        struct.pack_into("<I", data, central + 42, header_offset)
    path.write_bytes(bytes(data))
    return path


def make_overlap_bomb(path: Path, entries: int = 30, kernel_bytes: int = 1 << 20, seed: int = 0) -> Path:
    """The "quoted overlap" zip bomb (Fifield 2019): every entry's deflate stream first quotes, in a stored block,
    the local headers of the entries after it, then runs into ONE shared compressed kernel. Each entry is a valid
    deflate stream with a correct CRC, so `zipfile` inflates `entries` x `kernel_bytes` from one kernel."""
    import random
    import zlib

    rng = random.Random(seed)
    # A kernel that deflates about 30:1, so that every entry alone passes a 100:1 ratio cap.
    kernel_out = bytes(
        rng.choice(b"\x00\x00\x00\x00\x00\x00\x00\x01\x02\x03") if rng.random() < 0.1 else 0
        for _ in range(kernel_bytes)
    )
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    kernel = comp.compress(kernel_out) + comp.flush()
    names = [f"clip{i:03d}.mp4" for i in range(entries)]
    # Built from the last entry back: entry i quotes the headers (and quote-block headers) of entries i+1.. .
    tail = b""  # bytes between entry i's quote block and the kernel
    headers: list[bytes] = []
    crcs, sizes, csizes = [0] * entries, [0] * entries, [0] * entries
    for i in reversed(range(entries)):
        quote = struct.pack("<BHH", 0, len(tail), len(tail) ^ 0xFFFF) + tail  # stored block, not final
        sizes[i] = len(tail) + len(kernel_out)
        csizes[i] = len(quote) + len(kernel)
        crcs[i] = zlib.crc32(kernel_out, zlib.crc32(tail))
        name = names[i].encode()
        header = (
            struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crcs[i], csizes[i], sizes[i], len(name), 0)
            + name
        )
        headers.insert(0, header)
        tail = header + quote[:5] + tail  # what entry i-1 must quote: this header, its block header, the rest
    body = bytearray()
    offsets = []
    for i in range(entries):
        offsets.append(len(body))
        quoted = sum(len(h) + 5 for h in headers[i + 1 :])  # the quote block's content is what follows in the file
        body += headers[i] + struct.pack("<BHH", 0, quoted, quoted ^ 0xFFFF)
    body += kernel
    start_dir = len(body)
    for i, name in enumerate(names):
        n = name.encode()
        body += (
            struct.pack(
                "<4sHHHHHHIIIHHHHHII",
                b"PK\x01\x02",
                20,
                20,
                0,
                8,
                0,
                0,
                crcs[i],
                csizes[i],
                sizes[i],
                len(n),
                0,
                0,
                0,
                0,
                0,
                offsets[i],
            )
            + n
        )
    body += struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, entries, entries, len(body) - start_dir, start_dir, 0)
    path.write_bytes(bytes(body))
    return path
