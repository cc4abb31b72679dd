"""Rows of `a3c bench learn` kept with the repository (benchmarks/results/learn/): each finished
game's row and its gzipped metrics, named by the game, the budget and a fingerprint of the config
that trained it. A suite goes on from them: a game whose row for the same config is committed is
not trained again, on whichever machine, in whichever clone the suite runs.

The fingerprint covers the composed config of `a3c train` for the game (the game file, the
model, the optimizer, every learning setting, the workers and the seed), not the code: a change
of code that changes learning without changing a default needs its rows run again by hand (each
row names its commit)."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from pathlib import Path

import a3c_cli
from a3c_cli.records.files import read_json, write_json
from a3c_cli.records.rundir import metrics_file

# Keys that say how a run is shown or where it writes, not what it learns.
NOT_LEARNING = ("progress", "log_interval", "checkpoints_dir", "resume", "pin_workers", "max_minutes")


def default_folder() -> Path | None:
    """benchmarks/results/learn/ of the checkout a3c runs from; None for an installed wheel."""
    benchmarks = Path(a3c_cli.__file__).resolve().parents[1] / "benchmarks"
    return benchmarks / "results" / "learn" if benchmarks.is_dir() else None


def composed(game: str, train_args: list[str]) -> dict:
    """The config `a3c train game=<game> <train_args>` runs with, as the plain dict a row keeps."""
    from hydra import compose, initialize_config_dir

    from a3c_cli.config.compose import job_config
    from a3c_cli.config.schema import CONFIG_DIR, plain

    overrides = [f"game={game}", *train_args]
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        return plain(job_config(compose("config", overrides=overrides), "train", overrides))


def fingerprint(cfg: dict) -> str:
    learning = {key: value for key, value in cfg.items() if key not in NOT_LEARNING}
    return hashlib.sha1(json.dumps(learning, sort_keys=True).encode()).hexdigest()[:10]


def stem(game: str, frames: int, print_: str) -> str:
    return f"{game}-{frames / 1e6:g}M-{print_}"


def find(folder: Path | None, game: str, frames: int, print_: str) -> Path | None:
    """The committed row of this game, budget and config, if there is one."""
    if folder is None:
        return None
    path = folder / f"{stem(game, frames, print_)}.json"
    return path if path.is_file() else None


def keep(folder: Path, run_dir: Path, row: dict, cfg: dict, frames: int) -> Path:
    """A finished game's row (with its config and fingerprint) and gzipped metrics, into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    print_ = fingerprint(cfg)
    path = folder / f"{stem(row['game'], frames, print_)}.json"
    with open(metrics_file(run_dir), "rb") as source, gzip.open(path.with_suffix(".metrics.jsonl.gz"), "wb") as out:
        shutil.copyfileobj(source, out)
    write_json(path, {**row, "fingerprint": print_, "config": cfg})
    return path


def take(path: Path, run_dir: Path, row_name: str) -> dict:
    """A committed row as this suite's row of its game (its metrics beside it, for the figure)."""
    row = read_json(path)
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path.with_suffix(".metrics.jsonl.gz"), run_dir / "metrics.jsonl.gz")
    write_json(run_dir / row_name, {**row, "committed": str(path)})
    return row
