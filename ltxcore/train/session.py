"""The state of one training run and the operations on it: a step, a validation, a checkpoint, a plot."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from ltxcore import geometry
from ltxcore.model.lora import TRAINING_TYPE, lora_config
from ltxcore.model.spec import ModelSpec
from ltxcore.store.atomic import atomic_write_text
from ltxcore.train.adapters import is_audio_module, lora_parameters, save_lora_file
from ltxcore.train.best import BestTracker, Score
from ltxcore.train.build import load_model, make_optimizer, speed_up
from ltxcore.train.checkpoint import TrainState, load_latest, save_checkpoint
from ltxcore.train.config import LoraRun, TrainConfig, TrainProgress, ValidationPoint
from ltxcore.train.data import ClipOrder, LatentSource, load_batch, split_holdout
from ltxcore.train.eta import RunClock
from ltxcore.train.files import RunFiles
from ltxcore.train.guards import audio_trend, check_finite, findings, grad_norms
from ltxcore.train.metrics import MetricsLog, peak_memory_mb, plot_losses
from ltxcore.train.prefetch import Prefetcher
from ltxcore.train.rng import capture_rng, generator, restore_rng
from ltxcore.train.schedule import lr_at, set_lr
from ltxcore.train.step import Prepared, SuffixSplit, batch_losses, prepare_batch, prepared_losses, tokens_in

if TYPE_CHECKING:
    from ltxcore.train.parallel import DataParallel

log = logging.getLogger(__name__)


@dataclass
class Session:
    cache: LatentSource
    config: TrainConfig
    files: RunFiles
    device: torch.device
    model: torch.nn.Module
    params: dict[str, torch.nn.Parameter]
    optimizer: torch.optim.Optimizer
    order: ClipOrder
    validation_clips: list[int]
    validation_split: str
    metrics: MetricsLog
    step: int = 0  # optimizer steps completed
    clock: RunClock | None = None  # what each part of the run costs, for the time left (set by `build`)
    parallel: DataParallel | None = None  # set when this process is one rank of a data-parallel run
    prefetch: bool = True  # prepare the next micro-batch on a background thread (changes no number)
    _prefetcher: Prefetcher[Prepared] | None = field(default=None, repr=False)
    best: BestTracker | None = None  # the best step by each score (rank 0 only)
    _warned: set[str] = field(default_factory=set, repr=False)  # guard findings already logged

    @classmethod
    def build(
        cls,
        cache: LatentSource,
        config: TrainConfig,
        files: RunFiles,
        *,
        spec: ModelSpec,
        device: torch.device,
        transformer: torch.nn.Module | None = None,
        parallel: DataParallel | None = None,
    ) -> Session:
        """Load the model with a fresh LoRA, then restore the newest whole checkpoint in `files` if there is one.

        `transformer` replaces the spec's weights with an already built one (the benchmarks' random full-size model).
        """
        if parallel is not None:
            parallel.check(config.grad_accum)
        model = load_model(spec, config, device, transformer)
        params = lora_parameters(model, config.with_audio)
        speed_up(model, cache, config, device, params)
        optimizer = make_optimizer(config, list(params.values()), device)
        train, held = split_holdout(len(cache), config.holdout_clips, config.seed)
        split = "holdout" if not set(held) & set(train) else "train"
        state = load_latest(files.checkpoints)
        if state is not None:
            _restore(state, config, params, optimizer)
            log.info("resuming from step %d of %d", state.step, config.steps)
        step = state.step if state is not None else 0
        session = cls(
            cache=cache,
            config=config,
            files=files,
            device=device,
            model=model,
            params=params,
            optimizer=optimizer,
            order=ClipOrder(train, config.batch_size, config.seed),
            validation_clips=held,
            validation_split=split,
            metrics=MetricsLog(files.metrics, resume_step=step if state else -1),
            step=step,
            clock=RunClock(config.steps, config.validate_every, config.checkpoint_every, config.preview_every, False),
            parallel=parallel,
        )
        if parallel is None or parallel.is_main:
            session.best = BestTracker(files.root, resume_step=step if state else -1)
        if step == 0:
            with session.clock.timing("validation"):  # also prices the validations to come before the first one
                session.validate(0)  # the base model's number, the baseline every later validation is read against
        return session

    @property
    def split(self) -> SuffixSplit:
        return SuffixSplit(self.config.conditioning_frames, self.config.frame_rate)

    def _autocast(self) -> contextlib.AbstractContextManager:
        # bf16 compute over bf16 base weights with fp32 LoRA weights and fp32 AdamW on CUDA; plain fp32 on the CPU.
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def train_step(self, step: int) -> TrainProgress:
        """One optimizer step (`grad_accum` micro-batches) at 0-based `step`; logs it and returns its event."""
        cfg = self.config
        start = time.perf_counter()
        lr = lr_at(
            step, peak=cfg.learning_rate, total=cfg.steps, warmup=cfg.warmup_steps, final_ratio=cfg.final_lr_ratio
        )
        set_lr(self.optimizer, lr)
        self.model.train()
        parts, tokens = self._accumulate_gradients(step)  # [grad_accum, 2] on the device
        audio_names = [n for n in self.params if is_audio_module(n)]
        modality_norms = grad_norms(
            [p for n, p in self.params.items() if n not in audio_names], [self.params[n] for n in audio_names]
        )  # [2] video, audio, before clipping
        grad_norm = torch.nn.utils.clip_grad_norm_(list(self.params.values()), cfg.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        # The step's one host-device sync: the losses and the gradient norms, fetched together after the update.
        *values, grad_video, grad_audio, norm = torch.cat(
            [parts.flatten(), modality_norms.to(parts), grad_norm.float().reshape(1).to(parts)]
        ).tolist()
        video, audio = 0.0, 0.0
        for v, a in zip(values[0::2], values[1::2], strict=True):  # Python floats, summed in micro-batch order
            video += v / cfg.grad_accum
            audio += a / cfg.grad_accum
        self.step = step + 1
        elapsed = time.perf_counter() - start
        event = TrainProgress(
            step=self.step,
            total=cfg.steps,
            loss=video + (audio if cfg.with_audio else 0.0),
            loss_video=video,
            loss_audio=audio if cfg.with_audio else None,
            lr=lr,
            step_time_s=elapsed,
            tokens_per_s=tokens / elapsed,
            # before this step's validation; the loop updates it after
            eta_s=self.clock.remaining(self.step) if self.clock is not None else 0.0,
        )
        grads = {"grad_norm_video": grad_video, **({"grad_norm_audio": grad_audio} if cfg.with_audio else {})}
        self.metrics.write(
            {
                "kind": "step",
                **event.model_dump(exclude={"val_loss", "total"}),
                "grad_norm": norm,
                **grads,
                **peak_memory_mb(self.device),
            }
        )
        clips = [i for m in self._micro_batches(step) for i in self.order.micro_batch(m)]
        check_finite(
            self.step,
            {"video": video, "audio": event.loss_audio},
            {k.removeprefix("grad_norm_"): v for k, v in grads.items()},
            clips,
        )
        if cfg.with_audio and grad_audio == 0.0:
            self._warn_once(
                "zero_audio_grad",
                f"audio gradients are zero at step {self.step}: the audio adapters "
                "are not learning (frozen or disconnected audio branch)",
            )
        if not math.isfinite(event.loss):
            raise FloatingPointError(f"training loss became {event.loss} at step {self.step}")
        return event

    def _accumulate_gradients(self, step: int) -> tuple[torch.Tensor, int]:
        """Backward over the step's micro-batches (this rank's share of them in a data-parallel run, then the summed
        gradients of all ranks); returns each micro-batch's mean video and audio loss [grad_accum, 2], detached and
        still on the device (no sync here), and the tokens the step saw."""
        cfg = self.config
        mine = self._micro_batches(step)
        following = self._micro_batches(step + 1)[:1] if step + 1 < cfg.steps else []
        ahead = [*mine[1:], *following, None]
        rows, tokens = [], 0
        for micro, next_micro in zip(mine, ahead, strict=False):
            prepared = self._prefetch().get(micro, next_micro)
            with self._autocast():
                losses = prepared_losses(self.model, prepared, self.split, self.device)
            (losses.total.mean() / cfg.grad_accum).backward()  # video + audio summed per sample, mean over the batch
            video = losses.video.mean()
            audio = torch.zeros_like(video) if losses.audio is None else losses.audio.mean()
            rows.append(torch.stack([video, audio]).detach())  # [2]
            tokens += tokens_in(prepared.batch)
        parts = torch.stack(rows)  # [micro-batches here, 2]
        if self.parallel is not None:
            self.parallel.reduce_gradients(self.params.values())
            parts = self.parallel.gather_losses(parts)  # [grad_accum, 2]
            tokens *= self.parallel.world  # every clip is fitted to one bucket, so every rank saw as many tokens
        return parts, tokens

    def _micro_batches(self, step: int) -> list[int]:
        """The global indices of this rank's micro-batches at `step`; an index fixes its clips, sigmas and noise."""
        accum = self.config.grad_accum
        ks = range(accum) if self.parallel is None else self.parallel.micro_batches(accum)
        return [step * accum + k for k in ks]

    def _prepare(self, micro: int) -> Prepared:
        batch = load_batch(self.cache, self.order.micro_batch(micro), with_audio=self.config.with_audio)
        prepared = prepare_batch(batch, self.split, generator(self.config.seed, "noise", micro))
        return prepared.pinned() if self.device.type == "cuda" else prepared

    def _prefetch(self) -> Prefetcher[Prepared]:
        if self._prefetcher is None:
            self._prefetcher = Prefetcher(self._prepare, enabled=self.prefetch)
        return self._prefetcher

    def close(self) -> None:
        """Stop the prefetch thread (a micro-batch prepared for a step that will not run is dropped)."""
        if self._prefetcher is not None:
            self._prefetcher.close()
            self._prefetcher = None

    @torch.no_grad()
    def validate(self, step: int) -> ValidationPoint:
        """Mean loss over the validation clips x the fixed sigmas, each with fixed noise: comparable across steps."""
        self.model.eval()
        video, audio, n = 0.0, 0.0, 0
        for k, index in enumerate(self.validation_clips):
            batch = load_batch(self.cache, [index], with_audio=self.config.with_audio)
            for j, sigma in enumerate(self.config.validation_sigmas):
                with self._autocast():
                    losses = batch_losses(
                        self.model,
                        batch,
                        self.split,
                        generator(self.config.seed, "val", k, j),
                        self.device,
                        sigma=sigma,
                    )
                video += losses.video.item()
                audio += 0.0 if losses.audio is None else losses.audio.item()
                n += 1
        a = audio / n if self.config.with_audio else None
        point = ValidationPoint(
            step=step, loss=video / n + (a or 0.0), loss_video=video / n, loss_audio=a, split=self.validation_split
        )
        self.metrics.write({"kind": "validation", **point.model_dump()})
        if self.config.with_audio and (trend := audio_trend(self.metrics.of_kind("validation"))):
            self._warn_once("audio_trend", trend)
        return point

    def _warn_once(self, kind: str, message: str) -> None:
        if kind not in self._warned:
            self._warned.add(kind)
            log.warning(message)

    def checkpoint(self, step: int) -> None:
        if self.parallel is not None and not self.parallel.is_main:
            return  # rank 0 holds the same state and writes it
        state = TrainState(
            step=step,
            lora={n: p.detach().cpu().clone() for n, p in self.params.items()},
            optimizer=self.optimizer.state_dict(),
            rng=capture_rng(),
            config=self.config.model_dump(mode="json"),
        )
        save_checkpoint(self.files.checkpoints, state, keep=self.config.keep_checkpoints)

    def plot(self) -> None:
        plot_losses(self.metrics, self.files.plot, title=f"suffix LoRA r{self.config.rank}, step {self.step}")

    def validation_points(self) -> list[ValidationPoint]:
        return [
            ValidationPoint.model_validate({k: v for k, v in r.items() if k != "kind"})
            for r in self.metrics.of_kind("validation")
        ]

    def offer_best(self, score: Score, step: int, value: float) -> None:
        """Score the live adapter at `step`; the best by each score so far is written as its own LoRA file."""
        if self.best is not None:
            self.best.offer(
                score, step, value, lambda path, at: save_lora_file(path, self.model, self.params, self._metadata(at))
            )

    def _metadata(self, step: int) -> dict[str, object]:
        cfg = self.config
        return {
            "training_type": TRAINING_TYPE,
            "base_model": cfg.base_model,
            "rank": cfg.rank,
            "alpha": cfg.rank,
            "target_modules": list(cfg.target_modules),
            "trigger_phrase": cfg.trigger_phrase,
            "steps": step,
            "conditioning_frames": cfg.conditioning_frames,
            "with_audio": cfg.with_audio,
        }

    def manifest(self, *, finished: bool, lora_path: str | None = None, config_path: str | None = None) -> LoraRun:
        last = self.metrics.of_kind("step")[-20:]
        mean = (lambda key: sum(r[key] for r in last) / len(last)) if last else (lambda key: None)
        return LoraRun(
            lora_path=lora_path,
            config_path=config_path,
            metrics_path=str(self.files.metrics),
            plot_path=str(self.files.plot),
            steps_done=self.step,
            steps_total=self.config.steps,
            finished=finished,
            final_loss=mean("loss"),
            final_loss_video=mean("loss_video"),
            final_loss_audio=mean("loss_audio") if self.config.with_audio and last else None,
            validation=self.validation_points(),
            best=list(self.best.picks.values()) if self.best is not None else [],
            guard_findings=findings(
                self.metrics.of_kind("step"), self.metrics.of_kind("validation"), self.config.with_audio
            ),
        )

    def finish(self) -> LoraRun:
        """Write the LoRA (bf16, `diffusion_model.` keys, metadata), the config file and the final plot."""
        cfg = self.config
        _, frames, height, width = self.cache.load(0, with_audio=False).video.shape  # [128, F', H', W']
        config = lora_config(
            trigger_phrase=cfg.trigger_phrase,
            rank=cfg.rank,
            targets=cfg.target_modules,
            conditioning_frames=cfg.conditioning_frames,
            num_frames=geometry.pixel_frames(frames),
            frame_rate=cfg.frame_rate,
            width=width * geometry.VAE_SPATIAL,
            height=height * geometry.VAE_SPATIAL,
            with_audio=cfg.with_audio,
            base_model=cfg.base_model,
        )
        config["steps"] = self.step
        config["validation"] = [p.model_dump() for p in self.validation_points()]
        config["training"] = cfg.model_dump(mode="json")
        config["best"] = self.best.summary() if self.best is not None else {}  # {score: {step, value}}
        assert config["training_type"] == TRAINING_TYPE, "the LoRA config and the file metadata name one type"
        save_lora_file(self.files.lora, self.model, self.params, self._metadata(self.step))
        atomic_write_text(self.files.config, json.dumps(config, indent=2))
        self.plot()
        return self.manifest(finished=True, lora_path=str(self.files.lora), config_path=str(self.files.config))


def _restore(
    state: TrainState, config: TrainConfig, params: dict[str, torch.nn.Parameter], optimizer: torch.optim.Optimizer
) -> None:
    if state.config != config.model_dump(mode="json"):
        raise ValueError("the checkpoints in this output directory belong to a different training config")
    assert state.lora.keys() == params.keys(), "checkpoint adapters do not match the model's"
    with torch.no_grad():
        for name, param in params.items():
            param.copy_(state.lora[name])
    optimizer.load_state_dict(state.optimizer)
    restore_rng(state.rng)
