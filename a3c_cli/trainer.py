"""`a3c train`: build the shared model and optimizer, start the workers and the evaluator, watch
them until a limit is reached, and stop cleanly (limit reached, Ctrl-C, SIGTERM or a failure).

The parts: the Supervisor starts, replaces and stops the processes; RunStats keeps what their
events say and writes the run's records; Training, below, runs the loop that ties them to the
limits, the evaluation schedule and the display. The main process holds no emulator
(stable-retro allows one per process).
"""

from __future__ import annotations

import logging
import math
import signal
import sys
import time
from collections import deque
from pathlib import Path

import torch

from a3c_cli.a3c import EntropyWeight
from a3c_cli.checkpoint import make_checkpoint, save_checkpoint
from a3c_cli.config import available_cpus
from a3c_cli.errors import Interrupted, RunFailed, UsageError, os_error_text
from a3c_cli.games.make import check_game, resolve_actions
from a3c_cli.metrics import RunRecords
from a3c_cli.model import build_model
from a3c_cli.optim import build_optimizer
from a3c_cli.progress import Display, Snapshot
from a3c_cli.resume import resume_from
from a3c_cli.run_stats import RunStats
from a3c_cli.rundir import CHECKPOINTS, latest_checkpoint, published_best
from a3c_cli.supervisor import Supervisor

log = logging.getLogger("a3c")

JOIN_SECONDS = 10.0  # a worker finishes its rollout and update well within this
LIMITS = ("max_frames", "max_minutes")  # the reasons a run stops by itself


def train(cfg: dict, run_dir: str) -> float:
    """Run one training job; return the best greedy evaluation return (what sweepers maximise),
    -inf if no evaluation finished."""
    run_dir = Path(run_dir)
    cfg = {**cfg, "checkpoints_dir": str(Path(cfg["checkpoints_dir"]).resolve())}
    check_game(cfg["game"])
    cfg["game"] = resolve_actions(cfg["game"])
    for folder in (run_dir / CHECKPOINTS, published_best(cfg["checkpoints_dir"], cfg["game"]["name"]).parent):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create {folder} ({exc.strerror}): choose a writable place") from exc
    cpus = available_cpus()
    if cfg["workers"] > cpus:
        log.warning("workers=%d is more than the %d cores here: workers will share cores and each runs slower",
                    cfg["workers"], cpus)

    torch.manual_seed(cfg["seed"])
    shared_model = build_model(cfg).share_memory()
    optimizer = build_optimizer(cfg["optim"], shared_model.parameters()) if cfg["optim"]["shared"] else None
    entropy_weight = EntropyWeight(cfg["entropy_coef"], cfg["entropy_target"], len(cfg["game"]["actions"]))
    resumed = resume_from(cfg, run_dir, shared_model, optimizer, entropy_weight) if cfg["resume"] is not None else None
    return Training(cfg, run_dir, shared_model, optimizer, entropy_weight, resumed).run()


def limits_text(cfg: dict) -> str:
    """When the run will stop, as its first lines say it."""
    limits = []
    if cfg["max_frames"] is not None:
        limits.append(f"at {cfg['max_frames']:,} frames")
    if cfg["max_minutes"] is not None:
        limits.append(f"after {cfg['max_minutes']:g} minutes")
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
    def __init__(self, cfg: dict, run_dir: Path, shared_model, optimizer, entropy_weight: EntropyWeight,
                 resumed: dict | None = None):
        self.cfg, self.run_dir = cfg, run_dir
        self.shared_model, self.optimizer, self.entropy_weight = shared_model, optimizer, entropy_weight
        self.started = time.monotonic() - (resumed["time"] if resumed else 0.0)  # times go on after a resume
        self.processes = Supervisor(cfg, run_dir, shared_model, optimizer, entropy_weight,
                                    start=resumed["counters"] if resumed else None, best=lambda: self.stats.best)
        self.counters = self.processes.counters
        self.stats = RunStats(cfg, run_dir, RunRecords(run_dir), self.counters.snapshot(), resumed, self.elapsed())
        self.signal_received: int | None = None
        self.view = Snapshot(title=f"a3c train {cfg['game']['name']} - {cfg['workers']} workers",
                             max_frames=cfg["max_frames"], max_minutes=cfg["max_minutes"])

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def handle(self, event: dict) -> None:
        self.stats.handle(event, self.elapsed())

    def read_events(self, timeout: float) -> None:
        self.processes.read_events(timeout, self.handle)

    def request_evaluation(self, final: bool) -> None:
        self.stats.eval_pending = True
        self.processes.request_evaluation(final)

    def write_train_line(self) -> None:
        diverged = self.stats.write_train_line(self.counters.snapshot(), self.elapsed())
        if diverged is not None and self.processes.failure is None:
            self.processes.failure = diverged

    def update_view(self, fps: float, status: str) -> None:
        c = self.counters.snapshot()
        v, stats = self.view, self.stats
        v.frames, v.updates, v.episodes, v.fps, v.elapsed, v.status = (c["frames"], c["updates"], c["episodes"], fps,
                                                                       self.elapsed(), status)
        remaining = []
        if fps > 0 and self.cfg["max_frames"] is not None:
            remaining.append((self.cfg["max_frames"] - c["frames"]) / fps)
        if self.cfg["max_minutes"] is not None:
            remaining.append(self.cfg["max_minutes"] * 60 - self.elapsed())
        v.eta = max(0.0, min(remaining)) if remaining else None
        v.recent_return = sum(stats.recent) / len(stats.recent) if stats.recent else None
        v.last_eval = stats.last_eval["eval_return"]["mean"] if stats.last_eval else None
        v.best_eval = stats.best

    def supervise(self) -> str:
        """Watch the run until a limit is reached or a process fails; return why it stopped."""
        cfg, processes = self.cfg, self.processes
        fps_window = deque([(self.elapsed(), self.counters.frames)], maxlen=20)  # ~5 s of (time, frames): the display
        schedule = EvaluationSchedule(cfg["eval_interval"], self.counters.frames)
        while True:
            self.read_events(timeout=0.25)
            frames = self.counters.frames
            fps_window.append((self.elapsed(), frames))
            fps = (fps_window[-1][1] - fps_window[0][1]) / max(fps_window[-1][0] - fps_window[0][0], 1e-9)
            self.update_view(fps, f"training ({processes.restarts} restarts)" if processes.restarts else "training")
            self.stats.note_first_update(self.counters.snapshot(), self.elapsed())
            if self.elapsed() - self.stats.line_time >= cfg["log_interval"]:
                self.write_train_line()
            if processes.failure is not None or not processes.replace_dead(self.handle):
                return "failed"
            if cfg["max_frames"] is not None and frames >= cfg["max_frames"]:
                return "max_frames"
            if cfg["max_minutes"] is not None and self.elapsed() >= cfg["max_minutes"] * 60:
                return "max_minutes"
            if schedule.due(frames) and not self.stats.eval_pending:
                self.request_evaluation(final=False)

    def stop_processes(self, reason: str) -> bool:
        """Stop the workers; evaluate the final weights when the run reached its limit; stop the
        evaluator. Returns whether the final evaluation (which saves latest.pt) happened."""
        processes = self.processes
        processes.stop.set()
        self.view.status = "stopping workers"
        processes.join(processes.workers, JOIN_SECONDS, self.handle)
        if reason in LIMITS and processes.evaluator.is_alive():
            self.view.status = "final evaluation"
            self.request_evaluation(final=True)
            while processes.evaluator.is_alive() and not self.final_evaluated():
                self.read_events(timeout=0.25)
        processes.stop_evaluator()
        # An interrupted run does not wait for an evaluation in progress: it only plays episodes.
        processes.join([processes.evaluator], JOIN_SECONDS if reason in LIMITS else 2.0, self.handle)
        self.read_events(timeout=0.1)
        return self.final_evaluated()

    def final_evaluated(self) -> bool:
        return bool(self.stats.last_eval and self.stats.last_eval.get("final"))

    def save_latest(self) -> None:
        checkpoint = make_checkpoint(
            self.shared_model,
            self.optimizer,
            self.counters.snapshot(),
            self.cfg,
            self.stats.last_eval,
            self.stats.best,
            self.entropy_weight.value,
        )
        save_checkpoint(checkpoint, latest_checkpoint(self.run_dir))

    def best_effort(self, write) -> None:
        """A last record or checkpoint while stopping: on a full disk it fails, and the atomic
        write leaves the previous file whole; say so and go on stopping."""
        try:
            write()
        except OSError as exc:
            log.warning("could not write while stopping: %s", exc)

    def handle_sigterm(self) -> dict:
        """SIGTERM (what a scheduler sends before preempting) stops the run as Ctrl-C does.
        Returns the handlers to put back at the end ({} where signals cannot be set: not the
        main thread)."""

        def stop(signum, frame):
            self.signal_received = signum
            raise KeyboardInterrupt

        try:
            return {signal.SIGINT: signal.getsignal(signal.SIGINT), signal.SIGTERM: signal.signal(signal.SIGTERM, stop)}
        except ValueError:
            return {}

    def train_and_stop(self, signals_set: bool) -> str:
        """Start the processes, supervise them, stop them; returns why the run stopped. Whatever
        happens, the processes end and the last records and checkpoint are written."""
        reason, final_evaluated = "interrupted", False
        try:
            self.processes.start()
            reason = self.supervise()
        except OSError as exc:  # the run's records could not be written: a full disk
            reason = "failed"
            self.processes.failure = f"cannot write the run's records: {os_error_text(exc)}"
        except KeyboardInterrupt:
            signame = signal.Signals(self.signal_received or signal.SIGINT).name
            log.warning("%s: stopping the workers and saving a checkpoint (Ctrl-C again to skip the wait)", signame)
        try:
            final_evaluated = self.stop_processes(reason)
        except KeyboardInterrupt:
            log.warning("interrupted again: killing the workers")
            reason = "interrupted"
        except OSError as exc:  # the records of the last moments could not be written
            log.warning("could not write while stopping: %s", exc)
        if signals_set:  # the last writes take a moment: a third signal must not cut them
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        self.processes.kill_all()
        self.best_effort(self.write_train_line)  # the episodes not yet written
        if not final_evaluated:
            self.best_effort(self.save_latest)
        self.update_view(self.view.fps, reason)
        return reason

    def run(self) -> float:
        cfg = self.cfg
        log.info("run directory: %s", self.run_dir.resolve())
        log.info(
            "%s: %d workers x %d environments, %s optimizer (lr %g, %s statistics), LSTM %d; %s",
            cfg["game"]["name"],
            cfg["workers"],
            cfg["envs_per_worker"],
            cfg["optim"]["name"],
            cfg["optim"]["lr"],
            "shared" if cfg["optim"]["shared"] else "per-worker",
            cfg["model"]["lstm_size"],
            limits_text(cfg),
        )
        self.stats.records.run(self.elapsed(), self.counters.snapshot(), cfg)
        previous_handlers = self.handle_sigterm()
        try:
            with Display(self.view, enabled=cfg["progress"] and sys.stdout.isatty()):
                reason = self.train_and_stop(signals_set=bool(previous_handlers))
        finally:
            self.processes.kill_all()
            self.best_effort(self.stats.records.close)
            for signum, handler in previous_handlers.items():
                signal.signal(signum, handler)
        self.log_summary(reason)
        if self.processes.usage_error is not None:
            raise UsageError(self.processes.usage_error)
        if reason == "failed":
            raise RunFailed(f"{self.processes.failure} (the traceback is in {self.run_dir / 'train.log'})")
        if reason == "interrupted":
            raise Interrupted(self.signal_received or signal.SIGINT)  # exit code 130 for Ctrl-C, 143 for SIGTERM
        # -inf, not NaN, when nothing was evaluated: sweepers (Optuna) rank -inf and fail on NaN
        return self.stats.best if self.stats.best is not None else -math.inf

    def log_summary(self, reason: str) -> None:
        c, best = self.counters.snapshot(), self.stats.best
        log.info(
            "stopped (%s) after %s frames, %s updates, %s episodes in %.0f s (%.0f frames/s); best evaluation "
            "return %s",
            reason,
            f"{c['frames']:,}",
            f"{c['updates']:,}",
            f"{c['episodes']:,}",
            self.elapsed(),
            c["frames"] / self.elapsed(),
            "-" if best is None else f"{best:.2f}",
        )
        log.info("checkpoints: %s", self.run_dir.resolve() / CHECKPOINTS)
