"""`a3c <command> [args]`: picks the command and hands the rest of argv to its Hydra app.

Before Hydra starts anything, the overrides are composed and validated here (every job of a
sweep too), so a typo, a wrong type or an impossible value is one line on stderr and exit code 2,
not a traceback after processes have started.
"""

from __future__ import annotations

import importlib
import logging
import math
import os
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from a3c_cli.config.compose import job_config, normalize_game_names, precheck
from a3c_cli.config.schema import CONFIG_DIR, available_cpus
from a3c_cli.distributed.launch import export_submitit_environment, launch_args
from a3c_cli.records.resume import resume_in_place
from a3c_cli.system.errors import Interrupted, RunFailed, UsageError
from a3c_cli.train.fork_server import start_fork_server

log = logging.getLogger("a3c")

USAGE = """\
usage: a3c <command> [args] [--debug]

commands:
  train    train an A3C-LSTM agent (a3c train game=Pong-Atari2600 workers=2)
  test     play a trained agent: scores, a window or a video (a3c test game=Pong-Atari2600 record=gif)
  games    list games: config files, stable-retro's games, ROMs present (a3c games sonic)
  roms     import ROMs into stable-retro (a3c roms import PATH..., a3c roms import --atari)
  plot     overlay the learning curves of runs in one PNG (a3c plot RUN_DIR...)
  report   rank the runs of a sweep or any run directories, best first (a3c report SWEEP_DIR)
  bench    training speed against the emulator's own, and memory per process (a3c bench seconds=60);
           a3c bench learn: the learning benchmark over a suite of games (a3c bench learn frames=10M)

train and test are Hydra apps: `a3c train --help` lists the config groups and keys,
`a3c train --cfg job` prints the composed config, `a3c train -m key=a,b` sweeps.
The others take --help. --debug shows the full traceback of an error.
"""


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def train_app(cfg: DictConfig) -> float:
    with reported_errors("train"):
        if cfg.distributed.backend != "none":
            export_submitit_environment()  # before `${world_size:}` resolves: a job of the submitit launcher
        job = job_config(cfg, "train", HydraConfig.get().overrides.task, workers=workers_under_joblib())
        start_fork_server()  # before torch loads here (~2 s): the workers' imports run meanwhile
        from a3c_cli.train.trainer import train  # torch and the emulators load only when a run starts

        return train(job, HydraConfig.get().runtime.output_dir)
    return -math.inf  # only reached by a failed job of a sweep: reported, and the sweep goes on


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="test")
def test_app(cfg: DictConfig) -> float:
    from a3c_cli.commands.play import play

    with reported_errors("test"):
        job = job_config(cfg, "test")
        return play(job, HydraConfig.get().runtime.output_dir, HydraConfig.get().overrides.task)["return"]["mean"]
    return -math.inf


# command -> its Hydra app
HYDRA_COMMANDS = {"train": train_app, "test": test_app}

# argparse commands: "module:function", the function taking argv and returning an exit code
PLAIN_COMMANDS = {
    "games": "a3c_cli.commands.catalog:games_command",
    "roms": "a3c_cli.commands.catalog:roms_command",
    "plot": "a3c_cli.records.plot:plot_command",
    "report": "a3c_cli.commands.sweep:report_command",
    "bench": "a3c_cli.bench.throughput:bench_command",
}


class reported_errors:
    """Turns a UsageError (exit code 2) or RunFailed (exit code 1) into one line on stderr; --debug
    lets the traceback through instead. In a job of a sweep the line is also kept in the job's
    result.json, and the exception is swallowed so that the sweep goes on to the next job. A run
    stopped by a signal (Interrupted, already logged) exits 128 + the signal's number."""

    def __init__(self, command: str):
        self.command = command

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and issubclass(exc_type, Interrupted):
            sys.exit(exc.exit_code)  # 130 for Ctrl-C, 143 for SIGTERM: what a scheduler expects
        if exc_type is None or not issubclass(exc_type, (UsageError, RunFailed)) or _debug():
            return False
        if in_sweep():
            from a3c_cli.commands.sweep import write_job_result

            run_dir = HydraConfig.get().runtime.output_dir
            print(f"a3c {self.command}: error in {run_dir}: {exc}", file=sys.stderr)
            write_job_result(run_dir, "failed", None, str(exc))
            return True
        print(f"a3c {self.command}: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


def in_sweep() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def workers_under_joblib() -> int | None:
    """Under joblib's launcher several jobs train at once on this machine: unless `workers` was
    given, each job gets its share of the cores instead of one worker per core (None: no share)."""
    hydra_cfg = HydraConfig.get()
    if not in_sweep() or "joblib" not in hydra_cfg.launcher.get("_target_", "").lower():
        return None
    if any(o.startswith("workers=") for o in hydra_cfg.overrides.task):
        return None
    n_jobs = hydra_cfg.launcher.n_jobs
    cores = available_cpus()
    workers = max(1, cores // (cores if n_jobs < 0 else n_jobs))
    log.info("joblib runs %s jobs at once: %d workers per job on %d cores", "one per core" if n_jobs < 0 else n_jobs,
             workers, cores)
    return workers


def _debug() -> bool:
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


def main(argv: list[str] | None = None) -> None:
    # A log line that cannot be written (a full disk) is dropped, not printed as a traceback:
    # the run reports the disk in one line of its own.
    logging.raiseExceptions = False
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, end="", file=sys.stdout if argv else sys.stderr)
        sys.exit(0 if argv else 2)
    command, args = argv[0], argv[1:]
    commands = [*HYDRA_COMMANDS, *PLAIN_COMMANDS]
    if command not in commands:
        choices = ", ".join(commands)
        print(f"a3c: error: unknown command '{command}': use one of {choices} (a3c --help)", file=sys.stderr)
        sys.exit(2)
    if "--debug" in args:
        args.remove("--debug")
        os.environ["HYDRA_FULL_ERROR"] = "1"
    if command in PLAIN_COMMANDS:
        module, function = PLAIN_COMMANDS[command].split(":")
        with reported_errors(command):
            sys.exit(getattr(importlib.import_module(module), function)(args))
    args = normalize_game_names(args)
    with reported_errors(command):
        cfg = precheck(command, args)
        if command == "train":
            cfg, args = launch_args(cfg, args)
        args = resume_in_place(cfg, args)
    sys.argv = [f"a3c {command}", *args]
    HYDRA_COMMANDS[command]()
    from a3c_cli.commands import sweep

    if any(row["status"] == "failed" for row in sweep.last_summary or []):
        sys.exit(1)  # a sweep that went on past a failed job still did not succeed


if __name__ == "__main__":
    main()
