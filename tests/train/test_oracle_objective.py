"""Sign oracles for training: the target is noise - x0, consistent with the noised input, and a model that predicts
the exact velocity (the stand-in in tests/support/oracle_standin.py, the sampler's own convention) has zero loss."""

from __future__ import annotations

import torch

from ltxcore.model.forward import TextBatch, pack_audio, pack_video
from ltxcore.train.data import Batch
from ltxcore.train.objective import noise_with_suffix, video_suffix_mask
from ltxcore.train.rng import generator
from ltxcore.train.step import SuffixSplit, batch_losses, prepare_batch
from tests.support.oracle_standin import ExactVelocity, Targets


def _batch() -> Batch:
    gen = torch.Generator().manual_seed(0)
    text = TextBatch(
        video=torch.randn(2, 8, 32, generator=gen),
        audio=torch.randn(2, 8, 16, generator=gen),
        mask=torch.ones(2, 8, dtype=torch.int64),
    )
    return Batch(
        clip_ids=["a", "b"],
        video=torch.randn(2, 128, 3, 2, 2, generator=gen) * 2 + 1,
        audio=torch.randn(2, 8, 13, 16, generator=gen) * 2 - 1,
        text=text,
    )


def test_the_training_target_is_noise_minus_x0_and_consistent_with_the_noised_input() -> None:
    gen = torch.Generator().manual_seed(1)
    x0 = torch.randn(2, 12, 128, generator=gen)  # [B, N, C]
    noise = torch.randn(2, 12, 128, generator=gen)
    sigma = torch.tensor([0.25, 0.8])
    suffix = video_suffix_mask(3, 2, 2, 1)
    noised = noise_with_suffix(x0, suffix, sigma, noise)
    assert torch.equal(noised.target, noise - x0)
    lead = ~suffix
    # noisy = x0 + sigma * target on every noised token: the target is the velocity of the very path trained on.
    err = (noised.noisy - x0 - sigma[:, None, None] * noised.target)[:, lead].abs().max()
    assert float(err) < 1e-6
    # Through the step's own noising (seeded draws): the same relation per modality, per sample.
    prepared = prepare_batch(_batch(), SuffixSplit(8, 24), generator(0, "oracle"))
    for n, x in ((prepared.video, pack_video(_batch().video)), (prepared.audio, pack_audio(_batch().audio))):
        gap = n.noisy - x - n.timestep[..., None] * n.target  # [B, N, C]; 0 where clean (timestep 0, noisy = x0)
        assert float(gap.abs().max()) < 1e-5


def test_a_model_predicting_the_exact_velocity_has_zero_loss_and_the_opposite_sign_does_not() -> None:
    batch = _batch()
    x0_v, x0_a = pack_video(batch.video), pack_audio(batch.audio)  # [B, Nv, 128], [B, Na, 128]

    def loss(flip: float) -> tuple[float, float]:
        model = ExactVelocity(Targets(cond=x0_v), Targets(cond=x0_a), flip=flip)
        losses = batch_losses(model, batch, SuffixSplit(8, 24), generator(0, "oracle"), torch.device("cpu"))  # [B]
        return float(losses.video.max()), float(losses.audio.max())

    exact_v, exact_a = loss(1.0)
    flipped_v, flipped_a = loss(-1.0)
    print(f"exact velocity loss {exact_v:.2e} / {exact_a:.2e}; opposite sign {flipped_v:.2f} / {flipped_a:.2f}")
    assert exact_v < 1e-9 and exact_a < 1e-9
    assert flipped_v > 1.0 and flipped_a > 1.0
