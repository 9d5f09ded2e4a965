"""The time a training run has left, counting everything the rest of the run will do.

An optimizer step is only part of a run's time: held-out validations, previews (a whole sampling run each),
checkpoints and waits for data fill the rest, and on a real run the previews alone can be a tenth of it. The clock
times each kind of event as it happens, takes the step rate from the wall time between steps with those events
taken out (so data waits, logging and plots count), and prices what is still to come at those measured costs: the
steps left, the validations, previews and checkpoints due at the steps left, the final save, and the validation reel
rendered after training (priced as one preview: it samples the same clips with the finished LoRA).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

Event = Literal["validation", "preview", "checkpoint"]


@dataclass
class RunClock:
    """Measured costs of a run's parts, and the time left at a step (seconds, from `time.perf_counter`).

    `previews` says whether this run renders previews (and so, afterwards, a reel); an event kind not yet timed
    costs nothing in `remaining`, and `complete` says whether every kind still to come has been timed once.
    """

    steps: int
    validate_every: int
    checkpoint_every: int
    preview_every: int | None
    previews: bool
    costs: dict[str, list[float]] = field(default_factory=dict)
    step_walls: list[float] = field(default_factory=list)
    _lap: float | None = None
    _in_lap: float = 0.0

    @contextmanager
    def timing(self, kind: Event) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - start
            self.costs.setdefault(kind, []).append(spent)
            self._in_lap += spent

    def start(self) -> None:
        """The loop starts: the first step's wall time runs from here."""
        self._lap, self._in_lap = time.perf_counter(), 0.0

    def lap(self) -> None:
        """A step ended (its events included): its wall time without the timed events is one step's cost."""
        now = time.perf_counter()
        if self._lap is not None:
            self.step_walls.append(max(now - self._lap - self._in_lap, 0.0))
        self._lap, self._in_lap = now, 0.0

    def step_cost(self) -> float:
        """Mean wall time of a step, skipping the first (warm-up, compilation) once there are others."""
        walls = self.step_walls[1:] or self.step_walls
        return sum(walls) / len(walls) if walls else 0.0

    def cost(self, kind: Event) -> float | None:
        """The newest measurement of an event kind (None: not yet timed); the newest, since a preview's or a
        validation's cost is steady while the first of each also pays for warming up."""
        seen = self.costs.get(kind)
        return seen[-1] if seen else None

    def due(self, done: int) -> dict[Event, int]:
        """How many of each event are still to come once step `done` has run its validation (its preview and
        checkpoint not yet: the loop reports progress between the two), the reel and the final save included."""
        left = range(done + 1, self.steps + 1)
        validations = sum(1 for s in left if s % self.validate_every == 0 or s == self.steps)
        checkpoints = sum(1 for s in range(done, self.steps + 1) if s % self.checkpoint_every == 0 or s == self.steps)
        previews = 0
        if self.previews and self.preview_every:
            previews = sum(1 for s in range(max(done, 1), self.steps) if s % self.preview_every == 0) + 1  # + reel
        return {"validation": validations, "preview": previews, "checkpoint": checkpoints}

    def remaining(self, done: int) -> float:
        """Seconds left after step `done`: the steps left at the measured step cost, the events due at theirs."""
        events = sum(n * (self.cost(kind) or 0.0) for kind, n in self.due(done).items())
        return (self.steps - done) * self.step_cost() + events

    def complete(self, done: int) -> bool:
        """Whether every event kind still due has been timed (else `remaining` is a lower bound)."""
        return all(self.cost(kind) is not None for kind, n in self.due(done).items() if n)
