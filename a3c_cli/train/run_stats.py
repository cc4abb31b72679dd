"""What the trainer keeps of its processes' events: the episodes and updates since the last
training line (written to the run's records, where divergence shows), the recent returns the
display shows, and the last and best evaluations; and the run's records themselves, from its
first line to the trainer's own latest.pt at the end.

RunStats is the keeper of rank 0 (the only rank of a run on one machine); NoRecords that of a
distributed run's other ranks, whose events rank 0 keeps."""

from __future__ import annotations

import logging
from collections import deque
from pathlib import Path

from a3c_cli.agent.shared import SharedAgent
from a3c_cli.config.schema import TrainConfig
from a3c_cli.records.checkpoint import make_checkpoint, save_checkpoint
from a3c_cli.records.metrics import RunRecords
from a3c_cli.records.rundir import CHECKPOINTS, CURVE, latest_checkpoint, published_best
from a3c_cli.system.processes import seconds_alive

log = logging.getLogger("a3c")

DIVERGED_FRACTION = 0.5  # of the last JUDGED_UPDATES or more updates skipped as non-finite: the run diverged
JUDGED_UPDATES = 10
RECENT_EPISODES = 20  # the display's running mean of training returns


class RunStats:
    def __init__(self, cfg: TrainConfig, run_dir: Path, records: RunRecords, start: dict, resumed: dict | None,
                 now: float):
        """`start`: the counters at the start (a resumed run's go on); `now`: the run's clock then."""
        self.cfg, self.run_dir, self.records = cfg, run_dir, records
        self.returns: list[float] = []  # training episodes since the last training line
        self.lengths: list[int] = []
        self.learning: list[dict] = []  # the loss's parts of each update since the last training line
        self.recent = deque(maxlen=RECENT_EPISODES)
        self.last_eval: dict | None = resumed["evaluation"] if resumed else None
        self.best: float | None = resumed["best_return"] if resumed else None
        self.line_time, self.line_frames = now, start["frames"]  # when the last training line was written
        self.line_updates = start["updates"]
        self.judged_updates, self.judged_skipped = start["updates"], start["skipped_updates"]  # counted since
        self.start_updates, self.first_update_s = start["updates"], None

    def first_record(self, now: float, counters: dict) -> None:
        """The run's provenance, first in metrics.jsonl: its resolved config, commit and machine."""
        self.records.run(now, counters, self.cfg)

    def handle(self, event: dict, now: float) -> None:
        """An event from a worker or the evaluator (errors are the loop's)."""
        kind = event.pop("kind")
        if kind == "episode":
            self.returns.append(event["return"])
            self.lengths.append(event["length"])
            self.recent.append(event["return"])
        elif kind == "learning":
            self.learning.append(event)
        elif kind == "eval":
            self.last_eval = event
            self.best = event["best"]
            self.records.evaluation(now, {k: v for k, v in event.items() if k not in ("improved", "best")})
            self.refresh_curve()
            if event.get("published"):
                log.info("new best model: %s", published_best(self.cfg.checkpoints_dir, self.cfg.game.name))

    def refresh_curve(self) -> None:
        """curve.png: evaluation and training return against frames, redrawn at each evaluation."""
        from a3c_cli.records.plot import write_curve

        try:
            write_curve(self.run_dir)
        except Exception as exc:  # a picture is not worth stopping a run for
            log.warning("could not draw %s: %s", self.run_dir / CURVE, exc)

    def line_due(self, now: float) -> bool:
        return now - self.line_time >= self.cfg.log_interval

    def write_train_line(self, counters: dict, now: float, sync: dict | None = None) -> str | None:
        """A training line: counters, frames/s since the previous line, the episodes finished (and
        a distributed run's sync figures); none while no update happened (the workers starting).
        Returns why the run must stop when it diverged: most of the last 10 or more updates
        skipped as non-finite."""
        if counters["updates"] == self.line_updates and not self.returns:
            self.line_time = now
            return None
        fps = (counters["frames"] - self.line_frames) / max(now - self.line_time, 1e-9)
        self.records.train(now, counters, fps, self.returns, self.lengths, self.learning, sync)
        self.returns, self.lengths, self.learning = [], [], []
        self.line_time, self.line_frames, self.line_updates = now, counters["frames"], counters["updates"]
        updates = counters["updates"] - self.judged_updates
        skipped = counters["skipped_updates"] - self.judged_skipped
        if updates < JUDGED_UPDATES:  # a slow machine makes fewer updates a line: judge over several lines
            return None
        self.judged_updates, self.judged_skipped = counters["updates"], counters["skipped_updates"]
        if skipped >= DIVERGED_FRACTION * updates:
            return (f"training diverged: {skipped} of the last {updates} updates had a non-finite loss or "
                    f"gradient and were skipped (try a lower optim.lr or game.reward_scale)")
        return None

    def note_first_update(self, counters: dict, now: float) -> None:
        """How long start-up took (processes, imports, emulators): from the command to the first
        update of the shared model (from the run's start where /proc cannot say)."""
        if self.first_update_s is None and counters["updates"] > self.start_updates:
            self.first_update_s = seconds_alive() or now
            self.records.first_update(now, counters, self.first_update_s)

    def final_evaluated(self) -> bool:
        """The evaluation at the run's limit came (and saved latest.pt)."""
        return bool(self.last_eval and self.last_eval.get("final"))

    def save_latest(self, agent: SharedAgent, counters: dict) -> None:
        """latest.pt from the trainer, where no final evaluation saved it (a signal, a failure)."""
        checkpoint = make_checkpoint(agent.model, agent.optimizer, counters, self.cfg, self.last_eval, self.best,
                                     agent.entropy_weight.value)
        save_checkpoint(checkpoint, latest_checkpoint(self.run_dir))

    def close(self) -> None:
        self.records.close()

    def say_where(self) -> None:
        log.info("checkpoints: %s", self.run_dir.resolve() / CHECKPOINTS)


class NoRecords:
    """A distributed run's rank but 0: its events go to rank 0 at the syncs (the Ranks interface),
    where they are kept, written and judged with every rank's; this rank keeps and writes none."""

    recent = ()
    last_eval = best = None

    def first_record(self, now: float, counters: dict) -> None:
        pass

    def handle(self, event: dict, now: float) -> None:
        pass  # not reached: this rank's events went to rank 0

    def line_due(self, now: float) -> bool:
        return False

    def write_train_line(self, counters: dict, now: float, sync: dict | None = None) -> str | None:
        return None

    def note_first_update(self, counters: dict, now: float) -> None:
        pass

    def final_evaluated(self) -> bool:
        return False

    def save_latest(self, agent: SharedAgent, counters: dict) -> None:
        pass

    def close(self) -> None:
        pass

    def say_where(self) -> None:
        pass


def describe_run(cfg: TrainConfig, ranks: int) -> str:
    """The run's shape, as its first lines say it."""
    where = f" on each of {ranks} ranks ({cfg.workers * ranks} workers in all)" if ranks > 1 else ""
    return (f"{cfg.game.name}: {cfg.workers} workers x {cfg.envs_per_worker} environments{where}, "
            f"{cfg.optim.name} optimizer (lr {cfg.optim.lr:g}, "
            f"{'shared' if cfg.optim.shared else 'per-worker'} statistics), LSTM {cfg.model.lstm_size}")


def describe_counts(counters: dict, seconds: float) -> str:
    return (f"{counters['frames']:,} frames, {counters['updates']:,} updates, {counters['episodes']:,} episodes in "
            f"{seconds:.0f} s ({counters['frames'] / max(seconds, 1e-9):.0f} frames/s)")
