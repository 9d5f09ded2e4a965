"""The library's store is the one owner of reuse: a stage is reused while its manifest and every file it names are on
this disk or on the stage mirror, and computed again (files re-created) once they are gone."""

from __future__ import annotations

import shutil
from pathlib import Path

from pydantic import BaseModel

from ltxcore.store import stages
from ltxcore.store.mirror import StageMirror
from ltxcore.store.stage import Stage, store_session

DEMO = Stage("demo", 1)


class Written(BaseModel):
    path: str


class Counted:
    """A stage body that writes one file and counts its runs."""

    def __init__(self) -> None:
        self.runs = 0

    def __call__(self, out: Path) -> Written:
        self.runs += 1
        (out / "data.bin").write_bytes(b"x" * 100)
        return Written(path=str(out / "data.bin"))


def test_a_stage_is_reused_while_its_files_exist_and_computed_again_once_they_are_gone(tmp_path: Path) -> None:
    work, body = tmp_path / "work", Counted()
    with store_session() as first:
        made = DEMO.run(work, {"a": 1}, Written, body)
    with store_session() as second:
        assert DEMO.run(work, {"a": 1}, Written, body) == made
    assert (body.runs, first.computed, first.reused, second.computed, second.reused) == (1, 1, 0, 0, 1)
    assert second.all_reused and not first.all_reused

    Path(made.path).unlink()  # the manifest stays, its file does not: not finished
    with store_session() as third:
        assert DEMO.run(work, {"a": 1}, Written, body) == made
    assert (body.runs, third.computed, Path(made.path).stat().st_size) == (2, 1, 100)

    shutil.rmtree(work)  # the whole work root deleted and made anew at the same path
    work.mkdir()
    assert DEMO.run(work, {"a": 1}, Written, body) == made
    assert (body.runs, Path(made.path).stat().st_size) == (3, 100)


def test_a_stage_finished_on_another_worker_is_reused_from_the_mirror_and_its_files_fetched_when_read(
    tmp_path: Path,
) -> None:
    remote, work, body = tmp_path / "mirror", tmp_path / "work", Counted()
    with store_session(StageMirror(work.resolve(), str(remote))):
        made = DEMO.run(work, {"a": 1}, Written, body)
    key = DEMO.key(a=1)
    mirrored = sorted(p.relative_to(remote).as_posix() for p in remote.rglob("*") if p.is_file())
    assert mirrored == [f"demo/{key}/data.bin", f"demo/{key}/manifest.json"]  # no lock file, no temporary file

    shutil.rmtree(work)  # the next worker never saw the first one's disk; its work root is at the same path
    with store_session(StageMirror(work.resolve(), str(remote))) as session:
        assert DEMO.run(work, {"a": 1}, Written, body) == made
    # reused without running, and the file not fetched yet: a stage that reads it fetches it
    assert (body.runs, session.all_reused, Path(made.path).exists()) == (1, True, False)

    reader = Counted()
    with store_session(StageMirror(work.resolve(), str(remote)), inputs=[made]):
        Stage("reader", 1).run(work, {"input": made}, Written, reader)
    assert reader.runs == 1 and Path(made.path).stat().st_size == 100  # fetched before the reader computed


def test_every_stage_is_declared_once_with_a_distinct_name(tmp_path: Path) -> None:
    declared = [v for v in vars(stages).values() if isinstance(v, Stage)]
    assert len(declared) == 13
    assert len({s.name for s in declared}) == len(declared)
    # Version 2 since the restructuring; 3 where what the stage writes changed since (VAE tiling, the merged LoRA).
    assert {s.name: s.version for s in declared if s.version != 2} == {"encode": 3, "validation-reel": 3}
    # a stage's directory is named by its content key, which a changed input or version changes
    assert stages.FIT.dir(tmp_path, clip="a").name == stages.FIT.key(clip="a") != stages.FIT.key(clip="b")
    assert Stage("fit", 3).key(clip="a") != stages.FIT.key(clip="a")
