"""How the `toy` preset's weights are made: the video VAE and the text-to-video transformer, on the toy world.

    python -m ltxcore.train.toy_preset vae --out DIR [--steps N --crop-steps N --image-steps N] [--vae W --resume]
    python -m ltxcore.train.toy_preset transformer --out DIR --vae DIR/vae.safetensors [--steps N] [--transformer W]

Both run on 2 CPU cores; `ltxcore/model/toy_weights/training.json` records the runs that made the shipped weights.
The transformer is pretrained as a plain text-to-video generator of the world through the product's own parts: the
toy directory is built with the trained VAE, loaded by the one loader, clips are encoded by `encode_video` and
captions by `encode_prompts`, and the velocity comes from `predict_velocity` with every token at the sample's sigma,
except that half the batches keep the first latent frame clean (FIRST_FRAME_CLEAN). The base never sees a clean
ending, so the LoRA has a real job. Clips are 49 frames (7
latent frames) from random states; a batch trains on a prefix of 4 to 7 latent frames, which by the encoder's
causality is exactly the encoding of the first 25 to 49 frames.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ltxcore.media import world
from ltxcore.train.toy_vae import train_vae

CLIP_FRAMES = 49
DROP_CAPTION = 0.1  # the share of clips trained on the negative prompt: CFG then has an unconditional to push from
# The share of batches whose first latent frame stays clean (timestep 0, no loss), as LTX-2 is pretrained for
# image-to-video: the base learns to read clean tokens at timestep 0 (an adaptation LoRA's attention-only targets
# could not make), but only a clean FIRST frame, forward in time; leading backward into a clean ending stays the
# LoRA's job.
FIRST_FRAME_CLEAN = 0.5


@torch.no_grad()
def latent_statistics(vae: torch.nn.Module, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std [128] of the posterior means of `clips` [B, 3, F, H, W]; a channel the encoder leaves
    nearly constant gets a floor on its std (a twentieth of the largest), so normalising cannot blow up its noise."""
    z = torch.cat([vae.encode(c[None]).latent_dist.mode() for c in clips])  # [B, 128, F', h, w]
    flat = z.transpose(0, 1).flatten(1)  # [128, B*F'*h*w]
    mean, std = flat.mean(dim=1), flat.std(dim=1)  # [128] each
    return mean, std.clamp_min(std.max().item() / 20)


def train_transformer(
    out: Path,
    vae_state: dict[str, torch.Tensor],
    steps: int,
    batch: int,
    lr: float,
    seed: int,
    clips: int = 400,
    start: dict[str, torch.Tensor] | None = None,
) -> dict:
    from diffusers import AutoencoderKLLTX2Video

    from ltxcore.model.encode import encode_video
    from ltxcore.model.forward import VideoGeometry, pack_video, predict_velocity
    from ltxcore.model.loader import load_components
    from ltxcore.model.spec import ModelSpec
    from ltxcore.model.text import encode_prompts
    from ltxcore.model.toy import VIDEO_VAE, build_toy
    from ltxcore.prompts import DEFAULT_NEGATIVE_PROMPT
    from ltxcore.train.objective import sample_sigmas
    from ltxcore.train.toy_vae import to_pixels

    torch.manual_seed(seed)
    rng = random.Random(seed)
    # 1. The VAE's latent statistics, measured on world clips, travel inside its state dict.
    vae = AutoencoderKLLTX2Video(**VIDEO_VAE)
    vae.load_state_dict(vae_state)
    stat_clips = to_pixels(
        np.stack([world.render_frames(world.states(world.random_square(rng), 25)) for _ in range(16)])
    )
    mean, std = latent_statistics(vae.eval(), stat_clips)
    vae_state = dict(vae_state, latents_mean=mean, latents_std=std)

    # 2. The toy directory with this VAE and a random transformer, loaded by the product's loader.
    root = Path(tempfile.mkdtemp(prefix="toy-pretrain-"))
    build_toy(root, {"vae": vae_state})
    parts = {"transformer", "vae", "text_encoder", "tokenizer", "connectors"}
    components = load_components(ModelSpec(source=str(root)), parts)
    transformer = components.transformer.train().requires_grad_(True)
    if start is not None:
        transformer.load_state_dict({k: v.float() for k, v in start.items()})

    # 3. The data: clips encoded once; captions encoded once (six colours and the negative prompt).
    start = time.time()
    squares = [world.random_square(rng) for _ in range(clips)]
    latents = torch.stack(
        [encode_video(components, world.render_frames(world.states(s, CLIP_FRAMES))) for s in squares]
    )  # [clips, 128, 7, 4, 4]
    print(f"encoded {clips} clips in {time.time() - start:.0f} s; latent std {latents.std().item():.3f}", flush=True)
    names = [*world.COLOURS, None]
    text = encode_prompts(components, [world.caption(c) if c else DEFAULT_NEGATIVE_PROMPT for c in names])
    colour_index = torch.tensor([names.index(s.colour) for s in squares])  # [clips]
    negative = len(names) - 1

    # 4. Flow matching at the sample's sigma; the loss leaves out a clean first frame.
    opt = torch.optim.AdamW(transformer.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    gen = torch.Generator().manual_seed(seed)
    log: dict = {"seed": seed, "steps": steps, "batch": batch, "lr": lr, "clips": clips, "loss": []}
    for step in range(1, steps + 1):
        frames = rng.randint(4, 7)
        pick = torch.randint(0, clips, (batch,), generator=gen)  # [B]
        x0 = pack_video(latents[pick, :, :frames])  # [B, frames*16, 128]
        b, n, _ = x0.shape
        sigma = sample_sigmas(b, n, gen)  # [B]
        noise = torch.randn(x0.shape, generator=gen)  # [B, N, 128]
        s = sigma[:, None, None]
        noisy = (1 - s) * x0 + s * noise  # [B, N, 128]
        timestep = sigma[:, None].expand(b, n)  # [B, N]
        generated = torch.ones(b, n, dtype=torch.bool)  # [B, N]
        if rng.random() < FIRST_FRAME_CLEAN:
            generated[:, : n // frames] = False  # the first latent frame's tokens
            noisy = torch.where(generated[..., None], noisy, x0)
            timestep = timestep * generated
        which = torch.where(torch.rand(b, generator=gen) < DROP_CAPTION, negative, colour_index[pick])  # [B]
        batch_text = type(text)(video=text.video[which], audio=text.audio[which], mask=text.mask[which])
        geometry = VideoGeometry(frames=frames, height=latents.shape[3], width=latents.shape[4], fps=world.FPS)
        pred, _ = predict_velocity(transformer, noisy, timestep, sigma, batch_text, geometry)
        loss = (pred - (noise - x0))[generated].square().mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(transformer.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        log["loss"].append(round(loss.item(), 6))
        if step % 100 == 0 or step == steps:
            recent = float(np.mean(log["loss"][-100:]))
            print(f"transformer step {step}/{steps} loss {recent:.4f} ({time.time() - start:.0f} s)", flush=True)
            save(out, vae_state, transformer.state_dict(), log)
    return log


def save(out: Path, vae_state: dict, transformer_state: dict, log: dict) -> None:
    """The shipped form: float16 safetensors of the two trained parts, and the training log."""
    save_file({k: v.detach().half().contiguous() for k, v in vae_state.items()}, str(out / "vae.safetensors"))
    save_file(
        {k: v.detach().half().contiguous() for k, v in transformer_state.items()}, str(out / "transformer.safetensors")
    )
    (out / "transformer.json").write_text(json.dumps(log))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["vae", "transformer"])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="vae: with --vae, train the whole VAE on from there")
    parser.add_argument("--crop-steps", type=int, default=0, help="vae: steps on 64x64 windows over the square first")
    parser.add_argument("--image-steps", type=int, default=0, help="vae: then steps on whole single frames")
    parser.add_argument("--clip-frames", type=int, default=25, help="vae: frames per training clip (8k+1)")
    parser.add_argument("--vae", type=Path, help="vae: train its decoder alone; transformer: the VAE to use")
    parser.add_argument("--transformer", type=Path, help="transformer: start from these weights")
    args = parser.parse_args()
    torch.set_num_threads(2)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.part == "vae":
        train_vae(
            args.out,
            args.steps,
            args.batch,
            args.lr,
            args.seed,
            args.vae,
            args.image_steps,
            args.crop_steps,
            decoder_only=not args.resume,
            clip_frames=args.clip_frames,
        )
    else:
        start = load_file(str(args.transformer)) if args.transformer else None
        vae = {k: v.float() for k, v in load_file(str(args.vae)).items()}
        train_transformer(args.out, vae, args.steps, args.batch, args.lr, args.seed, start=start)


if __name__ == "__main__":
    main()
