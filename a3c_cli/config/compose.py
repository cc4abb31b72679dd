"""Composing a command's config as Hydra will, before Hydra starts anything: every job of a
sweep is composed and validated here, so a typo, a wrong type or an impossible value is one line
on stderr and exit code 2, not a traceback after processes have started.

`job_config` is the one way from a composed config to what the code reads: the schema's
dataclasses (schema.py), read-only. Each job goes through it once, in its own process; `precheck`
runs it first on every job that the command line describes."""

from __future__ import annotations

import argparse
import copy
import importlib.util
import itertools
import re
import sys
from collections.abc import Sequence
from dataclasses import replace

from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from omegaconf.errors import InterpolationToMissingValueError, MissingMandatoryValue

from a3c_cli.config.schema import CONFIG_DIR, TestConfig, TrainConfig
from a3c_cli.config.validation import validate, validate_test
from a3c_cli.system.errors import UsageError

# command -> (its config's name, the check of its typed config)
CONFIGS = {"train": ("config", validate), "test": ("test", validate_test)}


def job_config(cfg: DictConfig, command: str, overrides: Sequence[str] = (),
               workers: int | None = None) -> TrainConfig | TestConfig:
    """A composed job config (Hydra's, without its `hydra` node) as the code reads it: resolved
    into the schema's dataclasses, read-only; a limit given alone winning over the default one
    (given_limits); `workers`, when given (a job's share of the cores under joblib's launcher), in
    place of the composed count, the defaults that follow it (envs_per_worker, optim.lr) left as
    they resolved; its values checked (validation.py)."""
    try:
        typed = OmegaConf.to_object(cfg)
    except (MissingMandatoryValue, InterpolationToMissingValueError) as exc:
        missing = re.search(r"Missing mandatory value: ([\w.]+)", str(exc))
        key = missing.group(1) if missing else exc.full_key
        raise UsageError(f"{key} is required: add {key}=... to the command") from exc
    if command == "train":
        changes = given_limits(typed, overrides) | ({} if workers is None else {"workers": workers})
        typed = replace(typed, **changes) if changes else typed
    CONFIGS[command][1](typed)
    return typed


def given_limits(cfg: TrainConfig, overrides: Sequence[str]) -> dict:
    """A limit the user gives wins over a default they did not give: `max_minutes=15` alone
    means 15 minutes, not "15 minutes or the default max_frames, whichever comes first"."""
    given = {o.split("=", 1)[0].lstrip("+~") for o in overrides}
    if "max_minutes" in given and cfg.max_minutes is not None and "max_frames" not in given:
        return {"max_frames": None}
    return {}


def without_hydra(cfg: DictConfig) -> DictConfig:
    """The job's part of a config composed with its `hydra` node, as Hydra hands it to the job."""
    job = copy.deepcopy(cfg)
    with read_write(job), open_dict(job):
        del job["hydra"]
    return job


_VERSION_SUFFIX = re.compile(r"-v\d+(?=,|\)|\]|$)")


def normalize_game_names(overrides: list[str]) -> list[str]:
    """Accept stable-retro's ids for game files: game=Pong-Atari2600-v0 -> game=Pong-Atari2600."""
    return [_VERSION_SUFFIX.sub("", o) if o.startswith("game=") else o for o in overrides]


def hydra_args(args: list[str]) -> argparse.Namespace:
    """The command line as a Hydra app reads it (Hydra's own flags, then the overrides); a bad
    flag exits with argparse's message, as Hydra would."""
    import hydra

    parser = argparse.ArgumentParser(add_help=False)
    for flags in (["--help", "-h"], ["--hydra-help"], ["--resolve"], ["--run", "-r"], ["--multirun", "-m"],
                  ["--shell-completion", "-sc"]):
        parser.add_argument(*flags, action="store_true")
    for flags in (["--package", "-p"], ["--config-path", "-cp"], ["--config-name", "-cn"], ["--config-dir", "-cd"],
                  ["--experimental-rerun"]):
        parser.add_argument(*flags)
    parser.add_argument("--cfg", "-c", choices=["job", "hydra", "all"])
    parser.add_argument("--info", "-i", nargs="?", const="all",
                        choices=["all", "config", "defaults", "defaults-tree", "plugins", "searchpath"])
    parser.add_argument("--version", action="version", version=f"Hydra {hydra.__version__}")
    parser.add_argument("overrides", nargs="*")
    return parser.parse_args(args)


def sweep_jobs(overrides: list) -> list[list[str]] | None:
    """The jobs of a multirun under Hydra's basic sweeper: every combination of the values each
    key sweeps (a=1,2 b=x,y: four jobs), a later override of a key replacing an earlier one.
    None for a sweeper's own search space (interval, tag), which only the sweeper expands."""
    by_key: dict[str, list[str]] = {}
    for override in overrides:
        key = override.get_key_element()
        if not override.is_sweep_override():
            by_key[key] = [f"{key}={override.get_value_element_as_str()}"]
        elif override.is_discrete_sweep():
            by_key[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:
            return None
    return [list(job) for job in itertools.product(*by_key.values())]


def precheck(command: str, args: list[str]) -> TrainConfig | TestConfig | None:
    """Compose and validate every job the args describe, as Hydra will; raise UsageError.
    Returns the typed config of a single run (None for a sweep, or when Hydra must judge)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    config_name, _ = CONFIGS[command]
    parsed = hydra_args(args)
    if parsed.help or parsed.hydra_help or parsed.info or parsed.shell_completion:
        return
    if parsed.config_dir or parsed.config_path or parsed.config_name:
        return  # configs from elsewhere: Hydra composes and reports them itself
    try:
        overrides = OverridesParser.create().parse_overrides(parsed.overrides)
    except HydraException as exc:
        raise UsageError(f"cannot parse overrides: {_first_line(exc)}") from exc
    jobs = sweep_jobs(overrides) if parsed.multirun else [parsed.overrides]
    if jobs is None:
        return  # a sweeper's own search space: the jobs are checked as they start
    typed = None
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        if parsed.multirun:
            check_sweep_plugins(compose, config_name, [o for o in parsed.overrides if o.startswith("hydra")])
        for job in jobs:
            try:
                cfg = compose(config_name, overrides=job, return_hydra_config=True)
                if parsed.cfg is None:
                    typed = job_config(without_hydra(cfg), command, job)
                check_writable(
                    cfg.hydra.sweep.dir if parsed.multirun else cfg.hydra.run.dir,
                    "hydra.sweep.dir" if parsed.multirun else "hydra.run.dir",
                )
            except UsageError:
                raise
            except HydraException as exc:
                raise UsageError(explain_composition_error(exc, command)) from exc
            except Exception:
                return None  # something only a running job can resolve (${hydra:...}): Hydra reports it
    return None if parsed.multirun else typed


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
        raise UsageError(
            f"cannot create the run directory {folder} ({exc.strerror} in {ancestor}): "
            f"run from a writable folder or set {key}=<a writable path>"
        ) from exc


PLUGINS = {
    "hydra_plugins.hydra_joblib_launcher": "hydra-joblib-launcher",
    "hydra_plugins.hydra_submitit_launcher": "hydra-submitit-launcher",
    "hydra_plugins.hydra_optuna_sweeper": "hydra-optuna-sweeper",
    "hydra_plugins.hydra_ray_launcher": "hydra-ray-launcher",
}


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
            raise UsageError(
                f"hydra/{part}={hydra_cfg.runtime.choices[f'hydra/{part}']} needs the Hydra plugin {package}: "
                f"pip install '{package}' (or the extra: pip install 'a3c-cli[{extra}]')"
            )
    sweeper = hydra_cfg.sweeper
    if "Optuna" in sweeper["_target_"] and str(sweeper.get("direction")).endswith("minimize"):
        print(
            "a3c train: warning: Optuna minimises by default, and a3c train returns the evaluation return: "
            "add hydra.sweeper.direction=maximize, or use hydra/sweeper=a3c_optuna",
            file=sys.stderr,
        )


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
