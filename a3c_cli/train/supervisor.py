"""The run's processes, from start to stop: N Hogwild workers and one evaluator, started from one
multiprocessing context, watched, replaced when they die, and stopped in order (torchbeast's
explicit lifecycle). They talk to the trainer through one event queue, which this module reads
and hands on, every event. It says what happened to its processes (an error, a death, one dead too
often); why the run stops is for the loop to decide (loop.py).
"""

from __future__ import annotations

import logging
import queue
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from a3c_cli.agent.counters import Counters
from a3c_cli.agent.shared import SharedAgent
from a3c_cli.agent.worker import run_worker
from a3c_cli.config.schema import TrainConfig
from a3c_cli.records.metrics import FILE_ONLY
from a3c_cli.train.evaluator import run_evaluator
from a3c_cli.train.fork_server import child_context

log = logging.getLogger("a3c")

DEATHS_ALLOWED = 5  # deaths of one process within DEATH_WINDOW_S before the run gives up on it
DEATH_WINDOW_S = 60.0


class Supervisor:
    def __init__(self, cfg: TrainConfig, run_dir: Path, agent: SharedAgent, start: dict | None, evaluates: bool,
                 seed: int):
        """`agent`: what the workers and the evaluator share; `start`: the counters a resumed run
        starts from; `evaluates`: whether this trainer has an evaluator (in a distributed run,
        rank 0 alone); `seed`: its first worker's (cfg.seed; a distributed run's rank r: cfg.seed
        + r x workers)."""
        self.cfg, self.run_dir, self.agent, self.evaluates, self.seed = cfg, run_dir, agent, evaluates, seed
        self.ctx = child_context()
        self.counters = Counters(self.ctx, slots=cfg.workers, start=start)
        self.events = self.ctx.Queue()
        self.eval_requests = None  # made with each evaluator (start_evaluator)
        self.stop = self.ctx.Event()
        self.workers: list = [None] * cfg.workers  # by rank; a dead worker is replaced in place
        self.evaluator = None
        self.evaluating = False  # an evaluation was requested and its result has not come yet
        self.deaths: dict[str, deque] = {}  # process name -> times it died, within DEATH_WINDOW_S
        self.last_errors: dict[str, str] = {}  # process name -> the last line of its last traceback
        self.restarts = 0

    # -- starting -------------------------------------------------------------------------------

    def start_evaluator(self, best: float | None) -> None:
        """`best`: the run's best evaluation so far, which a restarted evaluator must not mistake
        its first result for a new best over."""
        # A new request queue for each evaluator: one killed while waiting in get() leaves the
        # queue's read lock held forever, and its successor would wait on it.
        self.eval_requests = self.ctx.Queue()
        self.evaluating = False  # a request to the one before is lost with it
        self.evaluator = self.ctx.Process(  # not a daemon: it starts emulator processes of its own
            target=run_evaluator, name="a3c-evaluator", daemon=False,
            args=(self.cfg, self.agent, self.counters, self.eval_requests, self.events, str(self.run_dir), best))
        self.evaluator.start()
        log.info("evaluator started (pid %d)", self.evaluator.pid)

    def start_worker(self, rank: int) -> None:
        # a restarted or resumed worker must not replay its predecessor's episodes
        seed = self.seed + rank + self.counters.snapshot()["updates"]
        worker = self.ctx.Process(  # not a daemon: it may start emulator processes of its own
            target=run_worker, name=f"a3c-worker-{rank}", daemon=False,
            args=(rank, seed, self.cfg, self.agent, self.counters, self.events, self.stop))
        worker.start()
        self.workers[rank] = worker
        log.info("worker %d started (pid %d)", rank, worker.pid)

    def start(self, best: float | None) -> None:
        if self.evaluates:
            self.start_evaluator(best)
        for rank in range(self.cfg.workers):
            self.start_worker(rank)

    def can_evaluate(self) -> bool:
        """There is an evaluator and it has no request left to answer."""
        return self.evaluator is not None and not self.evaluating

    def request_evaluation(self, final: bool) -> None:
        self.evaluating = True
        self.eval_requests.put({"final": final})

    # -- watching -------------------------------------------------------------------------------

    def read_events(self, timeout: float, handle: Callable[[dict], None]) -> None:
        """Hand every event that arrives within `timeout` seconds to `handle` (blocks until the
        first). An error's traceback goes to the log file here, and its last line is kept to name
        the cause if its process dies; what the error means for the run is for `handle`."""
        try:
            event = self.events.get(timeout=timeout)
            while True:
                if event["kind"] == "error":
                    log.error("%s failed:\n%s", event["who"], event["traceback"], extra=FILE_ONLY)
                    self.last_errors[event["who"]] = event["traceback"].strip().splitlines()[-1]
                elif event["kind"] == "eval":
                    self.evaluating = False
                handle(event)
                event = self.events.get_nowait()
        except queue.Empty:
            pass

    def dead(self) -> list:
        return [p for p in self.processes() if not p.is_alive()]

    def replace(self, dead: list, best: float | None) -> str | None:
        """Restart workers or the evaluator that died (an exception, a crash in the emulator, a
        kill -9) with a fresh environment, unless one died DEATHS_ALLOWED times within
        DEATH_WINDOW_S: then return why the run cannot go on. `best`: as start_evaluator's."""
        for process in dead:
            name = process.name.removeprefix("a3c-").replace("-", " ")
            deaths = self.deaths.setdefault(name, deque())
            deaths.append(time.monotonic())
            while deaths[0] < time.monotonic() - DEATH_WINDOW_S:
                deaths.popleft()
            cause = self.last_errors.pop(name, f"exit code {process.exitcode}")
            if len(deaths) >= DEATHS_ALLOWED:
                return f"{name} died {len(deaths)} times within {DEATH_WINDOW_S:.0f} s, last: {cause}"
            log.warning("%s died (%s): restarting it with a fresh environment", name, cause)
            self.restarts += 1
            process.join(1)
            if process is self.evaluator:
                self.start_evaluator(best)  # the evaluation it was running is lost
            else:
                self.start_worker(self.workers.index(process))
        return None

    # -- stopping -------------------------------------------------------------------------------

    def join(self, processes: list, timeout: float, handle: Callable[[dict], None]) -> None:
        """Wait for processes to exit, reading events meanwhile (a child cannot exit while its
        queue is unread); terminate what is still alive after `timeout`."""
        deadline = time.monotonic() + timeout
        while any(p.is_alive() for p in processes) and time.monotonic() < deadline:
            self.read_events(0.1, handle)
        for p in processes:
            if p.is_alive():
                log.warning("%s did not stop within %.0f s: terminating it", p.name, timeout)
                p.terminate()
                p.join(5)

    def processes(self) -> list:
        return [p for p in [*self.workers, self.evaluator] if p is not None]

    def evaluator_alive(self) -> bool:
        return self.evaluator is not None and self.evaluator.is_alive()

    def stop_evaluator(self) -> None:
        if self.evaluator_alive():
            self.eval_requests.put(None)

    def kill_all(self) -> None:
        for p in self.processes():
            if p.is_alive():
                p.kill()
                p.join(5)
