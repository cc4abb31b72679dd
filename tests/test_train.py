"""Real training runs through the real command line: emulators, worker processes, the evaluator."""

import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import REPO, STARTED, a3c, child_pids, records, running

from a3c_cli.agent.model import trained_model

pytestmark = pytest.mark.slow  # real training runs through the command line


def run_args(tmp_path: Path, *overrides: str) -> list[str]:
    return [
        "train",
        f"hydra.run.dir={tmp_path / 'run'}",
        f"checkpoints_dir={tmp_path / 'checkpoints'}",
        "log_interval=2",
        *overrides,
    ]


def test_two_workers_on_airstriker_leave_a_complete_run_directory(tmp_path):
    result = a3c(
        *run_args(
            tmp_path,
            "workers=2",
            "max_frames=16000",
            "eval_interval=8000",
            "eval_episodes=2",
            "game.max_episode_steps=100",
        )
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "run"
    assert (run / ".hydra" / "config.yaml").is_file() and (run / ".hydra" / "overrides.yaml").is_file()

    train = records(run, "train")
    last = train[-1]
    assert last["frames"] >= 16000 and last["updates"] > 0 and last["time"] > 0
    assert all({"frames", "updates", "fps", "time", "episode_returns"} <= set(r) for r in train)
    assert any(r["fps"] > 0 for r in train)
    # every finished training episode is in exactly one line
    assert sum(len(r["episode_returns"]) for r in train) == last["episodes"] > 0

    evals = records(run, "eval")
    assert evals and evals[-1]["final"]
    assert all(len(e["eval_returns"]) == 2 and set(e["eval_return"]) == {"mean", "min", "max"} for e in evals)
    assert [e["frames"] for e in evals] == sorted(e["frames"] for e in evals)

    latest = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    assert latest["counters"]["frames"] == last["frames"]
    # the loss's parts, per decision: a policy's entropy lies between 0 and ln(number of actions)
    learning = [r["learning"] for r in train if r["learning"]]
    assert learning and set(learning[0]) == {"entropy", "entropy_coef", "policy_loss", "value_loss", "grad_norm"}
    assert (
        all(part["entropy_coef"] == pytest.approx(0.01) for part in learning) and latest["entropy_coef"] == 0.01
    )  # fixed
    most = math.log(len(latest["config"]["game"]["actions"]))
    assert all(
        0 < part["entropy"] <= most + 1e-6
        and part["value_loss"] >= 0
        and part["grad_norm"] > 0
        and math.isfinite(part["policy_loss"])
        for part in learning
    )
    assert latest["evaluation"]["frames"] == evals[-1]["frames"]
    trained_model(latest["config"]).load_state_dict(latest["model"])
    best = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    assert best["best_return"] == max(e["eval_return"]["mean"] for e in evals)
    published = torch.load(tmp_path / "checkpoints" / "Airstriker-Genesis" / "best.pt", weights_only=True)
    assert published["best_return"] == best["best_return"]

    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert (run / "curve.png").stat().st_size > 10_000
    log = (run / "train.log").read_text()
    assert "evaluation at" in log and "stopped (max_frames)" in log and "policy entropy" in log
    start = records(run, "start")  # start-up time: from the command to the first update
    assert len(start) == 1 and 0 < start[0]["first_update_s"] < 120 and "first update" in log


@pytest.mark.usefixtures("atari_roms")
def test_pong_with_rmsprop_and_a_smaller_lstm(tmp_path):
    result = a3c(
        *run_args(
            tmp_path,
            "game=Pong-Atari2600",
            "optim=rmsprop",
            "model.lstm_size=128",
            "workers=2",
            "max_frames=6000",
            "eval_interval=100000",
            "eval_episodes=1",
            "game.max_episode_steps=150",
        )
    )
    assert result.returncode == 0, result.stderr[-3000:]
    latest = torch.load(tmp_path / "run" / "checkpoints" / "latest.pt", weights_only=True)
    assert latest["game"] == "Pong-Atari2600" and latest["actions"] == [[], ["UP"], ["DOWN"]]
    assert latest["model"]["core.weight_hh"].shape == (4 * 128, 128)
    assert all("square_avg" in s for s in latest["optimizer"]["state"].values())
    assert records(tmp_path / "run", "eval")[-1]["final"]


def has_updates(run: Path) -> bool:
    return (run / "metrics.jsonl").exists() and any(r["updates"] > 0 for r in records(run, "train"))


def start(tmp_path: Path, *overrides: str) -> subprocess.Popen:
    """A trainer running in the background (killed when the test ends), once it has updated.
    It takes Ctrl-C as one started from a terminal does, even where the tests themselves run
    with SIGINT ignored (a shell's background job, nohup), which Python would pass on to it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "a3c_cli", *run_args(tmp_path, *overrides)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    STARTED.append(process)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not has_updates(tmp_path / "run"):
        time.sleep(0.3)
    assert has_updates(tmp_path / "run"), "the run never updated"
    return process


def test_ctrl_c_stops_workers_saves_a_checkpoint_and_exits(tmp_path):
    process = start(tmp_path, "workers=2", "max_frames=10000000")
    children = child_pids(process.pid)
    assert len(children) >= 3 + 16  # two workers and the evaluator, each worker's 8 emulator processes
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr[-2000:]
    assert "Traceback" not in stderr
    latest = torch.load(tmp_path / "run" / "checkpoints" / "latest.pt", weights_only=True)
    assert latest["counters"]["updates"] > 0
    deadline = time.monotonic() + 10  # multiprocessing's resource tracker exits a moment later
    while time.monotonic() < deadline and [pid for pid in children if running(pid)]:
        time.sleep(0.2)
    assert not [pid for pid in children if running(pid)]


def final_success(tmp_path: Path, *overrides: str) -> float:
    result = a3c(*run_args(tmp_path, "game=memory", "workers=2", "optim.lr=1e-3", "eval_episodes=100", *overrides))
    assert result.returncode == 0, result.stderr[-3000:]
    final = records(tmp_path / "run", "eval")[-1]
    assert final["final"]
    return final["eval_return"]["mean"]


# classic A3C: 1,200 updates of one environment; batched (the default): 8 environments a worker.
# Both budgets are 2.4 times what seeds 0 and 1 needed to succeed every time (10,000 and 20,000 frames).
LEARNING_RUNS = {
    "classic": ["envs_per_worker=1", "max_frames=24000", "eval_interval=12000"],
    "batched": ["envs_per_worker=8", "max_frames=48000", "eval_interval=24000"],
}


@pytest.mark.parametrize("run", LEARNING_RUNS.values(), ids=LEARNING_RUNS.keys())
def test_lstm_agent_learns_the_memory_task(tmp_path, run):
    """The cue is gone for 5 frames before the choice: only carried LSTM state can bridge them."""
    assert final_success(tmp_path, *run) >= 0.95


def test_feed_forward_agent_cannot_learn_the_memory_task(tmp_path):
    assert final_success(tmp_path, *LEARNING_RUNS["batched"], "model.recurrent=false") < 0.8


def test_a_config_error_only_the_emulator_reveals_is_one_line_and_exit_2(tmp_path):
    """The crop is checked against the frame inside the workers; their failure reaches the user as
    the same one line as any bad override, and the traceback goes to train.log only."""
    result = a3c(*run_args(tmp_path, "workers=2", "game.crop=[200,100,0,0]"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "a3c train: error: game.crop=[200, 100, 0, 0] leaves nothing of the 224x320 frame: crop less"
    ]
    assert "Traceback" not in result.stdout
    assert "Traceback" in (tmp_path / "run" / "train.log").read_text()


def test_the_ale_backend_trains(tmp_path):
    result = a3c(
        *run_args(
            tmp_path,
            "game=ale",
            "game.id=ALE/Breakout-v5",
            "workers=2",
            "max_frames=4000",
            "eval_episodes=1",
            "game.max_episode_steps=200",
        )
    )
    assert result.returncode == 0, result.stderr[-3000:]
    latest = torch.load(tmp_path / "run" / "checkpoints" / "latest.pt", weights_only=True)
    assert latest["game"] == "ALE-Breakout-v5"
    assert latest["actions"] == [["NOOP"], ["FIRE"], ["RIGHT"], ["LEFT"]]  # ALE's minimal set, spelled out
    assert latest["counters"]["frames"] >= 4000
    assert records(tmp_path / "run", "eval")[-1]["final"]
