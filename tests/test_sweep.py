"""Sweep summaries from run directories written here in the trainer's and Hydra's formats: one
sweep with a completed job, a better one, a failed one (result.json), an unfinished one and one
never evaluated, plus the Optuna sweeper's optimization_results.yaml."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import a3c
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf

from a3c_cli.commands import sweep
from a3c_cli.commands.sweep import (
    SweepSummary,
    job_result,
    report_command,
    summarize,
    write_job_result,
    write_summary,
)
from a3c_cli.system.errors import RunFailed, UsageError


def stats(values: list[float]) -> dict:
    return {"mean": sum(values) / len(values), "min": min(values), "max": max(values)}


def train_record(time: float, frames: int) -> dict:
    return {"kind": "train", "time": time, "frames": frames, "updates": frames // 80, "episodes": 1,
            "skipped_updates": 0, "fps": frames / time, "episode_returns": [1.0], "episode_lengths": [400],
            "episode_return": stats([1.0])}


def eval_record(time: float, frames: int, mean: float, final: bool = False) -> dict:
    returns = [mean - 1, mean, mean + 1]
    return {"kind": "eval", "time": time, "frames": frames, "updates": frames // 80, "final": final,
            "eval_returns": returns, "eval_lengths": [424] * 3, "eval_return": stats(returns)}


def make_job(sweep_dir: Path, job: int, overrides: list[str], records: list[dict], tail: str = "") -> Path:
    """<sweep>/<job>/ as a Hydra multirun job of `a3c train` leaves it."""
    run_dir = sweep_dir / str(job)
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / "checkpoints").mkdir()
    (run_dir / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    (run_dir / ".hydra" / "config.yaml").write_text(
        "game:\n  name: Airstriker-Genesis\nworkers: 2\nmax_frames: 200000\nmax_minutes: null\n")
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records) + tail)
    return run_dir


@pytest.fixture
def sweep_dir(tmp_path: Path) -> Path:
    sweep_dir = tmp_path / "multirun" / "2026-11-25_23-00-00"
    make_job(sweep_dir, 0, ["optim.lr=0.0001"], [
        train_record(50.0, 100_000), eval_record(55.0, 100_000, 10.0),
        train_record(100.0, 200_000), eval_record(110.0, 200_000, 9.0, final=True)])
    make_job(sweep_dir, 1, ["optim.lr=0.0003"], [
        train_record(40.0, 100_000), eval_record(45.0, 100_000, 15.0),
        train_record(80.0, 200_000), eval_record(90.0, 200_000, 20.0, final=True)])
    # the best evaluation of all, but the job failed: it ranks last
    failed = make_job(sweep_dir, 2, ["optim.lr=0.001"], [train_record(30.0, 100_000), eval_record(35.0, 100_000, 50.0)])
    write_job_result(failed, "failed", None, "worker 1 died: emulator crashed")
    # killed mid-run: a first evaluation, no final one, a half-written last line
    make_job(sweep_dir, 3, ["optim.lr=0.003"], [train_record(60.0, 100_000), eval_record(70.0, 100_000, 5.0)],
             tail='{"kind": "train", "ti')
    make_job(sweep_dir, 4, [], [train_record(20.0, 40_000)])  # still running, not yet evaluated
    (sweep_dir / "multirun.yaml").write_text("hydra:\n  mode: MULTIRUN\n")
    (sweep_dir / "optimization_results.yaml").write_text(
        "name: optuna\nbest_params:\n  optim.lr: 0.0003\n  entropy_coef: 0.01\nbest_value: 20.0\n")
    return sweep_dir


def test_rows_are_best_first_with_unevaluated_and_failed_last(sweep_dir: Path):
    rows = summarize([sweep_dir])
    assert [r["job"] for r in rows] == ["1", "0", "3", "4", "2"]
    assert [r["status"] for r in rows] == ["completed", "completed", "unfinished", "unfinished", "failed"]
    assert rows[-1]["error"] == "worker 1 died: emulator crashed"


def test_job_result_is_computed_from_the_records(sweep_dir: Path):
    row = job_result(sweep_dir / "0")
    assert row["overrides"] == ["optim.lr=0.0001"]
    assert (row["game"], row["workers"]) == ("Airstriker-Genesis", 2)
    assert (row["frames"], row["wall_s"], row["evals"]) == (200_000, 110.0, 2)
    assert row["fps"] == pytest.approx(200_000 / 110.0)
    assert (row["best_eval"], row["final_eval"]) == (10.0, 9.0)
    assert (row["status"], row["error"]) == ("completed", None)

    unfinished = job_result(sweep_dir / "3")  # the cut-short last line is left out
    assert (unfinished["frames"], unfinished["wall_s"], unfinished["best_eval"], unfinished["final_eval"]) == (
        100_000,
        70.0,
        5.0,
        None,
    )
    never_evaluated = job_result(sweep_dir / "4")
    assert (never_evaluated["overrides"], never_evaluated["best_eval"], never_evaluated["fps"]) == ([], None, 2000.0)


def test_a_job_that_failed_before_any_record_is_still_listed(sweep_dir: Path):
    early = sweep_dir / "5"
    write_job_result(early, "failed", None, "game.id: no such game")
    row = summarize([sweep_dir])[-1]
    assert (row["job"], row["status"], row["frames"], row["fps"], row["overrides"]) == ("5", "failed", 0, None, [])


def test_result_json_holds_the_status_value_and_error(tmp_path: Path):
    write_job_result(tmp_path, "completed", float("-inf"), None)  # nothing evaluated: JSON has no infinity
    assert json.loads((tmp_path / "result.json").read_text()) == {"status": "completed", "value": None, "error": None}
    write_job_result(tmp_path, "completed", 12.5, None)
    assert json.loads((tmp_path / "result.json").read_text())["value"] == 12.5
    assert list(tmp_path.iterdir()) == [tmp_path / "result.json"]  # no temporary file left behind
    with pytest.raises(ValueError):
        write_job_result(tmp_path, "crashed", None, None)


def test_summary_files(sweep_dir: Path):
    csv_path, json_path = write_summary(sweep_dir, summarize([sweep_dir]))
    with open(csv_path, newline="") as f:
        lines = list(csv.DictReader(f))
    assert len(csv_path.read_text().splitlines()) == 1 + 5
    assert [(line["rank"], line["job"], line["overrides"]) for line in lines[:2]] == [
        ("1", "1", "optim.lr=0.0003"),
        ("2", "0", "optim.lr=0.0001"),
    ]
    assert (float(lines[0]["best_eval"]), int(lines[0]["frames"]), lines[-1]["status"]) == (20.0, 200_000, "failed")

    summary = json.loads(json_path.read_text())
    assert len(summary["runs"]) == 5
    assert summary["best"] == {"run_dir": str(sweep_dir / "1"), "overrides": ["optim.lr=0.0003"]}
    assert summary["optuna"] == {"best_params": {"optim.lr": 0.0003, "entropy_coef": 0.01}, "best_value": 20.0}


def test_report_prints_the_table_and_the_best_run(sweep_dir: Path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(sweep_dir.parent)
    assert report_command([str(sweep_dir)]) == 0
    out = capsys.readouterr().out
    table_rows = [line for line in out.splitlines() if "2026-11-25_23-00-00/" in line and "│" in line]
    assert [row.split("│")[1].strip() for row in table_rows] == ["1", "2", "3", "4", "5"]
    assert "optim.lr=0.0003" in table_rows[0] and "200,000" in table_rows[0] and "0:01:30" in table_rows[0]
    assert "failed" in table_rows[-1] and "worker 1 died" in out
    assert "best: 2026-11-25_23-00-00/1 (optim.lr=0.0003) best eval 20.00" in out
    assert "optuna best: optim.lr=0.0003 entropy_coef=0.01 (value 20.0)" in out
    assert not (sweep_dir / "summary.csv").exists()

    assert report_command([str(sweep_dir), "--write"]) == 0
    assert (sweep_dir / "summary.csv").is_file() and (sweep_dir / "summary.json").is_file()


def test_report_of_a_path_without_runs_is_a_usage_error(tmp_path: Path):
    with pytest.raises(UsageError, match="no runs under"):
        report_command([str(tmp_path)])


@pytest.mark.slow
def test_report_command_line(sweep_dir: Path, tmp_path: Path):
    shown = a3c("report", str(sweep_dir))
    assert shown.returncode == 0, shown.stderr
    assert "optim.lr=0.0003" in shown.stdout and f"best: {sweep_dir / '1'}" in shown.stdout
    empty = a3c("report", str(tmp_path / "nothing"))
    assert empty.returncode == 2
    assert empty.stderr.startswith("a3c report: error: no runs under") and len(empty.stderr.splitlines()) == 1


def test_callback_summarizes_the_sweep_when_it_ends(sweep_dir: Path, capsys):
    SweepSummary().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep_dir)}}}))
    assert (sweep_dir / "summary.csv").is_file() and (sweep_dir / "summary.json").is_file()
    assert [r["job"] for r in sweep.last_summary] == ["1", "0", "3", "4", "2"]
    assert "optim.lr=0.0003" in capsys.readouterr().out


def job_config(run_dir: Path):
    return OmegaConf.create({"hydra": {"runtime": {"output_dir": str(run_dir)}}})


def test_callback_records_a_failed_job(tmp_path: Path):
    failure = JobReturn(status=JobStatus.FAILED, _return_value=RunFailed("worker 0 died\ntraceback in train.log"))
    SweepSummary().on_job_end(job_config(tmp_path), failure)
    assert json.loads((tmp_path / "result.json").read_text()) == {
        "status": "failed",
        "value": None,
        "error": "worker 0 died",
    }

    SweepSummary().on_job_end(job_config(tmp_path), JobReturn(status=JobStatus.FAILED, _return_value=KeyError("lr")))
    assert json.loads((tmp_path / "result.json").read_text())["error"] == "KeyError: 'lr'"


def test_callback_keeps_the_result_a_completed_job_wrote(tmp_path: Path):
    SweepSummary().on_job_end(job_config(tmp_path), JobReturn(status=JobStatus.COMPLETED, _return_value=7.5))
    assert json.loads((tmp_path / "result.json").read_text())["value"] == 7.5
    write_job_result(tmp_path, "completed", 9.0, None)
    SweepSummary().on_job_end(job_config(tmp_path), JobReturn(status=JobStatus.COMPLETED, _return_value=7.5))
    assert json.loads((tmp_path / "result.json").read_text())["value"] == 9.0
