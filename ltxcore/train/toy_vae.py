"""Training the toy preset's video VAE on the toy world (run through `python -m ltxcore.train.toy_preset vae`).

The VAE trains on whole 128x128 frames (crops teach a decoder nothing about the cells that hold no square), after a
curriculum (windows over the square, whole single frames, then clips of
`clip_frames` frames); its held-out PSNR is measured on clips of 25 frames.
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ltxcore.media import world
from ltxcore.model.encoder_inputs import frames_to_tensor, tensor_to_frames

# Clips of 25 frames (4 latent frames): the decoder is not causal, so a latent frame decodes differently with a
# latent frame after it; trained only on 9-frame clips (the last latent frame always at the end), it loses the square
# in the middle of longer clips.
VAE_FRAMES = 25
SQUARE_WEIGHT = 10.0  # the square is 1.6% of a frame: weigh its pixels up so the decoder does not settle for grey
# Noise added to the encoder's mean in training, relative to the latents' spread (which starts near zero): the decoder
# must tolerate imperfect latents, as the transformer makes them.
LATENT_NOISE = 0.1


def to_pixels(frames: np.ndarray) -> torch.Tensor:
    """uint8 [B, F, H, W, 3] -> float [B, 3, F, H, W] in [-1, 1]."""
    return torch.stack([frames_to_tensor(clip) for clip in frames])


def world_clips(rng: random.Random, count: int, frames: int) -> np.ndarray:
    """uint8 [count, frames, 128, 128, 3]: clips from random states."""
    return np.stack([world.render_frames(world.states(world.random_square(rng), frames)) for _ in range(count)])


def square_crops(rng: random.Random, count: int) -> np.ndarray:
    """uint8 [count, 1, 64, 64, 3]: single frames cut to a 64x64 window (on the 32 px latent grid) over the square."""
    out = []
    for _ in range(count):
        square = world.random_square(rng)
        cx, cy = square.centre
        x0 = min(max(0, 32 * round((cx - 32) / 32)), world.SIZE - 64)
        y0 = min(max(0, 32 * round((cy - 32) / 32)), world.SIZE - 64)
        out.append(world.render_frames([square])[:, y0 : y0 + 64, x0 : x0 + 64])
    return np.stack(out)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two [-1, 1] tensors, on the 0..1 scale."""
    mse = ((a.clamp(-1, 1) - b) / 2).square().mean().item()
    return 10 * math.log10(1.0 / max(mse, 1e-12))


def vae_config() -> dict:
    from ltxcore.model.toy import VIDEO_VAE

    return VIDEO_VAE


@torch.no_grad()
def held_out_scores(vae: torch.nn.Module, clips: torch.Tensor) -> tuple[float, float]:
    """Mean PSNR (dB) of whole 128x128 clips [B, 3, F, H, W] through the encoder's mean and the decoder, and the mean
    distance (px) between the square tracked in the reconstruction and in the clip, a frame with none counting
    MISSING_PX: the learning metric's floor, which PSNR alone hides (a faint smear along the path scores well)."""
    vae.eval()
    values, errors = [], []
    for clip in clips:
        z = vae.encode(clip[None]).latent_dist.mode()  # [1, 128, F', 4, 4]
        y = vae.decode(z, return_dict=False)[0]  # [1, 3, F, H, W]
        values.append(psnr(y, clip[None]))
        seen = world.track(tensor_to_frames(y[0]))  # [F, 2]
        truth = world.track(tensor_to_frames(clip))  # [F, 2]
        errors.append(np.nan_to_num(np.linalg.norm(seen - truth, axis=1), nan=world.MISSING_PX).mean())
    vae.train()
    return float(np.mean(values)), float(np.mean(errors))


def train_vae(
    out: Path,
    steps: int,
    batch: int,
    lr: float,
    seed: int,
    start: Path | None = None,
    image_steps: int = 0,
    crop_steps: int = 0,
    decoder_only: bool = True,
    clip_frames: int = VAE_FRAMES,
) -> dict:
    """Train the whole VAE, or with `start` (an earlier run's weights) the decoder alone: the encoder, and so the
    latent space the transformer is trained in, stays as it was. A curriculum, because the encoder's output hardly
    depends on its input at initialisation and a square that is 1.6% of a frame gives it little to go on: the first
    `crop_steps` train on 64x64 windows over the square (four times the batch), the next `image_steps` on whole
    single frames (twice the batch: the cells without a square), the rest on 9-frame clips (motion)."""
    from diffusers import AutoencoderKLLTX2Video

    torch.manual_seed(seed)
    rng = random.Random(seed)
    vae = AutoencoderKLLTX2Video(**vae_config())
    params = list(vae.parameters())
    if start is not None:
        vae.load_state_dict(load_file(str(start)))
    if start is not None and decoder_only:
        vae.encoder.requires_grad_(False)
        params = list(vae.decoder.parameters())
    held_out = to_pixels(world_clips(random.Random(seed + 1), 4, 25))  # [4, 3, 25, 128, 128]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    log: dict = {"seed": seed, "steps": steps, "crop_steps": crop_steps, "image_steps": image_steps}
    log |= {"clip_frames": clip_frames}
    log |= {"batch": batch, "lr": lr}
    log |= {"loss": [], "psnr": [], "track_error_px": []}
    background = torch.tensor(world.BACKGROUND).view(1, 3, 1, 1, 1) / 127.5 - 1
    began = time.time()
    for step in range(1, steps + 1):
        if step <= crop_steps:
            x = to_pixels(square_crops(rng, 4 * batch))  # [4B, 3, 1, 64, 64]
        elif step <= crop_steps + image_steps:
            x = to_pixels(world_clips(rng, 2 * batch, 1))  # [2B, 3, 1, 128, 128]
        else:
            x = to_pixels(world_clips(rng, batch, clip_frames))  # [B, 3, F, 128, 128]
        with torch.set_grad_enabled(not (start is not None and decoder_only)):
            mean = vae.encode(x).latent_dist.mode()  # [B, 128, F', 4, 4]
        z = mean + LATENT_NOISE * mean.detach().std() * torch.randn_like(mean)
        y = vae.decode(z, return_dict=False)[0]  # [B, 3, F, H, W]
        square = ((x - background).abs().amax(dim=1, keepdim=True) > 0.2).float()  # [B, 1, F, H, W]
        weight = 1.0 + SQUARE_WEIGHT * square
        loss = (weight * (y - x).square()).mean() + 1e-3 * mean.square().mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        log["loss"].append(round(loss.item(), 6))
        if step % 250 == 0 or step == steps:
            value, error = held_out_scores(vae, held_out)
            log["psnr"].append([step, round(value, 3)])
            log["track_error_px"].append([step, round(error, 2)])
            print(
                f"vae step {step}/{steps} loss {loss.item():.5f} held-out PSNR {value:.2f} dB, "
                f"square tracked {error:.1f} px off ({time.time() - began:.0f} s)",
                flush=True,
            )
            save_file(vae.state_dict(), str(out / "vae.safetensors"))
            (out / "vae.json").write_text(json.dumps(log))
    return log
