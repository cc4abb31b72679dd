"""`a3c train`: build the shared model and optimizer, start the workers and the evaluator, watch
them, write the run's records, and stop cleanly (limit reached, Ctrl-C or a failure).

The main process holds no emulator (stable-retro allows one per process): it keeps the shared
weights and counters, and reads events (finished episodes, evaluations, errors) from one queue.
"""

from __future__ import annotations

import logging
import math
import queue
import signal
import sys
import time
from collections import deque
from pathlib import Path

import torch

from a3c_cli.a3c import EntropyWeight, run_worker
from a3c_cli.checkpoint import load_checkpoint, make_checkpoint, save_checkpoint
from a3c_cli.config import available_cpus
from a3c_cli.counters import Counters
from a3c_cli.errors import RunFailed, UsageError, os_error_text
from a3c_cli.evaluator import run_evaluator
from a3c_cli.games.make import check_game, resolve_actions
from a3c_cli.metrics import FILE_ONLY, RunRecords
from a3c_cli.model import build_model
from a3c_cli.optim import build_optimizer
from a3c_cli.processes import child_context, seconds_alive
from a3c_cli.progress import Display, Snapshot
from a3c_cli.resume import check_resumable, cut_metrics, find_checkpoint, run_dir_of

log = logging.getLogger("a3c")

JOIN_SECONDS = 10.0  # a worker finishes its rollout and update well within this
DEATHS_ALLOWED = 5  # deaths of one process within DEATH_WINDOW_S before the run gives up on it
DEATH_WINDOW_S = 60.0
DIVERGED_FRACTION = 0.5  # of the updates between two training lines skipped as non-finite


def train(cfg: dict, run_dir: str) -> float:
    """Run one training job; return the best greedy evaluation return (what sweepers maximise),
    -inf if no evaluation finished."""
    run_dir = Path(run_dir)
    cfg = {**cfg, "checkpoints_dir": str(Path(cfg["checkpoints_dir"]).resolve())}
    check_game(cfg["game"])
    cfg["game"] = resolve_actions(cfg["game"])
    for folder in (run_dir / "checkpoints", Path(cfg["checkpoints_dir"]) / cfg["game"]["name"]):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create {folder} ({exc.strerror}): choose a writable place") from exc
    cpus = available_cpus()
    if cfg["workers"] > cpus:
        log.warning("workers=%d is more than the %d cores here: workers will share cores and each runs slower", cfg["workers"], cpus)

    torch.manual_seed(cfg["seed"])
    shared_model = build_model(cfg).share_memory()
    optimizer = build_optimizer(cfg["optim"], shared_model.parameters()) if cfg["optim"]["shared"] else None
    entropy_weight = EntropyWeight(cfg["entropy_coef"], cfg["entropy_target"], len(cfg["game"]["actions"]))
    resumed = resume_from(cfg, run_dir, shared_model, optimizer, entropy_weight) if cfg["resume"] is not None else None
    return Training(cfg, run_dir, shared_model, optimizer, entropy_weight, resumed).run()


def resume_from(cfg: dict, run_dir: Path, shared_model, optimizer, entropy_weight: EntropyWeight) -> dict:
    """Load the checkpoint to continue into the shared model, optimizer and (with a target) entropy
    weight; return it, with the time its records reach."""
    path = find_checkpoint(cfg["resume"], cfg["game"]["name"])
    checkpoint = load_checkpoint(path)
    check_resumable(checkpoint, path, cfg)
    shared_model.load_state_dict(checkpoint["model"])
    if optimizer is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
        optimizer.share_memory()  # load_state_dict made private copies of the statistics
        for group in optimizer.param_groups:  # a resumed run may change the learning rate
            group["lr"] = cfg["optim"]["lr"]
    if cfg["entropy_target"] is not None and checkpoint.get("entropy_coef") is not None:  # .get: an older checkpoint
        entropy_weight.set(checkpoint["entropy_coef"])  # an adapted weight goes on from where it was
    if run_dir_of(path).resolve() != run_dir.resolve():
        log.warning("resume: continuing %s in a new run directory, %s", path, run_dir)
    checkpoint["time"] = cut_metrics(run_dir, checkpoint["counters"]["frames"])
    c = checkpoint["counters"]
    log.info("resume: %s at %s frames, %s updates, best evaluation %s", path, f"{c['frames']:,}", f"{c['updates']:,}",
             checkpoint["best_return"])
    return checkpoint


class Training:
    def __init__(self, cfg: dict, run_dir: Path, shared_model, optimizer, entropy_weight: EntropyWeight,
                 resumed: dict | None = None):
        self.cfg, self.run_dir = cfg, run_dir
        self.shared_model, self.optimizer, self.entropy_weight = shared_model, optimizer, entropy_weight
        self.ctx = child_context()
        self.counters = Counters(self.ctx, slots=cfg["workers"], start=resumed["counters"] if resumed else None)
        self.events = self.ctx.Queue()
        self.eval_requests = None  # made with each evaluator (start_evaluator)
        self.stop = self.ctx.Event()
        self.workers: list = [None] * cfg["workers"]  # by rank; a dead worker is replaced in place
        self.evaluator = None
        self.deaths: dict[str, deque] = {}  # process name -> times it died, within DEATH_WINDOW_S
        self.last_errors: dict[str, str] = {}  # process name -> the last line of its last traceback
        self.restarts = 0
        self.signal_received: int | None = None
        self.records = RunRecords(run_dir)
        self.returns: list[float] = []  # training episodes since the last training line
        self.lengths: list[int] = []
        self.learning: list[dict] = []  # the loss's parts of each update since the last training line
        self.recent = deque(maxlen=20)  # for the display
        self.last_eval: dict | None = resumed["evaluation"] if resumed else None
        self.best: float | None = resumed["best_return"] if resumed else None
        self.eval_pending = False
        self.failure: str | None = None
        self.usage_error: str | None = None  # a failure caused by the config, not by the code
        start = self.counters.snapshot()
        self.started = time.monotonic() - (resumed["time"] if resumed else 0.0)  # times go on after a resume
        self.line_time, self.line_frames = self.elapsed(), start["frames"]  # when the last training line was written
        self.line_updates, self.line_skipped = start["updates"], start["skipped_updates"]
        self.start_updates, self.first_update_s = start["updates"], None
        self.view = Snapshot(title=f"a3c train {cfg['game']['name']} - {cfg['workers']} workers", max_frames=cfg["max_frames"])

    # -- processes ----------------------------------------------------------------------------

    def start_evaluator(self) -> None:
        # A new request queue for each evaluator: one killed while waiting in get() leaves the
        # queue's read lock held forever, and its successor would wait on it.
        self.eval_requests = self.ctx.Queue()
        self.evaluator = self.ctx.Process(  # not a daemon: it starts emulator processes of its own
            target=run_evaluator, name="a3c-evaluator", daemon=False,
            args=(self.cfg, self.shared_model, self.optimizer, self.entropy_weight, self.counters, self.eval_requests, self.events,
                  str(self.run_dir), self.best))
        self.evaluator.start()
        log.info("evaluator started (pid %d)", self.evaluator.pid)

    def start_worker(self, rank: int) -> None:
        # a restarted or resumed worker must not replay its predecessor's episodes
        seed = self.cfg["seed"] + rank + self.counters.snapshot()["updates"]
        worker = self.ctx.Process(  # not a daemon: it may start emulator processes of its own
            target=run_worker, name=f"a3c-worker-{rank}", daemon=False,
            args=(rank, seed, self.cfg, self.shared_model, self.optimizer, self.entropy_weight, self.counters, self.events,
                  self.stop))
        worker.start()
        self.workers[rank] = worker
        log.info("worker %d started (pid %d)", rank, worker.pid)

    def start_processes(self) -> None:
        self.start_evaluator()
        for rank in range(self.cfg["workers"]):
            self.start_worker(rank)

    def replace_dead_processes(self) -> bool:
        """Restart a worker or the evaluator that died (an exception, a crash in the emulator, a
        kill -9) with a fresh environment; give up on one that died DEATHS_ALLOWED times within
        DEATH_WINDOW_S. Returns False when the run cannot go on."""
        dead = [p for p in [*self.workers, self.evaluator] if not p.is_alive()]
        if dead:
            self.read_events(timeout=0.2)  # their error events, if they managed to send them
        for process in dead:
            if self.usage_error is not None or self.failure is not None:
                return False  # the config or the disk is wrong: a restart would fail the same way
            name = process.name.removeprefix("a3c-").replace("-", " ")
            deaths = self.deaths.setdefault(name, deque())
            deaths.append(time.monotonic())
            while deaths[0] < time.monotonic() - DEATH_WINDOW_S:
                deaths.popleft()
            cause = self.last_errors.pop(name, f"exit code {process.exitcode}")
            if len(deaths) >= DEATHS_ALLOWED:
                self.failure = f"{name} died {len(deaths)} times within {DEATH_WINDOW_S:.0f} s, last: {cause}"
                return False
            log.warning("%s died (%s): restarting it with a fresh environment", name, cause)
            self.restarts += 1
            process.join(1)
            if process is self.evaluator:
                self.eval_pending = False  # the evaluation it was running is lost
                self.start_evaluator()
            else:
                self.start_worker(self.workers.index(process))
        return True

    def join(self, processes: list, timeout: float) -> None:
        """Wait for processes to exit, reading events meanwhile (a child cannot exit while its
        queue is unread); terminate what is still alive after `timeout`."""
        deadline = time.monotonic() + timeout
        while any(p.is_alive() for p in processes) and time.monotonic() < deadline:
            self.read_events(timeout=0.1)
        for p in processes:
            if p.is_alive():
                log.warning("%s did not stop within %.0f s: terminating it", p.name, timeout)
                p.terminate()
                p.join(5)

    # -- events -------------------------------------------------------------------------------

    def read_events(self, timeout: float) -> None:
        """Handle every event that arrives within `timeout` seconds (blocks until the first)."""
        try:
            event = self.events.get(timeout=timeout)
            while True:
                self.handle(event)
                event = self.events.get_nowait()
        except queue.Empty:
            pass

    def handle(self, event: dict) -> None:
        kind = event.pop("kind")
        if kind == "episode":
            self.returns.append(event["return"])
            self.lengths.append(event["length"])
            self.recent.append(event["return"])
        elif kind == "learning":
            self.learning.append(event)
        elif kind == "eval":
            self.eval_pending = False
            self.last_eval = event
            self.best = event["best"]
            self.records.evaluation(self.elapsed(), {k: v for k, v in event.items() if k not in ("improved", "best")})
            self.refresh_curve()
            if event.get("published"):
                log.info("new best model: %s", Path(self.cfg["checkpoints_dir"]) / self.cfg["game"]["name"] / "best.pt")
        elif kind == "error":
            log.error("%s failed:\n%s", event["who"], event["traceback"], extra=FILE_ONLY)
            self.last_errors[event["who"]] = event["traceback"].strip().splitlines()[-1]
            if event["usage"] is not None and self.usage_error is None:
                self.usage_error = event["usage"]
            if event["fatal"] is not None and self.failure is None:
                self.failure = event["fatal"]  # a full disk: no restart helps

    def refresh_curve(self) -> None:
        """curve.png: evaluation and training return against frames, redrawn at each evaluation."""
        from a3c_cli.plot import write_curve

        try:
            write_curve(self.run_dir)
        except Exception as exc:  # a picture is not worth stopping a run for
            log.warning("could not draw %s: %s", self.run_dir / "curve.png", exc)

    # -- the run ------------------------------------------------------------------------------

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def request_evaluation(self, final: bool) -> None:
        self.eval_pending = True
        self.eval_requests.put({"final": final})

    def write_train_line(self) -> None:
        """A training line: counters, frames/s since the previous line, the episodes finished;
        none while no update happened (the workers starting). Also where divergence shows: most
        updates since the last line skipped as non-finite."""
        counters, now = self.counters.snapshot(), self.elapsed()
        if counters["updates"] == self.line_updates and not self.returns:
            self.line_time = now
            return
        fps = (counters["frames"] - self.line_frames) / max(now - self.line_time, 1e-9)
        self.records.train(now, counters, fps, self.returns, self.lengths, self.learning)
        updates = counters["updates"] - self.line_updates
        skipped = counters["skipped_updates"] - self.line_skipped
        if updates >= 10 and skipped >= DIVERGED_FRACTION * updates and self.failure is None:
            self.failure = (f"training diverged: {skipped} of the last {updates} updates had a non-finite loss or "
                            f"gradient and were skipped (try a lower optim.lr or game.reward_scale)")
        self.returns, self.lengths, self.learning = [], [], []
        self.line_time, self.line_frames = now, counters["frames"]
        self.line_updates, self.line_skipped = counters["updates"], counters["skipped_updates"]

    def note_first_update(self) -> None:
        """How long start-up took (processes, imports, emulators): from the command to the
        first update of the shared model."""
        if self.first_update_s is None and self.view.updates > self.start_updates:
            self.first_update_s = seconds_alive() or self.elapsed()
            self.records.first_update(self.elapsed(), self.counters.snapshot(), self.first_update_s)

    def update_view(self, fps: float, status: str) -> None:
        c = self.counters.snapshot()
        v = self.view
        v.frames, v.updates, v.episodes, v.fps, v.elapsed, v.status = c["frames"], c["updates"], c["episodes"], fps, self.elapsed(), status
        remaining = [(self.cfg["max_frames"] - c["frames"]) / fps] if fps > 0 else []
        if self.cfg["max_minutes"] is not None:
            remaining.append(self.cfg["max_minutes"] * 60 - self.elapsed())
        v.eta = max(0.0, min(remaining)) if remaining else None
        v.recent_return = sum(self.recent) / len(self.recent) if self.recent else None
        v.last_eval = self.last_eval["eval_return"]["mean"] if self.last_eval else None
        v.best_eval = self.best

    def supervise(self) -> str:
        """Watch the run until a limit is reached or a process fails; return why it stopped."""
        cfg = self.cfg
        fps_window = deque([(self.elapsed(), self.counters.frames)], maxlen=20)  # ~5 s of (time, frames), for the display
        next_eval = (self.counters.frames // cfg["eval_interval"] + 1) * cfg["eval_interval"]  # also after a resume
        while True:
            self.read_events(timeout=0.25)
            frames = self.counters.frames
            fps_window.append((self.elapsed(), frames))
            fps = (fps_window[-1][1] - fps_window[0][1]) / max(fps_window[-1][0] - fps_window[0][0], 1e-9)
            self.update_view(fps, f"training ({self.restarts} restarts)" if self.restarts else "training")
            self.note_first_update()
            if self.elapsed() - self.line_time >= cfg["log_interval"]:
                self.write_train_line()
            if self.failure is not None or not self.replace_dead_processes():
                return "failed"
            if frames >= cfg["max_frames"]:
                return "max_frames"
            if cfg["max_minutes"] is not None and self.elapsed() >= cfg["max_minutes"] * 60:
                return "max_minutes"
            if frames >= next_eval:
                if not self.eval_pending:  # an evaluation slower than the interval is not queued twice
                    self.request_evaluation(final=False)
                next_eval = (frames // cfg["eval_interval"] + 1) * cfg["eval_interval"]

    def stop_processes(self, reason: str) -> bool:
        """Stop the workers; evaluate the final weights when the run reached its limit; stop the
        evaluator. Returns whether the final evaluation (which saves latest.pt) happened."""
        self.stop.set()
        self.view.status = "stopping workers"
        self.join(self.workers, JOIN_SECONDS)
        if reason in ("max_frames", "max_minutes") and self.evaluator.is_alive():
            self.view.status = "final evaluation"
            self.request_evaluation(final=True)
            while self.evaluator.is_alive() and not (self.last_eval and self.last_eval.get("final")):
                self.read_events(timeout=0.25)
        if self.evaluator.is_alive():
            self.eval_requests.put(None)
        # An interrupted run does not wait for an evaluation in progress: it only plays episodes.
        self.join([self.evaluator], JOIN_SECONDS if reason in ("max_frames", "max_minutes") else 2.0)
        self.read_events(timeout=0.1)
        return bool(self.last_eval and self.last_eval.get("final"))

    def kill_processes(self) -> None:
        for p in [*self.workers, self.evaluator]:
            if p is not None and p.is_alive():
                p.kill()
                p.join(5)

    def save_latest(self) -> None:
        checkpoint = make_checkpoint(self.shared_model, self.optimizer, self.counters.snapshot(), self.cfg, self.last_eval, self.best,
                                     self.entropy_weight.value)
        save_checkpoint(checkpoint, self.run_dir / "checkpoints" / "latest.pt")

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

    def run(self) -> float:
        cfg = self.cfg
        log.info("run directory: %s", self.run_dir.resolve())
        log.info("%s: %d workers x %d environments, %s optimizer (lr %g, %s statistics), LSTM %d, max %s frames",
                 cfg["game"]["name"], cfg["workers"], cfg["envs_per_worker"], cfg["optim"]["name"], cfg["optim"]["lr"],
                 "shared" if cfg["optim"]["shared"] else "per-worker", cfg["model"]["lstm_size"], f"{cfg['max_frames']:,}")
        reason, final_evaluated = "interrupted", False
        previous_handlers = self.handle_sigterm()
        try:
            with Display(self.view, enabled=cfg["progress"] and sys.stdout.isatty()):
                try:
                    self.start_processes()
                    reason = self.supervise()
                except OSError as exc:  # the run's records could not be written: a full disk
                    reason = "failed"
                    self.failure = f"cannot write the run's records: {os_error_text(exc)}"
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
                if previous_handlers:  # the last writes take a moment: a third signal must not cut them
                    signal.signal(signal.SIGINT, signal.SIG_IGN)
                    signal.signal(signal.SIGTERM, signal.SIG_IGN)
                self.kill_processes()
                self.best_effort(self.write_train_line)  # the episodes not yet written
                if not final_evaluated:
                    self.best_effort(self.save_latest)
                self.update_view(self.view.fps, reason)
        finally:
            self.kill_processes()
            self.best_effort(self.records.close)
            for signum, handler in previous_handlers.items():
                signal.signal(signum, handler)
        c = self.counters.snapshot()
        best = "-" if self.best is None else f"{self.best:.2f}"
        log.info("stopped (%s) after %s frames, %s updates, %s episodes in %.0f s (%.0f frames/s); best evaluation return %s",
                 reason, f"{c['frames']:,}", f"{c['updates']:,}", f"{c['episodes']:,}", self.elapsed(), c["frames"] / self.elapsed(), best)
        log.info("checkpoints: %s", self.run_dir.resolve() / "checkpoints")
        if self.usage_error is not None:
            raise UsageError(self.usage_error)
        if reason == "failed":
            raise RunFailed(f"{self.failure} (the traceback is in {self.run_dir / 'train.log'})")
        if reason == "interrupted":
            sys.exit(128 + (self.signal_received or signal.SIGINT))  # 130 for Ctrl-C, 143 for SIGTERM
        # -inf, not NaN, when nothing was evaluated: sweepers (Optuna) rank -inf and fail on NaN
        return self.best if self.best is not None else -math.inf
