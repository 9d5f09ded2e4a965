"""Micro-batch prefetch: the next batch is prepared on a thread while the current one trains, and no number changes."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from ltxcore.model.forward import TextBatch
from ltxcore.model.spec import ModelSpec
from ltxcore.train.files import RunFiles
from ltxcore.train.prefetch import Prefetcher
from ltxcore.train.session import Session
from ltxcore.train.synthetic import GlidingBlobs
from tests.support.configs import tiny_train_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_the_prefetcher_prepares_the_next_micro_batch_on_another_thread() -> None:
    threads: dict[int, str] = {}

    def prepare(m: int) -> int:
        threads[m] = threading.current_thread().name
        return m * 10

    pre = Prefetcher(prepare)
    assert [pre.get(m, m + 1 if m < 3 else None) for m in range(4)] == [0, 10, 20, 30]
    assert (pre.hits, pre.misses) == (3, 1)  # only the first had to be made on the spot
    assert threads[0] == threading.current_thread().name
    assert all(threads[m].startswith("prefetch") for m in (1, 2, 3))
    pre.get(7, 8)  # not the one prefetched (a resumed run): made here, the stale one dropped
    assert pre.get(8, None) == 80 and (pre.hits, pre.misses) == (4, 2)
    pre.close()


def test_an_error_while_prefetching_reaches_the_training_loop() -> None:
    def prepare(m: int) -> int:
        if m == 1:
            raise OSError("latent file vanished")
        return m

    pre = Prefetcher(prepare)
    assert pre.get(0, 1) == 0
    with pytest.raises(OSError, match="vanished"):
        pre.get(1, None)
    pre.close()


def test_training_with_prefetch_equals_training_without_it_bitwise(tmp_path: Path, tiny_text: TextBatch) -> None:
    cfg = tiny_train_config(steps=3, grad_accum=2, warmup=1)
    params, losses = [], []
    for prefetch in (False, True):
        session = Session.build(
            GlidingBlobs(5, tiny_text),
            cfg,
            RunFiles.under(tmp_path / str(prefetch)),
            spec=ModelSpec.parse("tiny"),
            device=torch.device("cpu"),
        )
        session.prefetch = prefetch
        losses.append([session.train_step(step).loss for step in range(cfg.steps)])
        params.append({n: p.detach().clone() for n, p in session.params.items()})
        hits = session._prefetch().hits
        session.close()
        assert hits == (5 if prefetch else 0)  # 6 micro-batches; all but the first were ready when asked for
    assert losses[0] == losses[1]
    assert params[0].keys() == params[1].keys()
    assert all(torch.equal(params[0][k], params[1][k]) for k in params[0])
