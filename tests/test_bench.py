"""`a3c bench` for real: the emulator limit, a training run and memory, on the memory task."""

import json

import pytest
from conftest import a3c

pytestmark = pytest.mark.slow  # the real command line, in a fresh interpreter


def test_bench_measures_the_emulator_limit_training_and_memory(tmp_path):
    result = a3c("bench", "game=memory", "workers=1", "envs_per_worker=4", "seconds=5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    [written] = (tmp_path / "outputs" / "bench" / "memory").glob("*/bench.json")
    figures = json.loads(written.read_text())
    emulator, training = figures["emulator"], figures["training"]
    assert len(emulator["per_process"]) == 1 and emulator["frames_per_s"] > 0
    assert training["frames_per_s"] > 0 and training["updates_per_s"] > 0
    assert figures["ratio"] == round(training["frames_per_s"] / emulator["frames_per_s"], 3)
    assert 0 < training["first_update_s"] < 60
    processes = {row["process"]: row for row in training["memory"]}
    assert {"trainer", "worker 0", "evaluator"} <= set(processes)
    assert all(0 < row["pss_mb"] <= row["rss_mb"] for row in training["memory"])
    assert figures["machine"]["cores"] >= 1 and figures["machine"]["torch"]
    assert "training / emulator limit" in result.stdout and str(written.relative_to(tmp_path)) in result.stdout


def test_bench_refuses_a_bad_duration_in_one_line(tmp_path):
    result = a3c("bench", "seconds=soon", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "a3c bench: error: seconds=soon: give at least 5 seconds per phase (e.g. seconds=60)"
    ]
    assert not (tmp_path / "outputs").exists()


def test_bench_of_two_ranks_measures_their_syncs(tmp_path):
    result = a3c("bench", "game=memory", "workers=1", "envs_per_worker=4", "seconds=5", "ranks=2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    [written] = (tmp_path / "outputs" / "bench" / "memory").glob("*/bench.json")
    figures = json.loads(written.read_text())
    assert figures["ranks"] == 2 and len(figures["emulator"]["per_process"]) == 2  # 2 ranks x 1 worker
    training = figures["training"]
    assert training["frames_per_s"] > 0 and training["syncs"] >= 1
    assert 0 < training["sync_ms_mean"] <= training["sync_ms_max"]
    assert training["sync_bytes"] > 4 * 100_000  # the model's float32 changes, and the counters
    assert "syncs while measured" in result.stdout


def test_bench_refuses_a_bad_rank_count_in_one_line(tmp_path):
    result = a3c("bench", "ranks=none", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "a3c bench: error: ranks=none: give a number of ranks >= 1 (e.g. ranks=2)"
    ]
