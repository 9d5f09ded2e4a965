"""Inputs for the encoders: video frames read from mp4 as the VAE takes them, and the log-mel spectrogram the audio VAE
takes.

Mel settings are LTX-2's (official `audio_vae/ops.py`, diffusers audio VAE config): 16 kHz stereo, n_fft 1024 with a
1024 Hann window, hop 160, centred with reflect padding, magnitude, 64 Slaney mels over 0-8 kHz with Slaney area
normalisation, then log(max(x, 1e-5)). 100 mel frames per second; the audio VAE turns 4 of them into one latent step.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import torch

from ltxcore.geometry import AUDIO_SAMPLE_RATE

N_FFT = 1024
HOP = 160
N_MELS = 64


def read_video_frames(path: str | Path) -> np.ndarray:
    """All frames of a video as uint8 [F, H, W, 3] RGB."""
    import av

    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    if not frames:
        raise ValueError(f"{path}: no video frames")
    return np.stack(frames)  # [F, H, W, 3]


def frames_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 [F, H, W, 3] -> float [3, F, H, W] in [-1, 1], the video VAE's input range."""
    assert frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[-1] == 3, f"bad frames {frames.shape}"
    x = torch.from_numpy(frames).permute(3, 0, 1, 2).float()  # [3, F, H, W]
    return x / 127.5 - 1.0


def tensor_to_frames(x: torch.Tensor) -> np.ndarray:
    """float [3, F, H, W] in [-1, 1] (a video VAE's output) -> uint8 frames [F, H, W, 3]; frames_to_tensor undone."""
    pixels = ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)  # [3, F, H, W]
    return pixels.permute(1, 2, 3, 0).cpu().numpy()


def read_waveform(path: str | Path, seconds: float) -> torch.Tensor:
    """A 16 kHz WAV as float [2, round(seconds * 16000)]: mono duplicated, more channels averaged, cropped or padded."""
    import soundfile

    data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)  # [N, ch]
    if rate != AUDIO_SAMPLE_RATE:
        raise ValueError(f"{path}: audio must be {AUDIO_SAMPLE_RATE} Hz (got {rate}); the fit stage resamples it")
    wave = torch.from_numpy(data.T.copy())  # [ch, N]
    if wave.shape[0] == 1:
        wave = wave.expand(2, -1)
    elif wave.shape[0] > 2:
        wave = wave.mean(0, keepdim=True).expand(2, -1)
    samples = round(seconds * AUDIO_SAMPLE_RATE)
    wave = wave[:, :samples]
    if wave.shape[1] < samples:
        wave = torch.nn.functional.pad(wave, (0, samples - wave.shape[1]))
    return wave.contiguous()  # [2, samples]


def log_mel(wave: torch.Tensor) -> torch.Tensor:
    """[B, 2, N] waveform at 16 kHz -> [B, 2, 1 + N // 160, 64] log-mel spectrogram."""
    b, ch, n = wave.shape
    spec = torch.stft(
        wave.reshape(b * ch, n).float(),
        n_fft=N_FFT,
        hop_length=HOP,
        win_length=N_FFT,
        window=torch.hann_window(N_FFT, device=wave.device),
        center=True,
        pad_mode="reflect",
        return_complex=True,
    ).abs()  # [B*2, 513, T]
    mel = slaney_mel_filters().to(spec.device) @ spec  # [B*2, 64, T]
    mel = torch.log(mel.clamp(min=1e-5))
    return mel.reshape(b, ch, N_MELS, -1).transpose(2, 3)  # [B, 2, T, 64]


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / (200.0 / 3)
    log_region = hz >= 1000.0
    return np.where(log_region, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (math.log(6.4) / 27.0), mel)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    hz = mel * (200.0 / 3)
    return np.where(mel >= 15.0, 1000.0 * np.exp((math.log(6.4) / 27.0) * (mel - 15.0)), hz)


@functools.cache
def slaney_mel_filters(sample_rate: int = AUDIO_SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> torch.Tensor:
    """[64, 513] triangular filters on Slaney mels over 0 .. sr/2, each scaled to unit area (Slaney norm)."""
    fft_freqs = np.linspace(0, sample_rate / 2, 1 + n_fft // 2)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]
    return torch.from_numpy(weights).float()
