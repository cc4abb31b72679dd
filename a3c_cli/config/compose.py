"""Composing a command's config as Hydra will, before Hydra starts anything: every job of a
sweep is composed and validated here, so a typo, a wrong type or an impossible value is one line
on stderr and exit code 2, not a traceback after processes have started."""

from __future__ import annotations

import importlib.util
import re
import sys

from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import InterpolationToMissingValueError, MissingMandatoryValue

from a3c_cli.config.schema import CONFIG_DIR
from a3c_cli.config.validation import validate, validate_test
from a3c_cli.system.errors import UsageError

# command -> (its config's name, the check of a resolved config)
CONFIGS = {"train": ("config", validate), "test": ("test", validate_test)}


def resolved(cfg: DictConfig) -> dict:
    """The job config as a plain dict: what workers and checkpoints receive (no live DictConfig)."""
    try:
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except (MissingMandatoryValue, InterpolationToMissingValueError) as exc:
        missing = re.search(r"Missing mandatory value: ([\w.]+)", str(exc))
        key = missing.group(1) if missing else exc.full_key
        raise UsageError(f"{key} is required: add {key}=... to the command") from exc


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

    config_name, check = CONFIGS[command]
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
                check_writable(
                    cfg.hydra.sweep.dir if parsed.multirun else cfg.hydra.run.dir,
                    "hydra.sweep.dir" if parsed.multirun else "hydra.run.dir",
                )
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


def given_limits_win(cfg: dict, overrides: list[str]) -> None:
    """A limit the user gives wins over a default they did not give: `max_minutes=15` alone
    means 15 minutes, not "15 minutes or the default max_frames, whichever comes first"."""
    given = {o.split("=", 1)[0].lstrip("+~") for o in overrides}
    if "max_minutes" in given and cfg["max_minutes"] is not None and "max_frames" not in given:
        cfg["max_frames"] = None
