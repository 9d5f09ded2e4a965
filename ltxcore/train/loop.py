"""`train_lora`: the training stage. Loads the transformer, attaches a LoRA, trains it on the latent cache with the
suffix objective, checkpoints and resumes exactly, reports as it goes, and writes the LoRA and its config.

Resume is exact because a step's inputs are a pure function of (seed, step) (see `rng` and `data`), the LR is a pure
function of the step (`schedule`), and the checkpoint holds the rest of the state: LoRA weights, AdamW moments and
step counts, and the process RNG states. Restarting on the same `out_dir` continues from the newest whole checkpoint.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ltxcore.manifests import LatentCache
from ltxcore.model.spec import ModelSpec
from ltxcore.store.stage import stage_lock
from ltxcore.train.config import LoraRun, TrainConfig, TrainProgress
from ltxcore.train.data import LatentSource, as_source
from ltxcore.train.files import RunFiles
from ltxcore.train.session import Session

if TYPE_CHECKING:
    from ltxcore.train.parallel import DataParallel

log = logging.getLogger(__name__)


class TrainingInterrupted(Exception):
    """SIGTERM or SIGINT arrived; a checkpoint of `step` was written and the next run resumes from it."""

    def __init__(self, step: int, signum: int):
        super().__init__(f"training stopped by {signal.Signals(signum).name} after step {step}; checkpoint written")
        self.step = step
        self.signum = signum

    def __reduce__(self):  # picklable, so Prefect can persist the failed state that carries it
        return (type(self), (self.step, self.signum))


def train_lora(
    cache: LatentCache | LatentSource,
    config: TrainConfig,
    out_dir: Path,
    *,
    spec: ModelSpec,
    device: str | torch.device,
    progress: Callable[[TrainProgress], None] | None = None,
    stop_after: int | None = None,
    preview: Callable[[int, torch.nn.Module], float | None] | None = None,
    parallel: DataParallel | None = None,
) -> LoraRun:
    """Train (or resume training) a suffix LoRA into `out_dir`; see the module docstring.

    `stop_after=k` checkpoints after step k and returns an unfinished `LoraRun` (tests use it to interrupt).
    `preview(step, model)` is called every `config.preview_every` steps (not at the last one, whose outputs the caller
    renders from the finished LoRA) with the live, adapted transformer, so a user can watch the LoRA learn. It must not
    draw from the global RNGs; the sampler uses its own seeded generators. What it returns is the preview's seam score
    (lower is better, see `ltxcore.train.best`), or None; each held-out validation is scored likewise, and the best
    step by each score is kept as its own LoRA file.
    `parallel` makes this process one rank of a data-parallel run (see `ltxcore.train.parallel`).
    """
    if isinstance(cache, LatentCache) and (cache.conditioning_frames, cache.fps) != (
        config.conditioning_frames,
        config.frame_rate,
    ):
        raise ValueError(
            f"the latent cache was cut for a {cache.conditioning_frames}-frame suffix at {cache.fps} fps, "
            f"the config asks for {config.conditioning_frames} at {config.frame_rate}"
        )
    files = RunFiles.under(Path(out_dir))
    if parallel is not None:
        files = parallel.files(files)
    # One trainer per run directory: a second identical run waits, then resumes from the first one's last checkpoint.
    # (The ranks of a data-parallel run share the directory on purpose and coordinate through their process group.)
    with stage_lock(Path(out_dir)) if parallel is None else contextlib.nullcontext():
        session = Session.build(
            as_source(cache), config, files, spec=spec, device=torch.device(device), parallel=parallel
        )
        try:
            return _loop(session, config, progress, stop_after, preview)
        finally:
            session.close()


def _loop(
    session: Session,
    config: TrainConfig,
    progress: Callable[[TrainProgress], None] | None,
    stop_after: int | None,
    preview: Callable[[int, torch.nn.Module], float | None] | None,
) -> LoraRun:
    clock = session.clock
    assert clock is not None, "Session.build sets the clock"
    clock.previews = preview is not None
    clock.start()
    with _stop_signals() as received:
        for step in range(session.step, config.steps):
            event = session.train_step(step)
            done = step + 1
            if done % config.validate_every == 0 or done == config.steps:
                with clock.timing("validation"):
                    event = event.model_copy(update={"val_loss": session.validate(done).loss})
                session.offer_best("held_out_loss", done, event.val_loss)
            if progress is not None:
                progress(
                    event.model_copy(update={"eta_s": clock.remaining(done), "eta_complete": clock.complete(done)})
                )
            every = config.preview_every
            if preview is not None and every and done % every == 0 and done < config.steps:
                with torch.no_grad(), clock.timing("preview"):
                    seam = preview(done, session.model)
                if seam is not None:
                    session.offer_best("seam", done, seam)
            if _end_of_step(session, done, received, stop_after):
                return session.manifest(finished=False)
            clock.lap()
    return session.finish()


def _end_of_step(session: Session, done: int, received: list[int], stop_after: int | None) -> bool:
    """Checkpoint and plot when due; True when the run stops here (`stop_after`); raise on a signal."""
    cfg = session.config
    stopping = bool(received) or done == stop_after
    if stopping or done % cfg.checkpoint_every == 0 or done == cfg.steps:
        assert session.clock is not None
        with session.clock.timing("checkpoint"):
            session.checkpoint(done)
    if stopping or done % cfg.plot_every == 0:
        session.plot()
    if received:
        log.warning("stopping on %s after step %d; checkpoint written", signal.Signals(received[0]).name, done)
        raise TrainingInterrupted(done, received[0])
    return stopping


@contextlib.contextmanager
def _stop_signals() -> Iterator[list[int]]:
    """Collect SIGTERM/SIGINT into a list instead of dying mid-step; the loop checkpoints and stops at the step's end.

    Handlers can only be installed from the main thread; elsewhere (a Prefect task's worker thread) the process keeps
    its own handling and the periodic checkpoints are what a restart resumes from.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    for s in previous:
        signal.signal(s, lambda signum, _frame: received.append(signum))
    try:
        yield received
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
