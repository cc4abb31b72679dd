"""Helpers shared by the tests: compose configs as Hydra does, run the real CLI, read run records."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from a3c_cli.config.compose import job_config
from a3c_cli.config.schema import CONFIG_DIR, TrainConfig

REPO = Path(__file__).resolve().parents[1]
GAMES = sorted(p.stem for p in (REPO / "conf" / "game").glob("*.yaml"))
# game files that play any game of their backend need its id
GAME_OVERRIDES = {"retro": ["game.id=Airstriker-Genesis-v0"], "ale": ["game.id=ALE/Pong-v5"]}


def game_config(name: str, *overrides: str) -> TrainConfig:
    """The config of `a3c train game=<name>`, with an id for the open-ended game files."""
    return config(f"game={name}", *GAME_OVERRIDES.get(name, []), *overrides)


def config(*overrides: str) -> TrainConfig:
    """The job config for these overrides, exactly as `a3c train` composes it: typed, checked
    (a bad value raises UsageError) and read-only."""
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        return job_config(compose("config", overrides=list(overrides)), "train", overrides)


STARTED: list[subprocess.Popen] = []  # trainers a test started and talks to while they run


@pytest.fixture(autouse=True)
def no_trainer_outlives_its_test():
    """A test that fails while a trainer it started still runs would leave it, its workers and
    their emulators taking the cores from every later test (and failing some of them). Killed
    outright, the trainer takes its children with it."""
    yield
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.communicate()


def a3c(*args: str, timeout: float = 240, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real command line in a fresh interpreter."""
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "a3c_cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd or REPO, env=env)


def records(run_dir: Path, kind: str) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def in_fresh_process(fn, *args):
    """Call fn(*args) in a new spawned process: stable-retro allows one emulator per process."""
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result(timeout=120)


@pytest.fixture(scope="session")
def atari_roms():
    """Pong and Breakout come from ale-py's ROMs, imported into stable-retro as `a3c train` does.
    It writes to stable-retro's data folder, so it is opt-in: a test that plays Pong-Atari2600 or
    Breakout-Atari2600 asks for it (an argument, or @pytest.mark.usefixtures("atari_roms"))."""
    from a3c_cli.games.roms import ensure_rom

    for game in ("Pong-Atari2600-v0", "Breakout-Atari2600-v0"):
        ensure_rom(game)


def running(pid: int) -> bool:
    """Alive and not a zombie (a process that has exited and waits to be reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def child_pids(pid: int) -> set[int]:
    """Every descendant: workers and the evaluator are children of the fork server, emulator
    processes children of their worker."""
    children = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children |= {int(c) for c in (task / "children").read_text().split()}
        except FileNotFoundError:
            continue  # a thread or process that just ended
    for child in list(children):
        children |= child_pids(child) if running(child) else set()
    return children
