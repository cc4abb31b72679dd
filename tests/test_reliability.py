"""Faults done for real to a running `a3c train`: a worker killed, SIGTERM, the trainer killed,
a diverging loss."""

import os
import re
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from conftest import a3c, child_pids, records, running
from test_train import run_args, start

pytestmark = pytest.mark.slow  # real training runs, killed and signalled


def worker_pid(run: Path, rank: int) -> int:
    return int(re.findall(rf"worker {rank} started \(pid (\d+)\)", (run / "train.log").read_text())[-1])


def test_a_killed_worker_or_evaluator_is_restarted_and_the_run_finishes(tmp_path):
    process = start(tmp_path, "workers=2", "max_frames=40000", "eval_interval=20000", "eval_episodes=1",
                    "game.max_episode_steps=300")
    run = tmp_path / "run"
    victim = worker_pid(run, 1)
    evaluator = int(re.findall(r"evaluator started \(pid (\d+)\)", (run / "train.log").read_text())[-1])
    os.kill(victim, signal.SIGKILL)
    os.kill(evaluator, signal.SIGKILL)
    _, stderr = process.communicate(timeout=180)
    assert process.returncode == 0, stderr[-3000:]
    log = (run / "train.log").read_text()
    assert "worker 1 died (exit code -9): restarting it" in log
    assert "evaluator died (exit code -9): restarting it" in log
    assert worker_pid(run, 1) != victim  # a new process took rank 1
    assert records(run, "eval")[-1]["final"]  # the new evaluator did the final evaluation
    train = records(run, "train")
    assert train[-1]["frames"] >= 40000
    assert [r["frames"] for r in train] == sorted(r["frames"] for r in train)  # counters went on
    latest = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    assert latest["counters"]["frames"] == train[-1]["frames"]


def test_sigterm_saves_a_checkpoint_and_exits_within_10_s(tmp_path):
    process = start(tmp_path, "workers=2", "max_frames=10000000")
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert time.monotonic() - sent < 10
    assert process.returncode == 143, stderr[-2000:]
    latest = torch.load(tmp_path / "run" / "checkpoints" / "latest.pt", weights_only=True)
    assert latest["counters"]["updates"] > 0
    assert "SIGTERM: stopping the workers" in (tmp_path / "run" / "train.log").read_text()


def test_killing_the_trainer_leaves_no_process_behind(tmp_path):
    process = start(tmp_path, "workers=2", "max_frames=10000000")
    children = child_pids(process.pid)
    assert len(children) >= 3
    process.kill()
    process.communicate(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and [pid for pid in children if running(pid)]:
        time.sleep(0.2)
    assert not [pid for pid in children if running(pid)]


def test_a_diverging_loss_stops_the_run_instead_of_saving_nan_weights(tmp_path):
    # a reward of 1e30 fits a float32, its square does not: every update with a reward is non-finite
    result = a3c(*run_args(tmp_path, "game=memory", "workers=2", "max_frames=2000000", "game.reward_scale=1e30"))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "training diverged" in lines[0]
    latest = torch.load(tmp_path / "run" / "checkpoints" / "latest.pt", weights_only=True)
    assert latest["counters"]["skipped_updates"] > 0
    assert all(torch.isfinite(t).all() for t in latest["model"].values())


def test_an_output_directory_that_cannot_be_created_is_one_line(tmp_path):
    # /proc takes no new folders, even from root (whom permission bits do not stop)
    for args in (
        ["train", "hydra.run.dir=/proc/a3c-run"],
        ["train", "-m", "seed=1,2", "hydra.sweep.dir=/proc/a3c-sweep"],
        ["train", "game=memory", "checkpoints_dir=/proc/a3c-checkpoints", f"hydra.run.dir={tmp_path}"],
    ):
        result = a3c(*args)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "/proc/a3c-" in lines[0] and "Traceback" not in result.stdout, result.stderr


@contextmanager
def tmpfs(path: Path, options: str):
    """A small file system of its own at `path` (a full disk, a read-only one); needs root."""
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs needs root: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_a_full_disk_is_one_line_and_keeps_the_last_good_checkpoint(tmp_path):
    # room for latest.pt (7 MB) after the first evaluation, not for best.pt beside it
    with tmpfs(tmp_path / "disk", "size=10m") as disk:
        result = a3c(
            "train",
            "game=memory",
            "workers=2",
            "max_frames=1000000",
            "eval_interval=1000",
            f"hydra.run.dir={disk / 'run'}",
            f"checkpoints_dir={disk / 'checkpoints'}",
            timeout=120,
        )
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "No space left on device" in lines[0], result.stderr
        latest = torch.load(disk / "run" / "checkpoints" / "latest.pt", weights_only=True)
        assert latest["counters"]["frames"] >= 1000
        assert not list(disk.rglob(".*.pt"))  # no temporary checkpoint left (".latest.<random>.pt")


def test_a_second_ctrl_c_exits_at_once_and_corrupts_nothing(tmp_path):
    process = start(tmp_path, "workers=2", "max_frames=10000000")
    children = child_pids(process.pid)
    process.send_signal(signal.SIGINT)
    time.sleep(0.2)
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert time.monotonic() - sent < 5
    assert process.returncode == 130 and "Traceback" not in stderr, stderr[-2000:]
    checkpoints = tmp_path / "run" / "checkpoints"
    assert torch.load(checkpoints / "latest.pt", weights_only=True)["counters"]["updates"] > 0
    assert not list(checkpoints.glob(".*.pt"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and [pid for pid in children if running(pid)]:
        time.sleep(0.2)
    assert not [pid for pid in children if running(pid)]


def test_a_read_only_output_directory_is_one_line(tmp_path):
    with tmpfs(tmp_path / "readonly", "ro,size=1m") as disk:  # read-only for root too, unlike permission bits
        result = a3c("train", f"hydra.run.dir={disk / 'run'}")
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Read-only file system" in lines[0] and str(disk) in lines[0], result.stderr


def test_divergence_is_judged_over_ten_updates_however_many_lines_they_take(tmp_path):
    """A slow machine makes a few updates a line: they add up until there are enough to judge."""
    from a3c_cli.config.schema import TrainConfig
    from a3c_cli.records.metrics import RunRecords
    from a3c_cli.train.run_stats import RunStats

    start = {"frames": 0, "updates": 0, "episodes": 0, "skipped_updates": 0}
    stats = RunStats(TrainConfig(), tmp_path, RunRecords(tmp_path), start, None, now=0.0)
    said = []
    for line in range(1, 4):  # 4 updates a line, every one skipped
        counters = {**start, "frames": 640 * line, "updates": 4 * line, "skipped_updates": 4 * line}
        said.append(stats.write_train_line(counters, now=2.0 * line))
    assert said[:2] == [None, None]
    assert said[2].startswith("training diverged: 12 of the last 12 updates")
    healthy = {**start, "frames": 9000, "updates": 40, "skipped_updates": 12}  # 28 more, none skipped
    assert stats.write_train_line(healthy, now=10.0) is None
