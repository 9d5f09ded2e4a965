"""Parity fixtures: one seeded diffusers transformer at tiny 2.3-style shapes and its official twins."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import torch

from tests.parity.oracle import CONFIG, Case, official_twin, seeded_diffusers_transformer, suffix_case


@dataclass(frozen=True)
class Twins:
    diffusers: torch.nn.Module
    official: torch.nn.Module  # ltx-core 1.0.0 with the 1.1.4 cross-timestep change (oracle.py)
    official_1_0: torch.nn.Module  # ltx-core 1.0.0 as shipped


@pytest.fixture(scope="module")
def twins(one_torch_thread: None) -> Iterator[Twins]:
    ours = seeded_diffusers_transformer(CONFIG, seed=3)
    yield Twins(
        diffusers=ours, official=official_twin(ours), official_1_0=official_twin(ours, newer_cross_timestep=False)
    )


@pytest.fixture(scope="module")
def case() -> Case:
    return suffix_case(CONFIG)
