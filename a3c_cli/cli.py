"""`a3c <command> [args]`: picks the command and hands the rest of argv to its Hydra app.

Before Hydra starts anything, the overrides are composed and validated here (every job of a
sweep too), so a typo, a wrong type or an impossible value is one line on stderr and exit code 2,
not a traceback after processes have started.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import math
import os
import re
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import InterpolationToMissingValueError, MissingMandatoryValue

from a3c_cli.config import CONFIG_DIR, available_cpus, validate, validate_test
from a3c_cli.errors import RunFailed, UsageError
from a3c_cli.processes import start_fork_server

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
        plain = resolved(cfg)
        validate(plain)
        share_cores_between_jobs(plain)
        start_fork_server()  # before torch loads here (~2 s): the workers' imports run meanwhile
        from a3c_cli.trainer import train  # torch and the emulators load only when a run starts

        return train(plain, HydraConfig.get().runtime.output_dir)
    return -math.inf  # only reached by a failed job of a sweep: reported, and the sweep goes on


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="test")
def test_app(cfg: DictConfig) -> float:
    from a3c_cli.play import play

    with reported_errors("test"):
        plain = resolved(cfg)
        validate_test(plain)
        return play(plain, HydraConfig.get().runtime.output_dir)["return"]["mean"]
    return -math.inf


# command -> (Hydra app, its config's name, the check of a resolved config)
HYDRA_COMMANDS = {"train": (train_app, "config", validate), "test": (test_app, "test", validate_test)}

# argparse commands: "module:function", the function taking argv and returning an exit code
PLAIN_COMMANDS = {
    "games": "a3c_cli.catalog:games_command",
    "roms": "a3c_cli.catalog:roms_command",
    "plot": "a3c_cli.plot:plot_command",
    "report": "a3c_cli.sweep:report_command",
    "bench": "a3c_cli.bench:bench_command",
}


def resolved(cfg: DictConfig) -> dict:
    """The job config as a plain dict: what workers and checkpoints receive (no live DictConfig)."""
    try:
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except (MissingMandatoryValue, InterpolationToMissingValueError) as exc:
        missing = re.search(r"Missing mandatory value: ([\w.]+)", str(exc))
        key = missing.group(1) if missing else exc.full_key
        raise UsageError(f"{key} is required: add {key}=... to the command") from exc


class reported_errors:
    """Turns a UsageError (exit code 2) or RunFailed (exit code 1) into one line on stderr; --debug
    lets the traceback through instead. In a job of a sweep the line is also kept in the job's
    result.json, and the exception is swallowed so that the sweep goes on to the next job."""

    def __init__(self, command: str):
        self.command = command

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None or not issubclass(exc_type, (UsageError, RunFailed)) or _debug():
            return False
        if in_sweep():
            from a3c_cli.sweep import write_job_result

            run_dir = HydraConfig.get().runtime.output_dir
            print(f"a3c {self.command}: error in {run_dir}: {exc}", file=sys.stderr)
            write_job_result(run_dir, "failed", None, str(exc))
            return True
        print(f"a3c {self.command}: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


def in_sweep() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def share_cores_between_jobs(cfg: dict) -> None:
    """Under joblib's launcher several jobs train at once on this machine: unless `workers` was
    given, each job gets its share of the cores instead of one worker per core."""
    hydra_cfg = HydraConfig.get()
    if not in_sweep() or "joblib" not in hydra_cfg.launcher.get("_target_", "").lower():
        return
    if any(o.startswith("workers=") for o in hydra_cfg.overrides.task):
        return
    n_jobs = hydra_cfg.launcher.n_jobs
    cores = available_cpus()
    cfg["workers"] = max(1, cores // (cores if n_jobs < 0 else n_jobs))
    log.info("joblib runs %s jobs at once: %d workers per job on %d cores", "one per core" if n_jobs < 0 else n_jobs,
             cfg["workers"], cores)


def _debug() -> bool:
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


_VERSION_SUFFIX = re.compile(r"-v\d+(?=,|\)|\]|$)")


def normalize_game_names(overrides: list[str]) -> list[str]:
    """Accept stable-retro's ids for game files: game=Pong-Atari2600-v0 -> game=Pong-Atari2600."""
    return [_VERSION_SUFFIX.sub("", o) if o.startswith("game=") else o for o in overrides]


def precheck(command: str, args: list[str]) -> dict | None:
    """Compose and validate every job the args describe, as Hydra will; raise UsageError.
    Returns the resolved config of a single run (None for a sweep, or when Hydra must judge)."""
    from hydra import compose, initialize_config_dir
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra._internal.utils import get_args_parser
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    _, config_name, check = HYDRA_COMMANDS[command]
    parsed = get_args_parser().parse_args(args)
    if parsed.help or parsed.hydra_help or parsed.info or parsed.shell_completion:
        return
    if parsed.config_dir or parsed.config_path or parsed.config_name:
        return  # configs from elsewhere: Hydra composes and reports them itself
    try:
        overrides = OverridesParser.create().parse_overrides(parsed.overrides)
    except HydraException as exc:
        raise UsageError(f"cannot parse overrides: {_first_line(exc)}") from exc
    if parsed.multirun:
        try:
            jobs = BasicSweeper.split_arguments(overrides, None)[0]
        except HydraException:
            return  # a sweeper's own search space (interval, tag): the jobs are checked as they start
    else:
        jobs = [parsed.overrides]
    plain = None
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        if parsed.multirun:
            check_sweep_plugins(compose, config_name, [o for o in parsed.overrides if o.startswith("hydra")])
        for job in jobs:
            try:
                cfg = compose(config_name, overrides=job, return_hydra_config=True)
                check_writable(cfg.hydra.sweep.dir if parsed.multirun else cfg.hydra.run.dir, "hydra.sweep.dir" if parsed.multirun else "hydra.run.dir")
                with open_dict(cfg):
                    del cfg["hydra"]  # the job's config is what gets validated
                if parsed.cfg is None:
                    plain = resolved(cfg)
                    check(plain)
            except UsageError:
                raise
            except HydraException as exc:
                raise UsageError(explain_composition_error(exc, command)) from exc
            except Exception:
                return None  # something only a running job can resolve (${hydra:...}): Hydra reports it
    return None if parsed.multirun else plain


def check_writable(folder: str, key: str) -> None:
    """The run's directory must be creatable: try in its nearest existing ancestor (permissions,
    a read-only file system, /proc), before Hydra fails there with a traceback."""
    import tempfile
    from pathlib import Path

    ancestor = Path(folder).absolute()
    while not ancestor.exists():
        ancestor = ancestor.parent
    try:
        Path(tempfile.mkdtemp(dir=ancestor, prefix=".a3c-write-test-")).rmdir()
    except OSError as exc:
        raise UsageError(f"cannot create the run directory {folder} ({exc.strerror} in {ancestor}): "
                         f"run from a writable folder or set {key}=<a writable path>") from exc


def resume_in_place(plain: dict | None, args: list[str]) -> list[str]:
    """`a3c train resume=...` goes on writing into the run directory it resumes (metrics.jsonl,
    TensorBoard, train.log), unless hydra.run.dir says otherwise. The checkpoint is checked here,
    before Hydra writes its snapshot into that directory: a refused resume changes nothing."""
    if not plain or not plain.get("resume"):
        return args
    from a3c_cli.checkpoint import load_checkpoint
    from a3c_cli.resume import check_resumable, find_checkpoint, run_dir_of

    path = find_checkpoint(plain["resume"], plain["game"]["name"])
    check_resumable(load_checkpoint(path), path, plain)
    if any(a.startswith("hydra.run.dir=") for a in args):
        return args
    return [*args, f"hydra.run.dir={run_dir_of(path)}"]


PLUGINS = {"hydra_plugins.hydra_joblib_launcher": "hydra-joblib-launcher",
           "hydra_plugins.hydra_submitit_launcher": "hydra-submitit-launcher",
           "hydra_plugins.hydra_optuna_sweeper": "hydra-optuna-sweeper",
           "hydra_plugins.hydra_ray_launcher": "hydra-ray-launcher"}


def check_sweep_plugins(compose, config_name: str, hydra_overrides: list[str]) -> None:
    """The launcher and sweeper a sweep names must be installed; Optuna must maximise."""
    from hydra.errors import HydraException

    try:
        hydra_cfg = compose(config_name, overrides=hydra_overrides, return_hydra_config=True).hydra
    except HydraException:
        return  # reported with the job's own composition below
    for part in ("launcher", "sweeper"):
        module = hydra_cfg[part]["_target_"].rsplit(".", 2)[0]
        if importlib.util.find_spec(module.split(".")[0]) and importlib.util.find_spec(module) is None:
            package = PLUGINS.get(module, module)
            extra = "ray" if "ray" in package else "sweeps"
            raise UsageError(f"hydra/{part}={hydra_cfg.runtime.choices[f'hydra/{part}']} needs the Hydra plugin {package}: "
                             f"pip install '{package}' (or the extra: pip install 'a3c-cli[{extra}]')")
    sweeper = hydra_cfg.sweeper
    if "Optuna" in sweeper["_target_"] and str(sweeper.get("direction")).endswith("minimize"):
        print("a3c train: warning: Optuna minimises by default, and a3c train returns the evaluation return: "
              "add hydra.sweeper.direction=maximize, or use hydra/sweeper=a3c_optuna", file=sys.stderr)


def explain_composition_error(exc: Exception, command: str) -> str:
    """One line for what Hydra reports in a dozen."""
    message = str(exc)
    missing = re.search(r"Could not find '(.+)/([^/']+)'", message)
    if missing:
        group, name = missing.groups()
        options = ", ".join(getattr(exc, "options", None) or [])
        return f"unknown {group} '{name}': choose one of {options}"
    unknown_key = re.search(r"Could not override '([^']+)'", message)
    if unknown_key:
        return f"unknown key '{unknown_key.group(1)}': check its spelling (`a3c {command} --cfg job` shows every key)"
    bad_value = re.search(r"Error merging override (\S+)", message)
    if bad_value and exc.__cause__ is not None:
        return f"{bad_value.group(1)}: {_first_line(exc.__cause__)}"
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0]


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
        print(f"a3c: error: unknown command '{command}': use one of {', '.join(commands)} (a3c --help)", file=sys.stderr)
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
        args = resume_in_place(precheck(command, args), args)
    sys.argv = [f"a3c {command}", *args]
    HYDRA_COMMANDS[command][0]()
    from a3c_cli import sweep

    if any(row["status"] == "failed" for row in sweep.last_summary or []):
        sys.exit(1)  # a sweep that went on past a failed job still did not succeed


if __name__ == "__main__":
    main()
