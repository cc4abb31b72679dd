"""Where a distributed run's rank stands before Hydra starts (no torch imported here: the command
line starts fast): what the launcher (torchrun, srun, Hydra's submitit launcher) says about this
process, and the command line each rank runs with.

Every rank agrees on the run directory without talking: the one given (hydra.run.dir=...), else
outputs/<game>/<torchrun's run id>, which a restarted attempt shares. Ranks other than 0 keep
their own log in <run dir>/rank-<N>/; rank 0 alone writes the run's records and checkpoints.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

from a3c_cli.config.schema import TrainConfig
from a3c_cli.records.rundir import latest_checkpoint
from a3c_cli.system.errors import UsageError

log = logging.getLogger("a3c")

DOCS = "docs/distributed.md"


@dataclass(frozen=True)
class Launch:
    """What the launcher says about this process (torchrun's or srun's environment)."""

    rank: int
    world_size: int
    restart: int  # attempts before this one (torchrun --max-restarts)
    run_id: str | None  # torchrun's rendezvous id (--rdzv-id; a fresh uuid with --standalone), else Slurm's job id


def launched() -> Launch | None:
    env = os.environ
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return None
    return Launch(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("TORCHELASTIC_RESTART_COUNT", 0)),
                  env.get("TORCHELASTIC_RUN_ID") or env.get("SLURM_JOB_ID"))


def rank_dir(run_dir: str | Path, rank: int) -> Path:
    return Path(run_dir) / f"rank-{rank}"


def launch_args(cfg: TrainConfig | None, args: list[str]) -> tuple[TrainConfig | None, list[str]]:
    """The config and command line of this rank: the agreed run directory; on ranks but 0 no
    checkpoint to read (rank 0 sends its weights: no shared file system needed); on a restarted
    attempt, rank 0 going on from the run's latest checkpoint. Raises UsageError for a launch
    that cannot work."""
    launch = launched()
    if cfg is None or cfg.distributed.backend == "none":
        if launch is not None and launch.world_size > 1 and cfg is not None:
            raise UsageError(f"this is rank {launch.rank} of {launch.world_size} (torchrun or srun) but "
                             f"distributed is none: add distributed=gloo, or launch one process ({DOCS})")
        return cfg, args
    if launch is None:
        if in_submitit_job():
            return cfg, args  # a job of Hydra's submitit launcher: its directory is already the same for all
        raise UsageError("distributed=gloo: no launcher here (RANK and WORLD_SIZE are unset): start it with "
                         f"torchrun --nproc-per-node=1 --nnodes=N ... -m a3c_cli train distributed=gloo ({DOCS})")
    given = [a.split("=", 1)[1] for a in args if a.startswith("hydra.run.dir=")]
    if not given and launch.run_id is None:
        raise UsageError(f"distributed=gloo: no run id from the launcher to name the run directory: pass the same "
                         f"hydra.run.dir=... to every rank ({DOCS})")
    run_dir = given[-1] if given else str(Path("outputs", cfg.game.name, launch.run_id))
    args = without(args, "hydra.run.dir")
    if launch.rank > 0:
        return replace(cfg, resume=None), [*without(args, "resume"), f"hydra.run.dir={rank_dir(run_dir, launch.rank)}"]
    if launch.restart > 0 and latest_checkpoint(run_dir).is_file():
        log.warning("attempt %d of this run: going on from %s", launch.restart + 1, latest_checkpoint(run_dir))
        cfg, args = replace(cfg, resume=run_dir), [*without(args, "resume"), f"resume={run_dir}"]
    return cfg, [*args, f"hydra.run.dir={run_dir}"]


def without(args: list[str], key: str) -> list[str]:
    """The command line less its `key=...` overrides."""
    return [a for a in args if not a.startswith(f"{key}=")]


def export_submitit_environment() -> None:
    """In a job of Hydra's submitit launcher (hydra/launcher=slurm, nodes > 1), set torch.distributed's
    variables (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) from Slurm's, as torchrun would."""
    if launched() is None and in_submitit_job():
        from submitit.helpers import TorchDistributedEnvironment

        TorchDistributedEnvironment().export()


def in_submitit_job() -> bool:
    """A job that submitit started (Hydra's submitit launchers), on Slurm or on this machine."""
    return bool(os.environ.get("SUBMITIT_EXECUTOR") or os.environ.get("SUBMITIT_LOCAL_JOB_ID"))
