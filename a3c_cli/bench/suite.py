"""`a3c bench learn`: the learning benchmark. Each game of a suite is trained from scratch with the
default config for a frame budget, then judged as the field reports Atari results:

- training: the mean return of the last 100 training episodes at the budget (OpenAI baselines,
  SB3's zoo and cleanRL report this figure), read from the run's own metrics.jsonl;
- the weights at the budget under Machado et al. (2018)'s protocol: sticky actions 0.25, whole
  games, no no-op starts, `episodes` games (`a3c test`), played greedily and sampled from the
  policy; the game's eval_policy says which of the two judges (and ships) its agent;
- a uniformly random agent under the same protocol, the floor the policy must beat;
- frames/s and wall time of the training run, evaluations during it included.

    a3c bench learn [games=A,B] [frames=10M] [seed=0] [workers=2] [episodes=10] [dir=PATH]
                    [parallel=N] [rows=PATH|none] [any a3c train override]

Every game runs with the same worker count whatever the machine, so the figures compare per
frame; where there are more cores, `parallel` games run side by side, each on cores of its own.
Everything lives in one folder (outputs/bench-learn/<time>/ or dir=): a run directory per game,
learn.json, learn.md and learn.png. Given an existing folder, the suite goes on where it stopped:
finished games are kept, an interrupted run resumes from its latest checkpoint.

Each finished game's row and gzipped metrics are also kept in rows= (by default the checkout's
benchmarks/results/learn/, named by game, budget and a fingerprint of the composed config): once
committed, a suite in any clone skips that game for that config and says so (bench/committed.py).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from a3c_cli.bench import committed
from a3c_cli.bench.suite_report import ROW, format_row, game_row, write_report
from a3c_cli.games.make import PROTOCOL
from a3c_cli.records.files import read_json, write_json
from a3c_cli.records.rundir import latest_checkpoint, metrics_file, read_metrics
from a3c_cli.system.errors import RunFailed, UsageError

SUITE = ["Pong-ALE", "Breakout-ALE", "BeamRider-ALE", "Qbert-ALE", "Seaquest-ALE", "SpaceInvaders-ALE",
         "Airstriker-Genesis", "Pong-Atari2600"]
EVALUATIONS = 20  # greedy evaluations during each training run (the points of its curve)
SETTINGS = {"games": ",".join(SUITE), "frames": "10M", "seed": "0", "workers": "2", "episodes": "10", "parallel": None,
            "rows": "auto"}

def learn_command(argv: list[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    settings, overrides = parse_args(argv)
    suite_dir = open_suite(settings, overrides)
    return run_suite(suite_dir, read_json(suite_dir / "suite.json"))


# -- settings ---------------------------------------------------------------------------------------

def parse_frames(text: str) -> int:
    """10M, 500k, 1e7 or 10000000 -> an integer frame count."""
    match = re.fullmatch(r"\s*([0-9.eE+]+)\s*([kKmM]?)\s*", text)
    try:
        number = float(match.group(1)) * {"": 1, "k": 1e3, "m": 1e6}[match.group(2).lower()]
    except (AttributeError, ValueError):
        raise UsageError(f"frames={text}: give a frame count such as 10M, 500k or 2000000") from None
    if number < 1:
        raise UsageError(f"frames={text}: give a positive frame count such as 10M")
    return int(number)


def parse_args(argv: list[str]) -> tuple[dict, list[str]]:
    """The suite's own key=value settings (given ones only) and the rest: a3c train overrides."""
    given, overrides = {}, []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep:
            raise UsageError(f"{arg}: a3c bench learn takes key=value arguments (e.g. games=Pong-ALE frames=10M)")
        if key in SETTINGS or key == "dir":
            given[key] = value
        elif key in ("game", "max_frames", "max_minutes", "resume", "hydra.run.dir"):
            raise UsageError(f"{arg}: the suite sets {key} for each game itself: use games= and frames=")
        else:
            overrides.append(arg)
    for key in ("seed", "workers", "episodes", "parallel"):
        if key in given and not (given[key].isdigit() and (int(given[key]) >= 1 or key == "seed")):
            raise UsageError(f"{key}={given[key]}: must be a whole number" + ("" if key == "seed" else " >= 1"))
    if "frames" in given:
        given["frames"] = str(parse_frames(given["frames"]))
    if "games" in given:
        games = [g for g in given["games"].split(",") if g]
        unknown = [g for g in games if not (game_file(g)).is_file()]
        if unknown or not games:
            raise UsageError(f"games={given['games']}: no game file for {', '.join(unknown) or 'an empty list'}: "
                             f"choose among {', '.join(SUITE)} (or any of conf/game/)")
    return given, overrides


def game_file(name: str) -> Path:
    from a3c_cli.config.schema import CONFIG_DIR

    return Path(CONFIG_DIR) / "game" / f"{name}.yaml"


def open_suite(given: dict, overrides: list[str]) -> Path:
    """A new suite folder with suite.json, or an existing one whose settings these must not change."""
    if "dir" in given and (Path(given["dir"]) / "suite.json").is_file():
        suite_dir = Path(given["dir"])
        saved = read_json(suite_dir / "suite.json")
        changed = [f"{k}={v}" for k, v in given.items()
                   if k not in ("dir", "parallel", "rows") and saved["settings"].get(k) != v]
        if overrides and overrides != saved["overrides"]:
            changed += overrides
        if changed:
            raise UsageError(f"{suite_dir} was started with other settings ({' '.join(changed)} differ): "
                             f"go on with only dir={suite_dir}, or start a new suite in another dir=")
        retuned = {k: given[k] for k in ("parallel", "rows") if k in given}  # how it runs, not what it measures
        if retuned:
            saved["settings"].update(retuned)
            write_json(suite_dir / "suite.json", saved)
        print(f"a3c bench learn: going on with {suite_dir}")
        return suite_dir
    suite_dir = Path(
        given.get("dir") or Path("outputs", "bench-learn", datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S"))
    )
    if suite_dir.exists() and any(suite_dir.iterdir()):
        raise UsageError(f"dir={suite_dir} holds files but no suite.json: choose an empty or new folder")
    settings = {**SETTINGS, **{k: v for k, v in given.items() if k != "dir"}}
    settings["frames"] = str(parse_frames(settings["frames"]))
    suite_dir.mkdir(parents=True, exist_ok=True)
    write_json(suite_dir / "suite.json", {"settings": settings, "overrides": overrides})
    return suite_dir


# -- running the games ------------------------------------------------------------------------------


def run_suite(suite_dir: Path, suite: dict) -> int:
    settings, overrides = suite["settings"], suite["overrides"]
    games = settings["games"].split(",")
    workers = int(settings["workers"])
    core_sets = split_cores(workers, settings["parallel"])
    kept = rows_folder(settings)
    todo = [g for g in games if not (suite_dir / g / ROW).is_file() and not take_committed(suite_dir, g, settings,
                                                                                             overrides, kept)]
    print(f"a3c bench learn: {len(games)} games ({len(games) - len(todo)} done), {int(settings['frames']):,} frames "
          f"each, {workers} workers a game, {len(core_sets)} at a time; in {suite_dir}")
    free: queue.SimpleQueue = queue.SimpleQueue()  # the core sets no game is using
    for cores in core_sets:
        free.put(cores)
    failures: dict[str, str] = {}

    def run(game: str) -> None:
        cores = free.get()
        try:
            row = run_game(suite_dir, game, settings, overrides, cores)
            if kept is not None:
                cfg = committed.composed(game, train_args(settings, overrides))
                print(f"{game}: row kept in {committed.keep(kept, suite_dir / game, row, cfg, int(settings['frames']))}"
                      f" (commit it: a suite in any clone then skips {game})")
        except RunFailed as exc:
            failures[game] = str(exc)
            print(f"{game}: failed: {exc}", file=sys.stderr)
        finally:
            free.put(cores)

    interrupted = run_side_by_side(run, todo, len(core_sets))
    write_report(suite_dir, games, settings)
    if interrupted:
        print(f"interrupted: go on with `a3c bench learn dir={suite_dir}`", file=sys.stderr)
        return 128 + signal.SIGINT
    if failures:
        raise RunFailed(
            f"{len(failures)} of {len(games)} games failed ({', '.join(failures)}): their logs are in {suite_dir}"
        )
    return 0


def rows_folder(settings: dict) -> Path | None:
    """Where finished rows are kept and looked for: rows=PATH, none, or by default the checkout's
    benchmarks/results/learn/."""
    given = settings.get("rows")
    if given in (None, "auto"):
        return committed.default_folder()
    return None if given == "none" else Path(given)


def take_committed(suite_dir: Path, game: str, settings: dict, overrides: list[str], kept: Path | None) -> bool:
    """Whether a row of this game for this config is committed; if so it becomes this suite's row."""
    if kept is None:
        return False
    print_ = committed.fingerprint(committed.composed(game, train_args(settings, overrides)))
    path = committed.find(kept, game, int(settings["frames"]), print_)
    if path is None:
        return False
    row = committed.take(path, suite_dir / game, ROW)
    print(f"{game}: skipped, its row for this config is committed: {path} (commit {row['commit']}, "
          f"{row['machine'].get('cpu', '?') if row.get('machine') else '?'})")
    return True


def run_side_by_side(run, games: list[str], at_once: int) -> bool:
    """run(game) for every game, `at_once` at a time; returns whether the suite was stopped
    (Ctrl-C or SIGTERM), in which case the running games were stopped and waited for."""
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops the suite as Ctrl-C does
    interrupted = False
    with ThreadPoolExecutor(at_once) as pool:
        futures = [pool.submit(run, g) for g in games]
        try:
            for future in futures:
                future.result()
        except KeyboardInterrupt:
            interrupted = True
            for future in futures:
                future.cancel()
            stop_running()
            for future in futures:
                if not future.cancelled():
                    with contextlib.suppress(KeyboardInterrupt):
                        future.result()  # the game's thread ends once its command has stopped
    signal.signal(signal.SIGTERM, previous)
    return interrupted


def split_cores(workers: int, parallel: str | None) -> list[set[int] | None]:
    """One core set per game running at once: `workers` cores each. None: no pinning (one game)."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    count = int(parallel) if parallel else max(1, len(cores) // workers)
    if count == 1:
        return [None]
    if count * workers > len(cores):
        raise UsageError(
            f"parallel={count}: {count} games of {workers} workers need {count * workers} cores, "
            f"this machine has {len(cores)}"
        )
    return [set(cores[i * workers : (i + 1) * workers]) for i in range(count)]


def run_game(suite_dir: Path, game: str, settings: dict, overrides: list[str], cores: set[int] | None) -> dict:
    """Train one game to the budget (or go on with its run), judge it, and write its row."""
    run_dir = suite_dir / game
    if not trained_to(run_dir, int(settings["frames"])):
        train_game(suite_dir, game, settings, overrides, cores)
    protocol = [*(o for o in overrides if o.startswith("game.")), *protocol_overrides(),
                f"episodes={settings['episodes']}", f"seed={settings['seed']}"]
    print(f"{game}: {settings['episodes']} greedy games with sticky actions, as many sampled and as many random")
    for policy, sample in (("greedy", "false"), ("sampled", "true")):
        call_a3c("test", [f"game={game}", f"checkpoint={latest_checkpoint(run_dir)}", f"sample={sample}", *protocol,
                          f"hydra.run.dir={run_dir / f'{policy}-sticky'}"], suite_dir / f"{game}.test.log", cores)
    call_a3c("test", [f"game={game}", "random=true", *protocol, f"hydra.run.dir={run_dir / 'random-sticky'}"],
             suite_dir / f"{game}.random.log", cores)
    row = game_row(run_dir, game)
    write_json(run_dir / ROW, row)
    print(f"{game}: done: {format_row(row, int(settings['frames']))}")
    return row


def protocol_overrides() -> list[str]:
    """The evaluation protocol (games.make.PROTOCOL) as a3c test overrides."""
    return [f"game.{key}={'null' if value is None else value}" for key, value in PROTOCOL.items()]


def train_args(settings: dict, overrides: list[str]) -> list[str]:
    """What `a3c train` of a suite's game is given beside game=, where it writes and resume=."""
    frames = int(settings["frames"])
    return [f"workers={settings['workers']}", f"seed={settings['seed']}", f"max_frames={frames}",
            "max_minutes=null", f"eval_interval={max(1, frames // EVALUATIONS)}", "progress=false", *overrides]


def train_game(suite_dir: Path, game: str, settings: dict, overrides: list[str], cores: set[int] | None) -> None:
    """`a3c train` of one game to the budget, going on from its checkpoint where it has one."""
    run_dir, frames = suite_dir / game, int(settings["frames"])
    args = [f"game={game}", *train_args(settings, overrides), f"checkpoints_dir={suite_dir / 'published'}",
            f"hydra.run.dir={run_dir}"]
    going_on = latest_checkpoint(run_dir).is_file()
    if going_on:
        args.append(f"resume={run_dir}")
    elif run_dir.exists():  # started, but killed before its first checkpoint: nothing to go on from
        shutil.move(run_dir, unused_name(run_dir.with_name(f"{game}.unfinished")))
    print(f"{game}: training to {frames:,} frames" + (" (going on from its checkpoint)" if going_on else ""))
    call_a3c("train", args, suite_dir / f"{game}.train.log", cores)


def trained_to(run_dir: Path, frames: int) -> bool:
    """Whether the run reached the budget and evaluated its final weights (saved as latest.pt)."""
    if not metrics_file(run_dir).is_file():
        return False
    _, evals = read_metrics(run_dir)
    return any(e.get("final") and e["frames"] >= frames for e in evals)


def unused_name(path: Path) -> Path:
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


RUNNING: set[subprocess.Popen] = set()  # the a3c commands running now, told when the suite is stopped
STOPPING = threading.Event()  # set once the suite is stopped: no command starts after it


def call_a3c(command: str, args: list[str], log: Path, cores: set[int] | None) -> None:
    """Run `a3c <command> args` in a fresh interpreter, on `cores` if given, its output to `log`.
    It runs in a session of its own, so that a stop reaches it once, from stop_running: a second
    signal would make a trainer skip its last checkpoint."""

    def pin():
        if cores is not None:
            os.sched_setaffinity(0, cores)

    if STOPPING.is_set():
        raise KeyboardInterrupt
    with open(log, "a", encoding="utf-8") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "a3c_cli", command, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=pin,
            start_new_session=True,
        )
        RUNNING.add(process)
        try:
            code = process.wait()
        finally:
            RUNNING.discard(process)
    if code in (128 + signal.SIGINT, 128 + signal.SIGTERM, -signal.SIGINT, -signal.SIGTERM):
        raise KeyboardInterrupt
    if code != 0:
        raise RunFailed(f"a3c {command} exited with code {code}: see {log}")


def stop_running() -> None:
    """SIGTERM to every running command: a trainer stops as on Ctrl-C and saves a checkpoint to go
    on from (SIGINT would not reach one started where SIGINT is ignored, as in `nohup ... &`)."""
    STOPPING.set()
    for process in list(RUNNING):
        process.send_signal(signal.SIGTERM)
