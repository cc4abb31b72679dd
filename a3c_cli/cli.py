"""`a3c <command> [args]`: picks the command and hands the rest of argv to its Hydra app.

Before Hydra starts anything, the overrides are composed and validated here (every job of a
sweep too), so a typo, a wrong type or an impossible value is one line on stderr and exit code 2,
not a traceback after processes have started.
"""

from __future__ import annotations

import importlib
import os
import re
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import InterpolationToMissingValueError, MissingMandatoryValue

from a3c_cli.config import CONFIG_DIR, validate, validate_test
from a3c_cli.errors import RunFailed, UsageError

USAGE = """\
usage: a3c <command> [args] [--debug]

commands:
  train    train an A3C-LSTM agent (a3c train game=Pong-Atari2600 workers=2)
  test     play a trained agent: scores, a window or a video (a3c test game=Pong-Atari2600 record=gif)
  games    list games: config files, stable-retro's games, ROMs present (a3c games sonic)
  roms     import ROMs into stable-retro (a3c roms import PATH..., a3c roms import --atari)
  plot     overlay the learning curves of runs in one PNG (a3c plot RUN_DIR...)

train and test are Hydra apps: `a3c train --help` lists the config groups and keys,
`a3c train --cfg job` prints the composed config, `a3c train -m key=a,b` sweeps.
The others take --help. --debug shows the full traceback of an error.
"""


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def train_app(cfg: DictConfig) -> float:
    from a3c_cli.trainer import train  # torch and the emulators load only when a run starts

    with reported_errors("train"):
        plain = resolved(cfg)
        validate(plain)
        return train(plain, HydraConfig.get().runtime.output_dir)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="test")
def test_app(cfg: DictConfig) -> float:
    from a3c_cli.play import play

    with reported_errors("test"):
        plain = resolved(cfg)
        validate_test(plain)
        return play(plain, HydraConfig.get().runtime.output_dir)["return"]["mean"]


# command -> (Hydra app, its config's name, the check of a resolved config)
HYDRA_COMMANDS = {"train": (train_app, "config", validate), "test": (test_app, "test", validate_test)}

# argparse commands: "module:function", the function taking argv and returning an exit code
PLAIN_COMMANDS = {
    "games": "a3c_cli.catalog:games_command",
    "roms": "a3c_cli.catalog:roms_command",
    "plot": "a3c_cli.plot:plot_command",
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
    lets the traceback through instead."""

    def __init__(self, command: str):
        self.command = command

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None or not issubclass(exc_type, (UsageError, RunFailed)) or _debug():
            return False
        print(f"a3c {self.command}: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


def _debug() -> bool:
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


_VERSION_SUFFIX = re.compile(r"-v\d+(?=,|\)|\]|$)")


def normalize_game_names(overrides: list[str]) -> list[str]:
    """Accept stable-retro's ids for game files: game=Pong-Atari2600-v0 -> game=Pong-Atari2600."""
    return [_VERSION_SUFFIX.sub("", o) if o.startswith("game=") else o for o in overrides]


def precheck(command: str, args: list[str]) -> None:
    """Compose and validate every job the args describe, as Hydra will; raise UsageError."""
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
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        for job in jobs:
            try:
                cfg = compose(config_name, overrides=job, return_hydra_config=True)
                with open_dict(cfg):
                    del cfg["hydra"]  # the job's config is what gets validated
                if parsed.cfg is None:
                    check(resolved(cfg))
            except UsageError:
                raise
            except HydraException as exc:
                raise UsageError(explain_composition_error(exc, command)) from exc
            except Exception:
                return  # something only a running job can resolve (${hydra:...}): Hydra reports it


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
        precheck(command, args)
    sys.argv = [f"a3c {command}", *args]
    HYDRA_COMMANDS[command][0]()


if __name__ == "__main__":
    main()
