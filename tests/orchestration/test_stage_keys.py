"""Each stage is declared once: its directory and its Prefect cache key come from the same Stage and parts."""

from __future__ import annotations

from pathlib import Path

from ltxcore.intake.fit import FitSettings
from ltxcore.job.settings import JobSettings
from ltxcore.manifests import ArchiveRef, ProbeInfo, SourceClip
from ltxcore.store import stages
from ltxcore.store.stage import Stage
from tasks.common import stage_key, work_root_id


def test_the_prefect_key_of_a_stage_is_its_directory_key(tmp_path: Path) -> None:
    archive = ArchiveRef(url="https://x/clips.zip", path="/w/fetch/a.zip", sha256="ab" * 32, size=10)
    settings = JobSettings(work_root=str(tmp_path))
    key = stage_key(stages.EXTRACT, "archive.sha256")(None, {"archive": archive, "settings": settings})
    directory = stages.EXTRACT.dir(tmp_path, sha256=archive.sha256)
    assert key == f"extract-{directory.name}@{work_root_id(tmp_path)}"

    probe = ProbeInfo(width=64, height=64, fps=24, num_frames=48, duration=2.0)
    clip = SourceClip(id="a", path="/w/a.mp4", rel_path="a.mp4", probe=probe)
    fit = FitSettings(num_frames=17, fps=24, width=64, height=64)
    params = {"clip": clip, "fit_settings": fit, "settings": JobSettings(work_root="/elsewhere")}
    fit_key = stage_key(stages.FIT, "clip", settings="fit_settings")
    assert (
        fit_key(None, params)
        == f"fit-{stages.FIT.dir(tmp_path, clip=clip, settings=fit).name}@{work_root_id('/elsewhere')}"
    )
    # Anything not named is not an input; a changed input or version is a new key, and so is another stage store
    # (its cached result would name files under a work root this run does not have).
    assert fit_key(None, {**params, "threshold": 3}) == fit_key(None, params)
    assert fit_key(None, {**params, "settings": JobSettings(work_root="/again")}) != fit_key(None, params)
    assert fit_key(None, {**params, "fit_settings": fit.model_copy(update={"fps": 25})}) != fit_key(None, params)
    assert Stage("fit", 3).key(clip=clip, settings=fit) != stages.FIT.key(clip=clip, settings=fit)


def test_every_stage_is_declared_once_with_a_distinct_name() -> None:
    declared = [v for v in vars(stages).values() if isinstance(v, Stage)]
    assert len(declared) == 13
    assert len({s.name for s in declared}) == len(declared)
    # Version 2 since the restructuring; 3 where what the stage writes changed since (VAE tiling, the merged LoRA).
    assert {s.name: s.version for s in declared if s.version != 2} == {"encode": 3, "validation-reel": 3}
