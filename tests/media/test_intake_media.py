"""Media users really have, read as a player presents it: AVI without timestamps, stream-copy cuts with edit lists,
sparse variable-rate captures and non-square pixels. Each test builds its file with ffmpeg and counts frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ltxcore.intake.fit import FitSettings, fit_clip
from ltxcore.manifests import FittedClip, SkippedClip, SourceClip
from ltxcore.media.probe import presented_frames, probe
from tests.support.clips import cut_with_edit_list, frame_indices, gray_frames, make_sparse_vfr, make_video, stream_info

WINDOW = FitSettings(num_frames=25, fps=24, width=64, height=64)


def clip_of(path: Path) -> SourceClip:
    return SourceClip(id=path.stem, path=str(path), rel_path=path.name, probe=probe(path))


def windows(result: list[FittedClip] | SkippedClip) -> list[FittedClip]:
    assert isinstance(result, list), result
    return sorted(result, key=lambda c: c.source_start)


@pytest.mark.parametrize("codec", ["libx264", "mpeg4"])
def test_avi_whose_packets_carry_no_presentation_time_is_counted_from_decode_times(tmp_path: Path, codec: str) -> None:
    path = make_video(tmp_path / "camera.avi", seconds=2, fps=24, codec=codec, pattern="counter")
    # H.264 in AVI has no pts at all; MPEG-4 with B-frames in AVI has pts on only some packets.
    info = probe(path)
    assert (info.num_frames, info.fps, info.duration) == (48, 24.0, 2.0)
    (w0,) = windows(fit_clip(clip_of(path), WINDOW.model_copy(update={"max_windows": 1}), tmp_path / "fit"))
    assert frame_indices(Path(w0.video_path)) == list(range(23, 48))  # the last 25 frames, the closing one last


def test_edit_list_cut_counts_only_the_presented_frames(tmp_path: Path) -> None:
    src = make_video(tmp_path / "src.mp4", seconds=4, fps=24, pattern="counter")  # keyframes every 24 frames
    cut = cut_with_edit_list(src, tmp_path / "cut.mp4", start=1.5, seconds=1.5)
    packets = stream_info(cut)["streams"][0]["nb_frames"]
    assert int(packets) == 48  # the file holds 12 pre-roll packets back to the keyframe at 1 s
    info = probe(cut)
    assert (info.num_frames, info.duration, info.fps) == (36, 1.5, 24.0)
    (w0,) = windows(fit_clip(clip_of(cut), WINDOW, tmp_path / "fit"))
    assert (w0.source_start, w0.source_end) == (pytest.approx(1.5 - 25 / 24), 1.5)
    assert frame_indices(Path(w0.video_path)) == list(range(47, 72))  # source frames 36..71 are presented


def test_sparse_variable_rate_capture_ends_where_its_last_frame_ends(tmp_path: Path) -> None:
    starts = [0, 100, 200, 300, 1000, 1700, 2300, 3000, 3700, 4400]  # ms; median gap 700, last frame 100 ms
    path = make_sparse_vfr(tmp_path / "webcam.mp4", starts)
    times, end = presented_frames(path)
    assert times == [t / 1000 for t in starts] and end == pytest.approx(4.5)
    info = probe(path)
    assert info.vfr and info.num_frames == 10 and info.duration == pytest.approx(4.5)  # not 4.4 + 0.7
    out = windows(fit_clip(clip_of(path), WINDOW, tmp_path / "fit"))
    assert len(out) == 4  # floor(4.5 s x 24) = 108 frames: four windows of 25, none overrunning the end
    assert out[-1].source_end == pytest.approx(4.5)
    last = frame_indices(Path(out[-1].video_path))  # [3.458, 4.5) s shows frames 7 (from 3.0), 8 (3.7), 9 (4.4)
    assert len(last) == 25 and last[0] == 7 and last[-1] == 9 and last == sorted(last)


def test_sparse_variable_rate_closing_clip_is_fitted_for_extend(tmp_path: Path) -> None:
    from ltxcore.sample.closing import fit_closing

    path = make_sparse_vfr(tmp_path / "closing.mp4", [0, 100, 200, 300, 1000, 1700, 2300, 3000, 3700, 4400])
    closing = fit_closing(
        path, tmp_path / "fit", num_frames=25, fps=24, width=64, height=64, conditioning_frames=8, with_audio=False
    )
    assert closing.frames.shape == (25, 64, 64, 3)


def _white_box(frame: np.ndarray) -> tuple[int, int]:
    """Width and height in pixels of the white area of a (H, W) frame."""
    rows, cols = np.nonzero(frame > 128)
    return int(cols.max() - cols.min() + 1), int(rows.max() - rows.min() + 1)


@pytest.mark.parametrize(
    ("size", "sar", "display", "side"),
    [
        ((64, 64), "2/1", (128, 64), 32),  # wide pixels (anamorphic): shown 128x64, filled to 64 high
        ((96, 64), "1/2", (48, 64), 43),  # narrow pixels: shown 48x64, filled to 64 wide (x 4/3)
    ],
)
def test_non_square_pixels_are_filled_by_the_display_aspect(
    tmp_path: Path, size: tuple[int, int], sar: str, display: tuple[int, int], side: int
) -> None:
    path = make_video(tmp_path / "dv.mp4", seconds=1.5, fps=24, size=size, pattern="box", sar=sar)
    info = probe(path)
    assert (info.width, info.height) == display
    (w0,) = windows(fit_clip(clip_of(path), WINDOW, tmp_path / "fit"))
    assert stream_info(Path(w0.video_path))["streams"][0]["sample_aspect_ratio"] == "1:1"
    box_w, box_h = _white_box(gray_frames(Path(w0.video_path))[-1])
    assert abs(box_w - side) <= 1 and abs(box_h - side) <= 1  # a square stays a square
