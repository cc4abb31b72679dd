"""The other ranks of a run, as the trainer sees them: one interface (`Ranks`) that the trainer
and its loop call at the same points whether or not the run is distributed. On one machine
(`Single`) every call does nothing; in a distributed run (`Gloo`, distributed=gloo) the calls
join the process group, share the start, sync and agree when to stop (sync.py).
"""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Iterator
from typing import Protocol

import torch.distributed as dist

from a3c_cli.agent.counters import Counters
from a3c_cli.agent.shared import SharedAgent
from a3c_cli.config.schema import TrainConfig
from a3c_cli.distributed.sync import Agreed, Link, join, share_start

log = logging.getLogger("a3c")


class Ranks(Protocol):
    rank: int
    world_size: int
    signals: tuple[signal.Signals, ...]  # the signals on_signal takes

    @property
    def keeps_records(self) -> bool:
        """Whether this rank evaluates and keeps the run's records and checkpoints: rank 0."""

    def start_from(self, agent: SharedAgent, resumed: dict | None) -> dict | None:
        """After the agent is built (and resumed): every rank starts from rank 0's agent,
        counters, clock and best evaluation; returns those (None on a fresh run)."""

    def keeps(self, event: dict) -> bool:
        """Whether this rank keeps an event of its processes in the run's records; a rank but 0
        keeps none: it sends them to rank 0 at the next sync."""

    def sync(self, counters: Counters, vote: str | None) -> tuple[Agreed | None, list[dict]]:
        """Each turn of the loop, with this rank's vote to stop (None: go on): the reason every
        rank stops for, once they agree (one machine: its own vote, at once), and on rank 0 the
        events the other ranks sent. Raises RankLost."""

    def traffic(self) -> dict | None:
        """A training line's figures of the syncs since the last one (None: no sync)."""

    def on_signal(self, signum: int, first: bool) -> None:
        """Ctrl-C or SIGTERM (`first`: none came before): one machine stops at once (raises
        KeyboardInterrupt); a distributed run's ranks stop at the next sync, together (one leaving
        alone would leave the others waiting in a collective)."""


class Single:
    """One machine: no other rank to share a start with, sync with or wait for."""

    rank, world_size = 0, 1
    keeps_records = True
    signals = (signal.SIGTERM,)  # Ctrl-C raises KeyboardInterrupt by itself

    def start_from(self, agent: SharedAgent, resumed: dict | None) -> dict | None:
        return resumed

    def keeps(self, event: dict) -> bool:
        return True

    def sync(self, counters: Counters, vote: str | None) -> tuple[Agreed | None, list[dict]]:
        return (Agreed(vote, self.rank) if vote is not None else None), []

    def traffic(self) -> dict | None:
        return None

    def on_signal(self, signum: int, first: bool) -> None:
        raise KeyboardInterrupt  # SIGTERM (what a scheduler sends before preempting) stops as Ctrl-C does


class Gloo:
    """This rank of a distributed run, joined to the others (sync.join)."""

    signals = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, cfg: TrainConfig, store):
        self.cfg, self.store = cfg, store
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        self.link: Link | None = None  # the syncs, from the start every rank shares (start_from)
        self.outbox: list[dict] = []  # a rank's events for rank 0, sent at the next sync

    @property
    def keeps_records(self) -> bool:
        return self.rank == 0

    def start_from(self, agent: SharedAgent, resumed: dict | None) -> dict | None:
        resumed = share_start(agent, resumed)
        self.link = Link(self.cfg.distributed, agent.model, self.store, resumed["counters"] if resumed else None)
        return resumed

    def keeps(self, event: dict) -> bool:
        if not self.keeps_records:
            self.outbox.append(event)
        return self.keeps_records

    def sync(self, counters: Counters, vote: str | None) -> tuple[Agreed | None, list[dict]]:
        """A sync when one is due or this rank votes to stop; raises RankLost."""
        if vote is None and not self.link.due():
            return None, []
        agreed, events = self.link.exchange(counters, vote, self.outbox)
        self.outbox = []
        return agreed, events

    def traffic(self) -> dict | None:
        return self.link.traffic()

    def on_signal(self, signum: int, first: bool) -> None:
        if first:
            log.warning("%s: stopping at the next sync, with every rank", signal.Signals(signum).name)


@contextlib.contextmanager
def joined(cfg: TrainConfig) -> Iterator[Ranks]:
    """The ranks of this run: Single on one machine; with distributed=gloo, this rank joined to the
    others, and the process group left at the end."""
    if cfg.distributed.backend == "none":
        yield Single()
        return
    store = join(cfg.distributed)
    try:
        yield Gloo(cfg, store)
    finally:
        dist.destroy_process_group()
