"""`a3c train resume=...`: find the checkpoint to go on from, check that this run can continue it,
and cut metrics.jsonl back to that checkpoint, so that the file has no line twice."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from a3c_cli.checkpoint import check_same_game
from a3c_cli.errors import UsageError
from a3c_cli.files import atomic_path

log = logging.getLogger("a3c")


def find_checkpoint(resume: str, game: str) -> Path:
    """`resume` is a run directory, a checkpoint file, or "latest": the newest run of this game
    under outputs/<game>/."""
    if resume == "latest":
        candidates = sorted(Path("outputs", game).glob("*/checkpoints/latest.pt"), key=lambda p: p.stat().st_mtime)
        if not candidates:
            raise UsageError(f"resume=latest: no run of {game} under outputs/{game}/ to resume: start one with a3c train game={game}")
        return candidates[-1]
    path = Path(resume)
    if path.is_dir():
        path = path / "checkpoints" / "latest.pt"
    if not path.is_file():
        raise UsageError(f"resume={resume}: no checkpoint there: give a run directory, a .pt file, or resume=latest")
    return path


def run_dir_of(checkpoint: Path) -> Path:
    """The run directory a checkpoint belongs to (<run dir>/checkpoints/latest.pt)."""
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent


def check_resumable(checkpoint: dict, path: Path, cfg: dict) -> None:
    """Refuse what cannot continue the same agent; log what changes and may."""
    check_same_game(checkpoint, path, cfg["game"])
    before = checkpoint["config"]
    if before["model"] != cfg["model"]:
        changed = ", ".join(f"model.{k}={before['model'][k]}" for k in cfg["model"] if before["model"][k] != cfg["model"][k])
        raise UsageError(f"resume: {path} was trained with {changed}: a resumed run keeps the model's shape")
    if before["optim"]["name"] != cfg["optim"]["name"] or before["optim"]["shared"] != cfg["optim"]["shared"]:
        raise UsageError(f"resume: {path} was trained with optim={before['optim']['name']} (shared: {before['optim']['shared']}): "
                         f"a resumed run keeps its optimizer")
    for key in ("workers", "max_frames", "max_minutes", "rollout_steps", "gamma", "gae_lambda", "entropy_coef", "entropy_target",
                "value_coef"):
        if before.get(key) != cfg[key]:  # .get: a checkpoint older than the key
            log.info("resume: %s %s -> %s", key, before.get(key), cfg[key])
    for key in before["optim"]:
        if before["optim"][key] != cfg["optim"][key]:
            log.info("resume: optim.%s %s -> %s", key, before["optim"][key], cfg["optim"][key])


def cut_metrics(run_dir: Path, frames: int) -> float:
    """Drop the lines metrics.jsonl holds beyond the checkpoint (a run killed after its last
    checkpoint went on a little: those frames are played again); return the time the kept lines
    reach, which the resumed run's times continue from."""
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return 0.0
    kept, dropped = [], 0
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            dropped += 1  # a line cut short when the run was killed
            continue
        if record["frames"] > frames:
            dropped += 1
        else:
            kept.append(record)
    if dropped:
        with atomic_path(path) as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
        log.info("resume: dropped %d lines of metrics.jsonl recorded after the checkpoint", dropped)
    return max((r["time"] for r in kept), default=0.0)
