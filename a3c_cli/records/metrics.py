"""The run's records: metrics.jsonl (one JSON object per line), TensorBoard events, the text log.

Only the trainer's main process writes here; workers and the evaluator send it events.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

from a3c_cli.config.schema import TrainConfig, plain
from a3c_cli.records.rundir import METRICS, TENSORBOARD

log = logging.getLogger("a3c")

FILE_ONLY = {"file_only": True}  # log(..., extra=FILE_ONLY): into train.log, not onto the terminal


class NotFileOnly(logging.Filter):
    """The terminal's filter (conf/hydra/job_logging/rich.yaml): tracebacks stay in the file."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "file_only", False)


def summarize(values: list[float]) -> dict:
    if not values:
        return {"mean": None, "min": None, "max": None}
    return {"mean": sum(values) / len(values), "min": min(values), "max": max(values)}


class RunRecords:
    def __init__(self, run_dir: Path):
        from torch.utils.tensorboard import SummaryWriter

        self.path = run_dir / METRICS
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115  (open for the run's life; close() ends it)
        self._tensorboard = SummaryWriter(str(run_dir / TENSORBOARD))

    def _write(self, record: dict) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def train(self, time: float, counters: dict, fps: float, returns: list[float], lengths: list[int],
              learning: list[dict], sync: dict | None = None) -> dict:
        """A training line. `learning`: the loss's parts of each update since the previous line
        (per decision), recorded as their means; `sync`: a distributed run's syncs since then."""
        means = {name: sum(u[name] for u in learning) / len(learning) for name in learning[0]} if learning else {}
        record = {"kind": "train", "time": round(time, 2), **counters, "fps": round(fps, 1),
                  "episode_returns": returns, "episode_lengths": lengths, "episode_return": summarize(returns),
                  "learning": means, **({"sync": sync} if sync else {})}
        self._write(record)
        step = counters["frames"]
        for name, value in (sync or {}).items():
            self._tensorboard.add_scalar(f"sync/{name}", value, step)
        self._tensorboard.add_scalar("train/fps", fps, step)
        for name, value in means.items():
            self._tensorboard.add_scalar(f"learn/{name}", value, step)
        mean = record["episode_return"]["mean"]
        if mean is not None:
            self._tensorboard.add_scalar("train/episode_return", mean, step)
        shown = "-" if mean is None else f"{mean:.2f} over {len(returns)} episodes"
        entropy = f" | policy entropy {means['entropy']:.2f}" if means else ""
        log.info(
            "frames %s | updates %s | %.0f frames/s | training return %s%s",
            f"{step:,}",
            f"{counters['updates']:,}",
            fps,
            shown,
            entropy,
        )
        return record

    def run(self, time: float, counters: dict, cfg: TrainConfig) -> None:
        """The run's provenance, first in the file (and again where a resumed run goes on, with
        the counters it goes on from): the resolved config, the commit and the machine, so that
        its figures can be traced."""
        from a3c_cli.records.provenance import machine

        about = machine()
        self._write({"kind": "run", "time": round(time, 2), **counters, "commit": about.pop("commit"),
                     "machine": about, "config": plain(cfg)})

    def first_update(self, time: float, counters: dict, seconds: float) -> None:
        self._write({"kind": "start", "time": round(time, 2), **counters, "first_update_s": round(seconds, 2)})
        log.info("first update %.1f s after the command", seconds)

    def evaluation(self, time: float, evaluation: dict) -> dict:
        record = {"kind": "eval", "time": round(time, 2), **evaluation}
        self._write(record)
        stats = evaluation["eval_return"]
        for name in ("mean", "min", "max"):
            self._tensorboard.add_scalar(f"eval/return_{name}", stats[name], evaluation["frames"])
        self._tensorboard.flush()
        log.info(
            "evaluation at %s frames: return %.2f (min %.2f, max %.2f) over %d greedy episodes",
            f"{evaluation['frames']:,}",
            stats["mean"],
            stats["min"],
            stats["max"],
            len(evaluation["eval_returns"]),
        )
        return record

    def close(self) -> None:
        self._file.close()
        self._tensorboard.close()


def is_better(score: float, best: float | None) -> bool:
    return math.isfinite(score) and (best is None or score > best)
