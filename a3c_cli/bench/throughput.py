"""`a3c bench`: how fast training runs, against how fast the emulator alone goes on the same cores.
(`a3c bench learn`, how well it learns across a suite of games, is in suite.py.)

    a3c bench [game=...] [workers=N] [seconds=S] [ranks=R] [any other a3c train override]

1. The emulator limit: N processes step the game's environment stack (frame skip, grayscale,
   crop and resize included) with random actions for S seconds. Training cannot beat it.
2. Training: a real `a3c train` run of the same config (no evaluations during it) for S seconds
   and 15 more for start-up, measured from its steady state: the first seconds after the first
   update are left out.
3. Memory: RSS and PSS of every process of that run, sampled S/2 seconds after its first update.

With ranks=R the training run is a distributed one (distributed=gloo) of R ranks of N workers,
started by `torchrun --standalone` on this machine, and the figures add its syncs' time and
traffic: against `workers=R x N` alone, what the all-reduce costs.

It prints the figures and writes them to bench.json in outputs/bench/<game>/<time>/, with the
machine and commit they were measured on, so that runs can be compared.
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing as mp
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from a3c_cli.config.schema import GameConfig, TrainConfig
from a3c_cli.records.rundir import CHECKPOINTS, METRICS, read_records
from a3c_cli.system.errors import RunFailed, UsageError

STARTUP_S = 15.0  # the training phase runs this much longer: processes and emulators start first
WARMUP_S = 3.0  # after the first update (a quarter of a short phase): processes starting, caches cold
MEMORY_SAMPLE_AT = 0.5  # of the measured seconds after the first update


def bench_command(argv: list[str]) -> int:
    if argv[:1] == ["learn"]:
        from a3c_cli.bench.suite import learn_command

        return learn_command(argv[1:])
    parser = argparse.ArgumentParser(
        prog="a3c bench", description="Measure the emulator limit, training throughput and memory on this machine.",
        epilog="example: a3c bench game=Pong-Atari2600 workers=2 seconds=60 envs_per_worker=8; "
               "the learning benchmark: a3c bench learn --help")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="seconds=S (default 60) for each of the two phases, and any a3c train override")
    args = parser.parse_args(argv)
    seconds, overrides = take_seconds(args.overrides)
    ranks, overrides = take_ranks(overrides)

    from a3c_cli.config.compose import normalize_game_names, precheck

    # the ranks' count, as torchrun will give it them: the defaults that follow the workers count all ranks'
    overrides = normalize_game_names(overrides) + (["distributed=gloo", f"distributed.ranks={ranks}"] if ranks > 1
                                                   else [])
    cfg = precheck("train", overrides)
    if cfg is None:  # what only a running Hydra job can resolve
        raise UsageError("a3c bench takes the key=value overrides of a single a3c train run")
    out_dir = Path("outputs") / "bench" / cfg.game.name / datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    results = {"command": " ".join(["a3c bench", *argv]), **run_bench(overrides, seconds, out_dir)}
    print_results(results)
    (out_dir / "bench.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"figures written to {out_dir / 'bench.json'}")
    return 0


def take_seconds(overrides: list[str]) -> tuple[float, list[str]]:
    seconds, rest = 60.0, []
    for override in overrides:
        if override.startswith("seconds="):
            try:
                seconds = float(override.removeprefix("seconds="))
            except ValueError:
                seconds = -1.0
            if seconds < 5:
                raise UsageError(f"{override}: give at least 5 seconds per phase (e.g. seconds=60)")
        else:
            rest.append(override)
    return seconds, rest


def take_ranks(overrides: list[str]) -> tuple[int, list[str]]:
    ranks = [o for o in overrides if o.startswith("ranks=")]
    value = ranks[-1].removeprefix("ranks=") if ranks else "1"
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"ranks={value}: give a number of ranks >= 1 (e.g. ranks=2)")
    return int(value), [o for o in overrides if not o.startswith("ranks=")]


def run_bench(overrides: list[str], seconds: float, out_dir: Path) -> dict:
    from a3c_cli.config.compose import precheck
    from a3c_cli.config.schema import plain
    from a3c_cli.records.provenance import machine
    from a3c_cli.train.trainer import prepared

    args = training_args(overrides, seconds, out_dir / "train")
    cfg = prepared(precheck("train", args))  # the training phase's, its game checked and its actions spelled out
    out_dir.mkdir(parents=True, exist_ok=True)
    ranks = cfg.distributed.ranks
    where = f" on each of {ranks} ranks" if ranks > 1 else ""
    print(f"a3c bench: {cfg.game.name}, {cfg.workers} workers x {cfg.envs_per_worker} environments{where}, "
          f"{seconds:.0f} s per phase")
    print(f"1/2 emulator limit: {cfg.workers * ranks} processes stepping the game with random actions")
    emulator = emulator_limit(cfg.game, cfg.model.frame_size, seconds, cfg.workers * ranks)
    print(f"2/2 training: a3c train for {seconds + STARTUP_S:.0f} s, {STARTUP_S:.0f} of them for start-up")
    training = training_throughput(cfg, args, seconds, out_dir / "train")
    return {
        "game": cfg.game.name, "workers": cfg.workers, "envs_per_worker": cfg.envs_per_worker,
        **({"ranks": ranks} if ranks > 1 else {}),
        "seconds": seconds, "machine": machine(), "emulator": emulator, "training": training,
        "ratio": round(training["frames_per_s"] / emulator["frames_per_s"], 3) if training["frames_per_s"] else None,
        "config": {k: plain(getattr(cfg, k)) for k in ("rollout_steps", "model", "optim")},
    }


def training_args(overrides: list[str], seconds: float, run_dir: Path) -> list[str]:
    """The training phase's `a3c train` overrides: the command line's, and over them a time limit
    alone (start-up included), no evaluation but the final one, a training line every second, and
    fresh records in the bench's folder."""
    ours = {"max_minutes": (STARTUP_S + seconds) / 60, "max_frames": "null", "eval_interval": 10**15,
            "eval_episodes": 1, "log_interval": 1, "progress": "false", "resume": "null",
            "hydra.run.dir": run_dir, "checkpoints_dir": run_dir / CHECKPOINTS}
    given = [o for o in overrides if o.split("=", 1)[0] not in ours]
    return [*given, *(f"{key}={value}" for key, value in ours.items())]


# -- 1. the emulator limit ------------------------------------------------------------------------

def emulator_limit(game: GameConfig, frame_size: int, seconds: float, processes: int) -> dict:
    with ProcessPoolExecutor(processes, mp_context=mp.get_context("spawn")) as pool:
        start_together = time.time() + 3.0  # every process has made its emulator by then
        futures = [pool.submit(step_randomly, game, frame_size, start_together, seconds, seed)
                   for seed in range(processes)]
        rates = [future.result() for future in futures]
    return {"frames_per_s": round(sum(rates)), "per_process": [round(r) for r in rates]}


def step_randomly(game: GameConfig, frame_size: int, start_at: float, seconds: float, seed: int) -> float:
    """Emulator frames per second of one process stepping the environment stack at random."""
    from a3c_cli.games.make import make_env
    from a3c_cli.system.processes import set_name

    set_name("a3c-emulator")
    env = make_env(game, frame_size)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    time.sleep(max(0.0, start_at - time.time()))
    steps, started = 0, time.monotonic()
    while time.monotonic() - started < seconds:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        steps += 1
        if terminated or truncated:
            env.reset()
    return steps * game.frame_skip / (time.monotonic() - started)


# -- 2. training ------------------------------------------------------------------------------------

def training_throughput(cfg: TrainConfig, args: list[str], seconds: float, run_dir: Path) -> dict:
    """`cfg`: the training phase's config (`args`: its overrides, which the ranks of ranks=R get)."""
    from a3c_cli.system.processes import seconds_alive
    from a3c_cli.train.trainer import train

    run_dir.mkdir(parents=True, exist_ok=True)
    limit = STARTUP_S + seconds
    ranks = cfg.distributed.ranks
    sampler = MemorySampler(run_dir / METRICS, after_first_update=MEMORY_SAMPLE_AT * seconds)
    sampler.start()
    # the trainer's figure counts from its process's start: this one, or a rank torchrun starts now
    age_at_start = (seconds_alive() or 0.0) if ranks == 1 else 0.0
    try:
        if ranks > 1:
            train_ranks(args, ranks, run_dir)
        else:
            train(cfg, str(run_dir))
    finally:
        sampler.run_ended.set()  # a run that never updated has nothing to sample
        sampler.join()
    records = read_records(run_dir)
    first_update = next((r for r in records if r["kind"] == "start"), None)
    lines = [r for r in records if r["kind"] == "train"]
    warmup = min(WARMUP_S, seconds / 4)
    steady = [r for r in lines if first_update and first_update["time"] + warmup <= r["time"] <= limit]
    first_update_s = round(first_update["first_update_s"] - age_at_start, 1) if first_update else None
    # the processes of several ranks are not told apart (their trainers and fork servers): no figures
    memory = sampler.rows if ranks == 1 else []
    result = {"frames_per_s": None, "updates_per_s": None, "first_update_s": first_update_s,
              "memory": memory, "run_dir": str(run_dir)}
    if len(steady) >= 2:
        span = steady[-1]["time"] - steady[0]["time"]
        result["frames_per_s"] = round((steady[-1]["frames"] - steady[0]["frames"]) / span)
        result["updates_per_s"] = round((steady[-1]["updates"] - steady[0]["updates"]) / span, 1)
        result["measured_s"] = round(span, 1)
        result.update(sync_figures(steady))
    return result


def train_ranks(args: list[str], ranks: int, run_dir: Path) -> None:
    """The training phase of ranks=R: `a3c train distributed=gloo` under torchrun, on this machine."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}",
               "-m", "a3c_cli", "train", *args]
    with open(run_dir / "torchrun.log", "w") as log:
        if subprocess.run(command, stdout=log, stderr=subprocess.STDOUT).returncode != 0:
            raise RunFailed(f"the distributed training phase failed: see {run_dir / 'torchrun.log'}")


def sync_figures(lines: list[dict]) -> dict:
    """A distributed run's syncs over the measured lines: their time and traffic."""
    syncs = [line["sync"] for line in lines if line.get("sync")]
    if not syncs:
        return {}
    count = sum(s["syncs"] for s in syncs)
    return {"syncs": count, "sync_ms_mean": round(sum(s["ms_mean"] * s["syncs"] for s in syncs) / count, 1),
            "sync_ms_max": max(s["ms_max"] for s in syncs), "sync_bytes": syncs[-1]["bytes_per_sync"]}


class MemorySampler(threading.Thread):
    """Reads the memory of the run's processes once, some seconds after the first update (the
    trainer records it in metrics.jsonl): the trainer (this process), each worker with the
    emulator processes it started, the evaluator."""

    def __init__(self, metrics: Path, after_first_update: float):
        super().__init__(daemon=True)
        self.metrics, self.delay, self.rows = metrics, after_first_update, []
        self.run_ended = threading.Event()

    def run(self) -> None:
        from a3c_cli.system.processes import memory_tree

        while not (self.metrics.exists() and '"kind": "start"' in self.metrics.read_text()):
            if self.run_ended.wait(0.2):
                return
        if self.run_ended.wait(self.delay):
            return
        tree = memory_tree()
        role = {row["pid"]: describe(row, tree) for row in tree}
        self.rows = [{"process": role[row["pid"]], **{k: row[k] for k in ("pid", "rss_mb", "pss_mb")}} for row in tree]


def describe(row: dict, tree: list[dict]) -> str:
    if row["parent"] is None:
        return "trainer"
    parent = next(r for r in tree if r["pid"] == row["parent"])
    if parent["parent"] is not None and (parent["name"] or "").startswith("a3c-worker-"):
        return f"emulator of worker {parent['name'].removeprefix('a3c-worker-')}"
    name = row["name"] or "?"
    if name.startswith("a3c-worker-"):
        return f"worker {name.removeprefix('a3c-worker-')}"
    if name == "a3c-evaluator":
        return "evaluator"
    return f"other ({name})"  # multiprocessing's resource tracker


# -- the report ---------------------------------------------------------------------------------------

def print_results(results: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    emulator, training = results["emulator"], results["training"]
    shape = f"{results['workers']} workers x {results['envs_per_worker']} environments"
    table = Table(title=f"a3c bench: {results['game']}, {shape}")
    table.add_column("")
    table.add_column("frames/s", justify="right")
    table.add_row(f"emulator limit ({results['workers']} processes, random actions)", f"{emulator['frames_per_s']:,}")
    shown = "-" if training["frames_per_s"] is None else f"{training['frames_per_s']:,}"
    table.add_row("training", shown)
    table.add_row("training / emulator limit", "-" if results["ratio"] is None else f"{results['ratio']:.0%}")
    console = Console()
    console.print(table)
    if training["memory"]:
        memory = Table(title="memory per process (MB), sampled during training")
        for column in ("process", "RSS", "PSS"):
            memory.add_column(column, justify="left" if column == "process" else "right")
        for row in training["memory"]:
            memory.add_row(row["process"], f"{row['rss_mb']:.0f}", f"{row['pss_mb']:.0f}")
        console.print(memory)
    else:
        console.print("memory: not sampled" + (" (a run of several ranks)" if results.get("ranks") else ""))
    if "sync_ms_mean" in training:
        console.print(f"{training['syncs']} syncs while measured, {training['sync_ms_mean']:.0f} ms each on average "
                      f"(at most {training['sync_ms_max']:.0f}, the wait for the slowest rank included), "
                      f"{training['sync_bytes'] / 1e6:.1f} MB each")
    if training["first_update_s"] is not None:
        console.print(f"first update {training['first_update_s']:.1f} s after the training phase started")
    m = results["machine"]
    console.print(f"{m['cpu']}, {m['cores']} cores, Python {m['python']}, torch {m['torch']}, commit {m['commit']}")
