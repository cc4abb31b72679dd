"""The run directory: its layout, and the readers of what a run wrote. Every other module asks
here where a run's files are.

    outputs/<game>/<date>_<time>/      (or hydra.run.dir; a sweep's jobs: outputs/multirun/<time>/<n>/)
      .hydra/                          Hydra's snapshot: config.yaml, overrides.yaml, hydra.yaml
      metrics.jsonl                    one JSON record a line; "kind": run, start, train or eval
      tensorboard/                     event files
      curve.png                        the learning curve, redrawn at each evaluation
      train.log                        the plain-text log
      result.json                      a sweep job's status and value
      checkpoints/latest.pt, best.pt
    <checkpoints_dir>/<game>/best.pt   each game's best model, published across runs
"""

from __future__ import annotations

import gzip
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path

import yaml

from a3c_cli.records.files import atomic_path
from a3c_cli.system.errors import UsageError

log = logging.getLogger("a3c")

METRICS = "metrics.jsonl"
RESULT = "result.json"
CURVE = "curve.png"
TENSORBOARD = "tensorboard"
CHECKPOINTS = "checkpoints"


def latest_checkpoint(run_dir: str | Path) -> Path:
    return Path(run_dir) / CHECKPOINTS / "latest.pt"


def best_checkpoint(run_dir: str | Path) -> Path:
    return Path(run_dir) / CHECKPOINTS / "best.pt"


def published_best(checkpoints_dir: str | Path, game: str) -> Path:
    """Where the best model of a game is published, whichever run trained it."""
    return Path(checkpoints_dir) / game / "best.pt"


def shipped_agent(game: str) -> Path:
    """The agent a3c ships for a game (weights only, trained by `a3c bench learn`), if any:
    what `a3c test` plays when the user has trained none of their own."""
    return Path(__file__).parents[1] / "agents" / f"{game}.pt"


def run_dir_of(checkpoint: Path) -> Path:
    """The run directory a checkpoint belongs to (<run dir>/checkpoints/latest.pt)."""
    return checkpoint.parent.parent if checkpoint.parent.name == CHECKPOINTS else checkpoint.parent


def newest_run(game: str) -> Path | None:
    """The latest checkpoint of the newest run of a game under outputs/<game>/, if any."""
    candidates = sorted(Path("outputs", game).glob(f"*/{CHECKPOINTS}/latest.pt"), key=lambda p: p.stat().st_mtime)
    return candidates[-1] if candidates else None


def hydra_file(run_dir: str | Path, name: str):
    """The parsed run_dir/.hydra/<name> that Hydra writes for each run, None without one."""
    path = Path(run_dir) / ".hydra" / name
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None


def run_config(run: str | Path) -> dict | None:
    """The run's resolved config: from the "run" record at the top of its metrics.jsonl, or else
    (a run written before that record) from Hydra's snapshot, with its interpolations resolved
    where they can be (a game file's `name: ${slug:${.id}}`)."""
    if metrics_file(run).is_file():
        first = next((r for r in read_records(run) if r["kind"] == "run"), None)
        if first is not None and first.get("config"):
            return first["config"]
    config = hydra_file(run, "config.yaml") if Path(run).is_dir() else None
    if config is None:
        return None
    from omegaconf import OmegaConf

    import a3c_cli.config.schema  # noqa: F401  (registers the resolvers the snapshot's interpolations name)

    snapshot = OmegaConf.create(config)
    name = OmegaConf.select(snapshot, "game.name", throw_on_resolution_failure=False)
    config.setdefault("game", {})["name"] = name
    return config


# -- metrics.jsonl -----------------------------------------------------------------------------------

def metrics_file(run: str | Path) -> Path:
    """A run directory's metrics.jsonl, or the records file itself (.jsonl, or .jsonl.gz as kept
    in benchmarks/results/)."""
    run = Path(run)
    return run if run.is_file() else run / METRICS


def read_records(run: str | Path) -> list[dict]:
    """Every record in file order. The last line may be cut short because the trainer is writing
    it: it is left out; a bad line anywhere else is a damaged file."""
    path = metrics_file(run)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as file:
        lines = file.read().splitlines()
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number < len(lines):
                raise UsageError(f"{path} line {number} is not a JSON record: the file is damaged") from None
    return records


def read_metrics(run: str | Path) -> tuple[list[dict], list[dict]]:
    """(train records, eval records) in file order."""
    records = read_records(run)
    return [r for r in records if r["kind"] == "train"], [r for r in records if r["kind"] == "eval"]


def cut_metrics(run_dir: Path, frames: int) -> float:
    """Drop the lines metrics.jsonl holds beyond `frames` (a run killed after its last checkpoint
    went on a little: those frames are played again when it resumes); return the time the kept
    lines reach, which the resumed run's times continue from."""
    path = run_dir / METRICS
    if not path.exists():
        return 0.0
    kept, dropped = [], 0
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            dropped += 1  # a line cut short when the run was killed
            continue
        if record.get("frames", 0) > frames:
            dropped += 1
        else:
            kept.append(record)
    if dropped:
        with atomic_path(path) as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
        log.info("resume: dropped %d lines of metrics.jsonl recorded after the checkpoint", dropped)
    return max((r["time"] for r in kept), default=0.0)


# -- finding runs ------------------------------------------------------------------------------------

def find_runs(paths: list[Path], under: Callable[[Path], list[Path]] | None = None) -> list[Path]:
    """The runs the paths name, each once, in the order given; `under` finds them in one path
    (default: the folders with a metrics.jsonl, or a records file itself)."""
    under = under or runs_under
    runs: list[Path] = []
    for path in map(Path, paths):
        found = under(path)
        if not found:
            raise UsageError(f"no runs under {path}: give run directories written by `a3c train`, or a folder of them")
        runs += [run for run in found if run not in runs]
    return runs


def runs_under(path: Path) -> list[Path]:
    if path.is_file() and path.name.endswith((".jsonl", ".jsonl.gz")):
        return [path]
    if (path / METRICS).is_file():
        return [path]
    return sorted((metrics.parent for metrics in path.rglob(METRICS)), key=natural_order)


def natural_order(path: Path) -> list:
    """Sort a sweep's runs 0, 1, 2, ..., 10 rather than 0, 1, 10, 2."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


# -- result.json ------------------------------------------------------------------------------------

def read_result(run_dir: Path) -> dict:
    path = Path(run_dir) / RESULT
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def write_result(run_dir: str | Path, result: dict) -> None:
    with atomic_path(Path(run_dir) / RESULT) as tmp:
        tmp.write_text(json.dumps(result) + "\n", encoding="utf-8")
