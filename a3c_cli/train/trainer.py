"""`a3c train`: join the other ranks of a distributed run (none on one machine), build the shared
agent (from a checkpoint when resuming), start every rank from the same one, and hand it to the
training loop (loop.py).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import torch

from a3c_cli.agent.shared import SharedAgent
from a3c_cli.config.schema import TrainConfig, available_cpus
from a3c_cli.distributed.ranks import Ranks, joined
from a3c_cli.games.make import prepare_game
from a3c_cli.records.resume import resume_from
from a3c_cli.records.rundir import CHECKPOINTS, published_best
from a3c_cli.system.errors import UsageError
from a3c_cli.train.loop import Training

log = logging.getLogger("a3c")


def train(cfg: TrainConfig, run_dir: str) -> float:
    """Run one training job; return the best greedy evaluation return (what sweepers maximise),
    -inf if no evaluation finished."""
    cfg = prepared(cfg)
    with joined(cfg) as ranks:
        return train_rank(cfg, Path(run_dir), ranks)


def prepared(cfg: TrainConfig) -> TrainConfig:
    """The composed config with what only this machine can say, the one place a run derives it:
    the game checked against what is installed and its action set spelled out (prepare_game:
    `actions: []` asks the emulator), the checkpoints' folder as an absolute path. A new
    read-only config: the composed one stays as it was."""
    return replace(cfg, game=prepare_game(cfg.game), checkpoints_dir=str(Path(cfg.checkpoints_dir).resolve()))


def train_rank(cfg: TrainConfig, run_dir: Path, ranks: Ranks) -> float:
    """One rank's part of the run (the whole run on one machine): rank 0 keeps the records."""
    seed = cfg.seed + ranks.rank * cfg.workers  # its first worker's: worker i of rank r has seed + r x workers + i
    kept = (run_dir / CHECKPOINTS, published_best(cfg.checkpoints_dir, cfg.game.name).parent)
    for folder in kept if ranks.keeps_records else ():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create {folder} ({exc.strerror}): choose a writable place") from exc
    cpus = available_cpus()
    if cfg.workers > cpus:
        log.warning("workers=%d is more than the %d cores here: workers will share cores and each runs slower",
                    cfg.workers, cpus)

    torch.manual_seed(seed)
    agent = SharedAgent.build(cfg)
    resumed = None
    if cfg.resume is not None:
        resumed = resume_from(cfg, run_dir, agent.model, agent.optimizer, agent.entropy_weight)
    resumed = ranks.start_from(agent, resumed)
    return Training(cfg, run_dir, agent, resumed, ranks, seed).run()
