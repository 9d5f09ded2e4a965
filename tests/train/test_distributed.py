"""Data-parallel training: two CPU processes under torchrun (gloo) train the same LoRA as one process would."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ltxcore.model.loader import load_components
from ltxcore.model.spec import ModelSpec
from ltxcore.model.text import encode_prompts
from ltxcore.train import train_lora
from ltxcore.train.checkpoint import load_latest
from ltxcore.train.parallel import DataParallel
from ltxcore.train.synthetic import GlidingBlobs
from tests.support.configs import tiny_train_config

ROOT = Path(__file__).resolve().parents[2]
TINY = ModelSpec.parse("tiny")
CONFIG = tiny_train_config(steps=4, grad_accum=2, warmup=1, validate_every=2)
CLIPS = 5


def _torchrun(out: Path, config: Path) -> list[dict]:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "ltxcore.train",
        "--out",
        str(out),
        "--config",
        str(config),
        "--synthetic",
        str(CLIPS),
        "--threads",
        "1",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    # The ranks share one stdout, so their lines can interleave: pick out each rank's JSON object.
    return [json.loads(m) for m in re.findall(r'\{"rank"[^{}]*\}', done.stdout)]


def _step_log(run_dir: Path) -> list[tuple[str, int, float]]:
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["kind"], r["step"], r["loss"]) for r in lines]


def test_two_ranks_agree_and_match_one_process_with_the_same_grad_accum(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(CONFIG.model_dump_json())
    TINY.local_dir()  # built once here, not raced for by the ranks
    ranks = _torchrun(tmp_path / "ddp", config)

    assert sorted(r["rank"] for r in ranks) == [0, 1]
    assert all(r["finished"] and r["steps_done"] == 4 and r["world"] == 2 for r in ranks)
    assert ranks[0]["lora_sha256"] == ranks[1]["lora_sha256"]  # both ranks hold the same adapters
    assert not (tmp_path / "ddp" / "rank1").exists()  # rank 0 writes every file: the LoRA and the best one
    written = sorted(p.name for p in (tmp_path / "ddp").glob("*.safetensors"))
    assert written == ["best-lora.safetensors", "lora.safetensors"]

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        text = encode_prompts(
            load_components(TINY, {"text_encoder", "tokenizer", "connectors"}), ["a ball moves right"]
        )
        single = train_lora(GlidingBlobs(CLIPS, text), CONFIG, tmp_path / "single", spec=TINY, device="cpu")
    finally:
        torch.set_num_threads(threads)
    # Rank r computes micro-batch r of each step and the gradients are summed: with two ranks that is the same two
    # additions a single process makes, so the adapters, the optimizer state and the log come out identical.
    a, b = load_latest(tmp_path / "single" / "checkpoints"), load_latest(tmp_path / "ddp" / "checkpoints")
    assert a.lora.keys() == b.lora.keys()
    assert max((a.lora[k] - b.lora[k]).abs().max().item() for k in a.lora) == 0.0
    assert Path(single.lora_path).read_bytes() == (tmp_path / "ddp" / "lora.safetensors").read_bytes()
    assert _step_log(tmp_path / "single") == _step_log(tmp_path / "ddp")


def test_grad_accum_must_split_evenly_across_ranks() -> None:
    with pytest.raises(ValueError, match="multiple of the 2 data-parallel ranks"):
        DataParallel(rank=0, world=2).check(3)
    assert list(DataParallel(rank=1, world=2).micro_batches(6)) == [1, 3, 5]
