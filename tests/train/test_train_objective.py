"""The suffix objective: sampler distribution, suffix masks and alignment, and that suffix tokens carry no loss."""

from __future__ import annotations

import math

import pytest
import torch

from ltxcore.model.forward import TextBatch, VideoGeometry, predict_velocity
from ltxcore.model.loader import load_components
from ltxcore.model.spec import ModelSpec
from ltxcore.train.adapters import attach_lora
from ltxcore.train.data import collate
from ltxcore.train.objective import masked_mse, noise_with_suffix, sample_sigmas, sampler_shift, video_suffix_mask
from ltxcore.train.rng import generator
from ltxcore.train.step import SuffixSplit, noise_batch
from ltxcore.train.synthetic import GlidingBlobs

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def text(tiny_text: TextBatch) -> TextBatch:
    return tiny_text


def _phi(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def _expected_below(threshold: float, num_tokens: int) -> float:
    """P(sigma < threshold) of the mixture: 90% rescaled shifted logit-normal, 10% U(1e-3, 1)."""
    mu = sampler_shift(num_tokens)
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    lo, hi = sig(mu - 2.5758293035489), sig(mu + 3.0902323061678)
    p = lo + threshold * (hi - lo)
    logit_normal = _phi(math.log(p / (1 - p)) - mu)
    return 0.9 * logit_normal + 0.1 * (threshold - 1e-3) / (1 - 1e-3)


def test_sampler_shift_follows_token_count():
    assert sampler_shift(1024) == pytest.approx(0.95)
    assert sampler_shift(6912) == pytest.approx(3.058, abs=1e-3)  # 768x768x89
    assert sampler_shift(6120) == pytest.approx(2.775, abs=1e-3)  # 960x544x89
    assert sampler_shift(93) == pytest.approx(0.617, abs=1e-3)  # 89 frames of audio


@pytest.mark.parametrize("tokens", [93, 1024, 6912])
def test_sampler_distribution_matches_its_cdf(tokens: int):
    sigmas = sample_sigmas(40_000, tokens, generator(0, "sampler", tokens))
    assert sigmas.min() >= 0 and sigmas.max() <= 1
    for threshold in (0.25, 0.5, 0.75):
        measured = (sigmas < threshold).float().mean().item()
        assert measured == pytest.approx(_expected_below(threshold, tokens), abs=0.01)


def test_more_tokens_means_noisier_sigmas():
    means = [sample_sigmas(20_000, n, generator(1, n)).mean().item() for n in (93, 1024, 6912)]
    print("mean sigma at 93 / 1024 / 6912 tokens:", [round(m, 3) for m in means])
    assert means[0] + 0.03 < means[1] and means[1] + 0.1 < means[2]


def test_suffix_tokens_are_clean_at_timestep_zero():
    x0 = torch.randn(2, 3 * 2 * 2, 128)  # [B, F*H*W, C]
    suffix = video_suffix_mask(3, 2, 2, 1)
    assert suffix.tolist() == [False] * 8 + [True] * 4  # the last latent frame's 4 tokens
    noised = noise_with_suffix(x0, suffix, torch.tensor([0.3, 0.9]), torch.randn_like(x0))
    assert torch.equal(noised.noisy[:, suffix], x0[:, suffix])
    assert torch.equal(noised.timestep[:, suffix], torch.zeros(2, 4))
    assert torch.allclose(noised.timestep[:, ~suffix], torch.tensor([[0.3] * 8, [0.9] * 8]))
    assert not noised.loss_mask[:, suffix].any() and noised.loss_mask[:, ~suffix].all()


def test_audio_and_video_draw_their_sigmas_independently(text):
    batch = collate([GlidingBlobs(2, text).load(i, with_audio=True) for i in range(2)])
    video, audio = noise_batch(batch, SuffixSplit(8, 24), generator(0, "noise", 0))
    assert not torch.equal(video.sigma, audio.sigma)
    assert audio.timestep.shape == (2, 26) and audio.loss_mask[:, -8:].sum() == 0  # round(25 * 8/24) = 8 clean steps


@pytest.mark.parametrize(("frames", "conditioning", "fps"), [(25, 8, 24), (89, 64, 24), (49, 16, 25), (33, 8, 30)])
def test_audio_suffix_covers_the_video_suffix_seconds(frames: int, conditioning: int, fps: float):
    """Both suffixes, placed by the transformer's own RoPE coordinates, cover the clip's closing seconds."""
    transformer = _transformer()
    lat, steps = (frames - 1) // 8 + 1, round(25 * frames / fps)
    plan = SuffixSplit(conditioning, fps)
    video_coords = transformer.rope.prepare_video_coords(1, lat, 1, 1, torch.device("cpu"), fps=fps)  # [1, 3, N, 2]
    audio_coords = transformer.audio_rope.prepare_audio_coords(1, steps, torch.device("cpu"))  # [1, 1, T, 2]
    video_start = video_coords[0, 0, plan.video_mask(lat, 1, 1), 0].min().item()  # seconds
    audio_mask = plan.audio_mask(steps)
    audio_start = audio_coords[0, 0, audio_mask, 0].min().item()
    clip_end = frames / fps
    print(f"{frames}f@{fps}: video suffix from {video_start:.3f}s, audio from {audio_start:.3f}s, end {clip_end:.3f}s")
    assert abs(audio_start - video_start) <= 0.04 + 1e-6  # within one audio step (40 ms)
    assert abs(video_start - (frames - conditioning) / fps) < 1e-6  # exactly the last `conditioning` pixel frames
    assert audio_mask.sum().item() == round(25 * conditioning / fps) and audio_mask[-1]


def _transformer() -> torch.nn.Module:
    return load_components(ModelSpec.parse("tiny"), {"transformer"}).transformer


def test_perturbing_a_suffix_target_changes_nothing(text):
    """Gradient check through the real tiny transformer with a LoRA: suffix targets have zero weight."""
    torch.manual_seed(0)
    model = _transformer()
    attach_lora(model, 4, ("to_q", "to_k", "to_v", "to_out.0"), seed=0)
    batch = collate([GlidingBlobs(1, text).load(0, with_audio=True)])
    video, audio = noise_batch(batch, SuffixSplit(8, 24), generator(0, "grad-check"))
    geometry = VideoGeometry(frames=4, height=4, width=4, fps=24)

    def loss_and_grads(video_target: torch.Tensor, audio_target: torch.Tensor):
        model.zero_grad(set_to_none=True)
        pred_v, pred_a = predict_velocity(
            model,
            video.noisy,
            video.timestep,
            video.sigma,
            text,
            geometry,
            audio=audio.noisy,
            audio_sigmas=audio.timestep,
            audio_sigma=audio.sigma,
        )
        loss = masked_mse(pred_v, video_target, video.loss_mask) + masked_mse(pred_a, audio_target, audio.loss_mask)
        loss.sum().backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        return loss.detach(), grads

    base_loss, base_grads = loss_and_grads(video.target, audio.target)
    v_suffix, a_suffix = ~video.loss_mask[0], ~audio.loss_mask[0]
    assert v_suffix.sum() == 16 and a_suffix.sum() == 8  # 1 latent frame of 4x4, 8 audio steps
    video_target, audio_target = video.target.clone(), audio.target.clone()
    video_target[:, v_suffix] += 1e3
    audio_target[:, a_suffix] = float("nan")
    loss, grads = loss_and_grads(video_target, audio_target)
    assert torch.equal(loss, base_loss)
    assert grads.keys() == base_grads.keys() and len(grads) > 0
    assert all(torch.equal(grads[n], base_grads[n]) for n in grads)
    # and a lead-in target does count
    video_target = video.target.clone()
    video_target[:, ~v_suffix] += 1.0
    assert not torch.equal(loss_and_grads(video_target, audio.target)[0], base_loss)
