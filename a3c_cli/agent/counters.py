"""Run-wide counters in shared memory: each worker adds to its own slot, the trainer and the
evaluator read the sums.

One writer per slot and no lock: a worker killed at any moment (kill -9, a crash inside the
emulator) cannot leave a lock held that would freeze every other worker. A restarted worker takes
over its predecessor's slot.
"""

from __future__ import annotations

from multiprocessing.context import BaseContext

NAMES = ("frames", "updates", "episodes", "skipped_updates")


class Counters:
    def __init__(self, ctx: BaseContext, slots: int, start: dict | None = None):
        self._values = ctx.Array("q", (slots + 1) * len(NAMES), lock=False)
        self._slots = slots
        self.set_base([int((start or {}).get(name, 0)) for name in NAMES])

    def set_base(self, values: list[int]) -> None:
        """The last slot, written by the trainer alone: what the run counted before a resume, and,
        in a distributed run, what the other ranks counted up to the last sync."""
        for i, value in enumerate(values):
            self._values[self._slots * len(NAMES) + i] = value

    def own(self) -> list[int]:
        """What this process's workers counted (the slots but the last), in NAMES' order."""
        values = self._values[: self._slots * len(NAMES)]
        return [sum(values[i :: len(NAMES)]) for i in range(len(NAMES))]

    def add(self, slot: int, frames: int, updates: int, episodes: int, skipped_updates: int) -> None:
        base = slot * len(NAMES)
        for i, amount in enumerate((frames, updates, episodes, skipped_updates)):
            self._values[base + i] += amount

    def snapshot(self) -> dict:
        values = self._values[:]
        return {name: sum(values[i :: len(NAMES)]) for i, name in enumerate(NAMES)}

    @property
    def frames(self) -> int:
        return self.snapshot()["frames"]
