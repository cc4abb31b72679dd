"""Run-wide counters in shared memory: every worker adds to them, the trainer and evaluator read."""

from __future__ import annotations

from multiprocessing.context import BaseContext

NAMES = ("frames", "updates", "episodes", "skipped_updates")


class Counters:
    def __init__(self, ctx: BaseContext, start: dict | None = None):
        self._values = ctx.Array("q", [int((start or {}).get(name, 0)) for name in NAMES])

    def add(self, frames: int, updates: int, episodes: int, skipped_updates: int) -> None:
        with self._values.get_lock():
            for i, amount in enumerate((frames, updates, episodes, skipped_updates)):
                self._values[i] += amount

    def snapshot(self) -> dict:
        with self._values.get_lock():
            return dict(zip(NAMES, self._values[:]))

    @property
    def frames(self) -> int:
        return self._values[0]
