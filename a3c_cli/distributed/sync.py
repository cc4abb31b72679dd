"""One run over several machines (distributed=gloo), on torch.distributed: BA3C's shape (Adamski
et al. 2018), asynchronous inside each node, synchronous between nodes.

torchrun (or srun) starts one rank per node. Each rank's trainer runs its own Hogwild workers and
keeps its own shared optimizer statistics; every distributed.sync_interval seconds the ranks'
trainers all-reduce what their parameters changed since the last sync, and each adds the others'
changes to its live shared parameters. The counters and the decision to stop are all-reduced in the
same sync, so every rank stops at the same sync and none is left waiting in a collective. Rank 0
alone evaluates and writes the run's records and checkpoints; the others' training episodes reach
it through the sync.

The trainer and its loop reach all of this through ranks.py's one interface (Gloo there; Single,
which does nothing, on one machine). Before Hydra starts, launch.py gives each rank its command
line (the agreed run directory).
"""

from __future__ import annotations

import datetime
import logging
import os
import time
from dataclasses import dataclass

import torch
import torch.distributed as dist

from a3c_cli.agent.counters import NAMES, Counters
from a3c_cli.agent.shared import SharedAgent
from a3c_cli.config.schema import DistributedConfig
from a3c_cli.system.errors import UsageError

log = logging.getLogger("a3c")

STOP_REASONS = ("max_frames", "max_minutes", "interrupted", "failed")  # a vote's code is its index + 1; the
#                                                                        highest code any rank votes wins


def join(settings: DistributedConfig):
    """Join the run's process group (gloo; the timeout bounds the wait for the others, here and
    in every sync); returns the rendezvous store, which also names a rank that stopped answering."""
    timeout = datetime.timedelta(seconds=settings.timeout)
    store, rank, world_size = next(dist.rendezvous("env://", timeout=timeout))
    # torchrun's store outlives a failed attempt, with the addresses of its dead ranks: the keys of
    # each attempt get a prefix of their own, or a restarted rank may dial a dead one
    store = dist.PrefixStore(f"a3c/attempt-{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}", store)
    dist.init_process_group("gloo", store=store, rank=rank, world_size=world_size, timeout=timeout)
    if settings.ranks != world_size:  # the defaults that follow the workers counted the wrong pool
        raise UsageError(f"distributed.ranks={settings.ranks} but the launcher started {world_size} "
                         "ranks: leave distributed.ranks unset (it is read from the launcher)")
    log.info("rank %d of %d joined (gloo); syncing every %g s", rank, world_size, settings.sync_interval)
    return store


def state_tensors(model, optimizer) -> list[torch.Tensor]:
    """The model's weights and the optimizer's statistics, in an order every rank shares."""
    tensors = list(model.state_dict().values())
    if optimizer is not None:
        for group in optimizer.param_groups:
            for param in group["params"]:
                state = optimizer.state[param]
                tensors += [state[key] for key in sorted(state) if torch.is_tensor(state[key])]
    return tensors


def share_start(agent: SharedAgent, resumed: dict | None) -> dict | None:
    """Every rank starts from rank 0's weights and optimizer statistics, fresh or resumed, and from
    its counters, clock and best evaluation; returns those (None on a fresh run)."""
    for tensor in state_tensors(agent.model, agent.optimizer):
        dist.broadcast(tensor, src=0)
    keys = ("counters", "time", "evaluation", "best_return", "entropy_coef")
    sent = [{k: resumed.get(k) for k in keys} if resumed else None]
    dist.broadcast_object_list(sent, src=0)
    if sent[0] is not None and sent[0]["entropy_coef"] is not None and agent.entropy_weight.target_nats is not None:
        agent.entropy_weight.set(sent[0]["entropy_coef"])  # an adapted weight goes on from where it was
    return resumed if dist.get_rank() == 0 else sent[0]


class RankLost(Exception):
    """A sync failed: another rank crashed, hung or could not be reached."""


@dataclass(frozen=True)
class Agreed:
    """What every rank learns at the same sync: why the run stops, and the rank that voted for it
    (the lowest-numbered, if several did)."""

    reason: str  # one of STOP_REASONS
    rank: int


class Link:
    """This rank's side of the syncs: the parameters' changes, the counters, the votes to stop."""

    def __init__(self, settings: DistributedConfig, model, store, start: dict | None):
        """`start`: the counters the run starts from (a resumed run's), on every rank."""
        self.start = [int((start or {}).get(name, 0)) for name in NAMES]
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        self.interval, self.mean, self.store = settings.sync_interval, settings.reduce == "mean", store
        self.grace = settings.sync_interval + 5.0  # the others reach their next sync within an interval
        self.params = [p.data for p in model.parameters()]  # the live shared tensors the workers update
        self.synced = self.flat()  # the weights as the ranks left the last sync, without this rank's changes since
        self.next_at = time.monotonic() + self.interval
        self.syncs, self.sync_ms, self.sync_bytes = 0, [], 0  # since the last training line

    def flat(self) -> torch.Tensor:
        return torch.cat([p.reshape(-1) for p in self.params])  # a copy: the workers go on updating

    def due(self) -> bool:
        return time.monotonic() >= self.next_at

    def exchange(self, counters: Counters, vote: str | None, outbox: list) -> tuple[Agreed | None, list]:
        """One sync; afterwards `counters` reads the whole run's counts (the others' as of now).
        Returns why every rank stops now (None: go on), and on rank 0 the others' events."""
        own = counters.own()
        counts, votes, events = self.sync(own, vote, outbox)
        counters.set_base([start + total - mine for start, total, mine in zip(self.start, counts, own)])
        if not any(votes):
            return None, events
        agreed = Agreed(STOP_REASONS[max(votes) - 1], votes.index(max(votes)))
        if agreed.reason != vote:
            log.warning("rank %d stops the run (%s): stopping with it", agreed.rank, agreed.reason)
        return agreed, events

    def sync(self, own: list[int], vote: str | None, outbox: list) -> tuple[list[int], list[int], list]:
        """All-reduce the counts this rank made (its own, since it started) and its vote, then the
        parameters' changes; gather the others' events on rank 0. Returns the counts of all ranks,
        every rank's vote (0: go on), and the events gathered (rank 0; [] elsewhere)."""
        started = time.perf_counter()
        counts = torch.zeros(len(own) + self.world_size, dtype=torch.int64)
        counts[: len(own)] = torch.tensor(own)
        counts[len(own) + self.rank] = 0 if vote is None else STOP_REASONS.index(vote) + 1
        try:
            dist.all_reduce(counts)
            self.apply_changes()
            gathered = [None] * self.world_size if self.rank == 0 else None
            dist.gather_object(outbox, gathered, dst=0)
        except (RuntimeError, dist.DistBackendError) as exc:
            raise RankLost(self.lost(exc)) from exc
        self.syncs += 1
        self.sync_ms.append((time.perf_counter() - started) * 1000)
        self.sync_bytes += counts.numel() * 8 + self.synced.numel() * 4
        self.next_at = time.monotonic() + self.interval
        events = [e for box in gathered[1:] for e in box] if gathered else []
        return counts[: len(own)].tolist(), counts[len(own):].tolist(), events

    def apply_changes(self) -> None:
        """Sum (or average) every rank's change since the last sync, and add the others' part to
        the live parameters in place. The all-reduce works on a copy: the workers never read a
        half-reduced sum. With one rank the sum is this rank's own change: nothing is added."""
        now = self.flat()
        change = now - self.synced
        total = change.clone()
        dist.all_reduce(total)
        if self.mean:
            total /= self.world_size
        others = total - change
        offset = 0
        for param in self.params:
            param.add_(others[offset : offset + param.numel()].view_as(param))
            offset += param.numel()
        self.synced = now + others

    def traffic(self) -> dict | None:
        """Sync figures since the last call (a training line's), None if no sync happened."""
        if not self.syncs:
            return None
        figures = {"syncs": self.syncs, "bytes_per_sync": self.sync_bytes // self.syncs,
                   "ms_mean": round(sum(self.sync_ms) / len(self.sync_ms), 2), "ms_max": round(max(self.sync_ms), 2)}
        self.syncs, self.sync_ms, self.sync_bytes = 0, [], 0
        return figures

    def lost(self, exc: Exception) -> str:
        """One line naming the ranks that stopped answering: every rank still alive reaches its next
        sync, fails there too and says so in the store; the silent ones are named."""
        try:
            self.store.set(f"alive/{self.rank}", "1")
            deadline = time.monotonic() + self.grace
            silent = list(range(self.world_size))
            while silent and time.monotonic() < deadline:
                silent = [r for r in range(self.world_size) if not self.store.check([f"alive/{r}"])]
                time.sleep(0.2)
        except Exception:  # the store lives with rank 0 (or its node's torchrun): gone with it
            return "rank 0 (or its node) stopped answering: see its log"
        names = ", ".join(f"rank {r}" for r in silent) or "another rank"
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        return f"{names} stopped answering during a sync ({first}): see its log"
