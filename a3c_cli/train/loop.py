"""A run's life in one place: Training.run, read top to bottom, writes the run's first record,
sets the signals that stop it, starts the processes, watches them until there is a reason to stop,
stops them cleanly, writes the last records and returns the outcome (or raises it).

Why the run stops is kept here alone: a limit (max_frames, max_minutes); a failure (a process
that died too often, an error no restart mends, divergence, records that cannot be written, a
rank lost); a signal (Ctrl-C, SIGTERM); or, in a distributed run, the reason every rank agreed on
at a sync. The parts it calls: the Supervisor starts, replaces and stops the processes and says
what happened to them; RunStats keeps what their events say and writes the run's records; Ranks
(distributed/ranks.py) stands for the other ranks of a distributed run, and on one machine does
nothing. The main process holds no emulator (stable-retro allows one per process).
"""

from __future__ import annotations

import logging
import math
import signal
import sys
import time
from collections import deque
from pathlib import Path

from a3c_cli.agent.shared import SharedAgent
from a3c_cli.config.schema import TrainConfig
from a3c_cli.distributed.ranks import Ranks
from a3c_cli.distributed.sync import RankLost
from a3c_cli.records.metrics import RunRecords
from a3c_cli.system.errors import Interrupted, RunFailed, UsageError, os_error_text
from a3c_cli.train.progress import Display, Snapshot
from a3c_cli.train.run_stats import NoRecords, RunStats, describe_counts, describe_run
from a3c_cli.train.supervisor import Supervisor

log = logging.getLogger("a3c")

JOIN_SECONDS = 10.0  # a worker finishes its rollout and update well within this
LIMITS = ("max_frames", "max_minutes")  # the reasons a run stops by itself


def limits_text(cfg: TrainConfig) -> str:
    """When the run will stop, as its first lines say it."""
    limits = []
    if cfg.max_frames is not None:
        limits.append(f"at {cfg.max_frames:,} frames")
    if cfg.max_minutes is not None:
        limits.append(f"after {cfg.max_minutes:g} minutes")
    if not limits:
        return "no limit: it runs until Ctrl-C"
    return "stops " + " or ".join(limits) + (", whichever comes first" if len(limits) > 1 else "")


class EvaluationSchedule:
    """An evaluation every eval_interval frames (counted from 0, so also after a resume); one
    slower than the interval is not queued twice."""

    def __init__(self, interval: int, frames: int):
        self.interval = interval
        self.next = (frames // interval + 1) * interval

    def due(self, frames: int) -> bool:
        if frames < self.next:
            return False
        self.next = (frames // self.interval + 1) * self.interval
        return True


class Training:
    def __init__(self, cfg: TrainConfig, run_dir: Path, agent: SharedAgent, resumed: dict | None, ranks: Ranks,
                 seed: int):
        """`agent`: the shared model, optimizer and entropy weight (resumed where `resumed` says);
        `ranks`: the other ranks of a distributed run, or none (distributed/ranks.py); `seed`:
        this rank's first worker's."""
        self.cfg, self.run_dir, self.agent, self.ranks = cfg, run_dir, agent, ranks
        self.started = time.monotonic() - (resumed["time"] if resumed else 0.0)  # times go on after a resume
        # Rank 0 (the only rank on one machine) evaluates and keeps the run's records; the others
        # send it their events (Ranks.keeps).
        self.processes = Supervisor(cfg, run_dir, agent, start=resumed["counters"] if resumed else None,
                                    evaluates=ranks.keeps_records, seed=seed)
        self.counters = self.processes.counters
        self.stats = (RunStats(cfg, run_dir, RunRecords(run_dir), self.counters.snapshot(), resumed, self.elapsed())
                      if ranks.keeps_records else NoRecords())
        # Why the run stops (with the reason run() returns), kept here alone:
        self.failure: str | None = None  # why the run cannot go on: the first cause found
        self.usage_error: str | None = None  # a failure caused by the config, not by the code
        self.signal_received: int | None = None  # the first Ctrl-C or SIGTERM (or SIGTERM: another rank's)
        self.view = Snapshot(title=f"a3c train {cfg.game.name} - {cfg.workers} workers",
                             max_frames=cfg.max_frames, max_minutes=cfg.max_minutes)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    # -- the run's life -------------------------------------------------------------------------

    def run(self) -> float:
        """The run from start to stop. Whatever happens, the processes end and the last records
        and checkpoint are written. Returns the best evaluation return (what sweepers maximise);
        raises UsageError, RunFailed or Interrupted for a run that did not reach its limit."""
        cfg = self.cfg
        log.info("run directory: %s", self.run_dir.resolve())
        log.info("%s; %s", describe_run(cfg, self.ranks.world_size), limits_text(cfg))
        self.stats.first_record(self.elapsed(), self.counters.snapshot())
        previous_handlers = self.catch_signals()
        reason, final_evaluated = "interrupted", False
        try:
            with Display(self.view, enabled=cfg.progress and sys.stdout.isatty()):
                # 1. start the processes and watch them until there is a reason to stop
                try:
                    self.processes.start(best=self.stats.best)
                    reason = self.watch()
                except OSError as exc:  # the run's records could not be written: a full disk
                    reason, self.failure = "failed", f"cannot write the run's records: {os_error_text(exc)}"
                except KeyboardInterrupt:
                    signame = signal.Signals(self.signal_received or signal.SIGINT).name
                    log.warning("%s: stopping the workers and saving a checkpoint (Ctrl-C again to skip the wait)",
                                signame)
                # 2. a clean stop: the workers, the final evaluation at a limit, the evaluator
                try:
                    final_evaluated = self.stop_processes(reason)
                except KeyboardInterrupt:
                    log.warning("interrupted again: killing the workers")
                    reason = "interrupted"
                except OSError as exc:  # the records of the last moments could not be written
                    log.warning("could not write while stopping: %s", exc)
                # 3. the last records: the episodes not yet written, latest.pt where no final
                # evaluation saved it. They take a moment: a third signal must not cut them.
                if previous_handlers:
                    signal.signal(signal.SIGINT, signal.SIG_IGN)
                    signal.signal(signal.SIGTERM, signal.SIG_IGN)
                self.processes.kill_all()
                self.best_effort(self.write_train_line)
                if not final_evaluated:
                    self.best_effort(lambda: self.stats.save_latest(self.agent, self.counters.snapshot()))
                self.update_view(self.view.fps, reason)
        finally:
            self.processes.kill_all()
            self.best_effort(self.stats.close)
            for signum, handler in previous_handlers.items():
                signal.signal(signum, handler)
        self.log_summary(reason)
        return self.outcome(reason)

    def watch(self) -> str:
        """Watch the run until there is a reason to stop, and return it: a limit, a failure, a
        signal, or the reason another rank voted for."""
        cfg, processes = self.cfg, self.processes
        fps_window = deque([(self.elapsed(), self.counters.frames)], maxlen=20)  # ~5 s of (time, frames): the display
        schedule = EvaluationSchedule(cfg.eval_interval, self.counters.frames)
        while True:
            processes.read_events(0.25, self.handle)
            frames = self.counters.frames
            fps_window.append((self.elapsed(), frames))
            fps = (fps_window[-1][1] - fps_window[0][1]) / max(fps_window[-1][0] - fps_window[0][0], 1e-9)
            self.update_view(fps, f"training ({processes.restarts} restarts)" if processes.restarts else "training")
            self.stats.note_first_update(self.counters.snapshot(), self.elapsed())
            if self.stats.line_due(self.elapsed()):
                self.write_train_line()
            reason = self.agree(self.vote(frames))
            if reason is not None:
                return reason
            if schedule.due(frames) and processes.can_evaluate():
                processes.request_evaluation(final=False)

    def vote(self, frames: int) -> str | None:
        """Why this rank would stop now (None: go on); in a distributed run, its vote at the next sync."""
        cfg = self.cfg
        if self.signal_received is not None:  # set here only in a distributed run: elsewhere a signal raises
            return "interrupted"
        if self.failure is not None or not self.replace_dead():
            return "failed"
        if cfg.max_frames is not None and frames >= cfg.max_frames:
            return "max_frames"
        if cfg.max_minutes is not None and self.elapsed() >= cfg.max_minutes * 60:
            return "max_minutes"
        return None

    def agree(self, vote: str | None) -> str | None:
        """The reason every rank stops for now, None to go on: on one machine its own vote; in a
        distributed run, the one the ranks agree on at a sync (where rank 0 also gets the other
        ranks' events)."""
        try:
            agreed, events = self.ranks.sync(self.counters, vote)
        except RankLost as exc:
            self.failure = str(exc)
            return "failed"
        for event in events:
            self.stats.handle(event, self.elapsed())
        if agreed is None:
            return None
        if agreed.reason == "failed" and agreed.rank != self.ranks.rank:
            self.fail(f"rank {agreed.rank} failed: see its log")
        if agreed.reason == "interrupted" and self.signal_received is None:
            self.signal_received = signal.SIGTERM
        return agreed.reason

    def stop_processes(self, reason: str) -> bool:
        """Stop the workers; evaluate the final weights when the run reached its limit; stop the
        evaluator. Returns whether the final evaluation (which saves latest.pt) happened."""
        processes = self.processes
        processes.stop.set()
        self.view.status = "stopping workers"
        processes.join(processes.workers, JOIN_SECONDS, self.handle)
        if reason in LIMITS and processes.evaluator_alive():
            self.view.status = "final evaluation"
            processes.request_evaluation(final=True)
            while processes.evaluator_alive() and not self.stats.final_evaluated():
                processes.read_events(0.25, self.handle)
        processes.stop_evaluator()
        # An interrupted run does not wait for an evaluation in progress: it only plays episodes.
        evaluator = [processes.evaluator] if processes.evaluator is not None else []
        processes.join(evaluator, JOIN_SECONDS if reason in LIMITS else 2.0, self.handle)
        processes.read_events(0.1, self.handle)
        return self.stats.final_evaluated()

    def outcome(self, reason: str) -> float:
        if self.usage_error is not None:
            raise UsageError(self.usage_error)
        if reason == "failed":
            raise RunFailed(f"{self.failure} (the traceback is in {self.run_dir / 'train.log'})")
        if reason == "interrupted":
            raise Interrupted(self.signal_received or signal.SIGINT)  # exit code 130 for Ctrl-C, 143 for SIGTERM
        # -inf, not NaN, when nothing was evaluated: sweepers (Optuna) rank -inf and fail on NaN
        return self.stats.best if self.stats.best is not None else -math.inf

    # -- the reasons to stop --------------------------------------------------------------------

    def fail(self, why: str) -> None:
        """The run cannot go on; the first cause is the one reported."""
        if self.failure is None:
            self.failure = why

    def handle(self, event: dict) -> None:
        """An event from this rank's processes: an error (already logged by the Supervisor) may be
        a reason to stop; any other goes to the run's records, which rank 0 keeps (Ranks.keeps)."""
        if event["kind"] == "error":
            if event["usage"] is not None and self.usage_error is None:
                self.usage_error = event["usage"]
            if event["fatal"] is not None:
                self.fail(event["fatal"])  # a full disk: no restart helps
        elif self.ranks.keeps(event):
            self.stats.handle(event, self.elapsed())

    def replace_dead(self) -> bool:
        """Restart the workers or the evaluator that died; False when the run cannot go on."""
        dead = self.processes.dead()
        if not dead:
            return True
        self.processes.read_events(0.2, self.handle)  # their error events, if they managed to send them
        if self.usage_error is not None or self.failure is not None:
            return False  # the config or the disk is wrong: a restart would fail the same way
        given_up = self.processes.replace(dead, best=self.stats.best)
        if given_up is not None:
            self.fail(given_up)
        return given_up is None

    def write_train_line(self) -> None:
        diverged = self.stats.write_train_line(self.counters.snapshot(), self.elapsed(), self.ranks.traffic())
        if diverged is not None:
            self.fail(diverged)

    def catch_signals(self) -> dict:
        """Ctrl-C and SIGTERM (what a scheduler sends before preempting) stop the run: on one
        machine at once (KeyboardInterrupt), in a distributed run at the next sync, with every rank
        (Ranks.on_signal). Returns the handlers to put back at the end ({} where signals cannot be
        set: not the main thread)."""

        def stop(signum, frame):
            first = self.signal_received is None
            if first:
                self.signal_received = signum
            self.ranks.on_signal(signum, first)

        try:
            previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
            for signum in self.ranks.signals:
                signal.signal(signum, stop)
            return previous
        except ValueError:
            return {}

    # -- what it shows --------------------------------------------------------------------------

    def update_view(self, fps: float, status: str) -> None:
        c = self.counters.snapshot()
        v, stats = self.view, self.stats
        v.frames, v.updates, v.episodes, v.fps, v.elapsed, v.status = (c["frames"], c["updates"], c["episodes"], fps,
                                                                       self.elapsed(), status)
        remaining = []
        if fps > 0 and self.cfg.max_frames is not None:
            remaining.append((self.cfg.max_frames - c["frames"]) / fps)
        if self.cfg.max_minutes is not None:
            remaining.append(self.cfg.max_minutes * 60 - self.elapsed())
        v.eta = max(0.0, min(remaining)) if remaining else None
        v.recent_return = sum(stats.recent) / len(stats.recent) if stats.recent else None
        v.last_eval = stats.last_eval["eval_return"]["mean"] if stats.last_eval else None
        v.best_eval = stats.best

    def best_effort(self, write) -> None:
        """A last record or checkpoint while stopping: on a full disk it fails, and the atomic
        write leaves the previous file whole; say so and go on stopping."""
        try:
            write()
        except OSError as exc:
            log.warning("could not write while stopping: %s", exc)

    def log_summary(self, reason: str) -> None:
        log.info("stopped (%s) after %s; best evaluation return %s", reason,
                 describe_counts(self.counters.snapshot(), self.elapsed()),
                 "-" if self.stats.best is None else f"{self.stats.best:.2f}")
        self.stats.say_where()
