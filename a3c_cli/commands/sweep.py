"""One table for a sweep: each job's overrides, frames, speed, evaluations and status, best first.

`a3c report PATH...` prints it for any runs on disk; the SweepSummary callback prints it when a
multirun ends and writes summary.csv and summary.json into the sweep directory. Everything is read
from the run directories, so it works for every launcher, and for sweeps still running.
Each job ends by writing result.json (completed or failed, its value, the error): a job that died
before its final evaluation without one is "unfinished".
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path
from typing import Any

import yaml
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table
from rich.text import Text

from a3c_cli.distributed.launch import launched
from a3c_cli.records.files import atomic_path
from a3c_cli.records.rundir import (
    METRICS,
    RESULT,
    find_runs,
    hydra_file,
    natural_order,
    read_metrics,
    read_result,
    runs_under,
    write_result,
)
from a3c_cli.system.errors import RunFailed, UsageError
from a3c_cli.train.progress import clock, number

OPTUNA_RESULTS = "optimization_results.yaml"
STATUSES = ("completed", "failed")
CSV_COLUMNS = ["rank", "job", "status", "overrides", "game", "workers", "frames", "wall_s", "fps",
               "best_eval", "final_eval", "evals", "value", "error", "run_dir"]
ERROR_WIDTH = 50  # characters of a failed job's error in the table: the full line is in result.json

# the rows of the last multirun's summary, for the CLI to exit non-zero when a job failed
last_summary: list[dict] | None = None


# --- one job -------------------------------------------------------------------------------------

def job_result(run_dir: str | Path) -> dict:
    """One row: what the job was asked to do (overrides), how far it got, and how well it played."""
    run_dir = Path(run_dir)
    # a job that failed before its first record has result.json and no metrics
    train, evals = read_metrics(run_dir) if (run_dir / METRICS).is_file() else ([], [])
    config = hydra_file(run_dir, "config.yaml") or {}
    result = read_result(run_dir)
    last_train, last_eval = (train or [None])[-1], (evals or [None])[-1]
    frames = max((r["frames"] for r in (last_train, last_eval) if r), default=0)
    wall_s = max((r["time"] for r in (last_train, last_eval) if r), default=None)
    means = [r["eval_return"]["mean"] for r in evals if r["eval_return"]["mean"] is not None]
    finals = [r for r in evals if r.get("final")]
    final_eval = finals[-1]["eval_return"]["mean"] if finals else None
    return {
        "run_dir": str(run_dir),
        "job": run_dir.name,
        "overrides": hydra_file(run_dir, "overrides.yaml") or [],
        "game": config.get("game", {}).get("name"),
        "workers": config.get("workers"),
        "frames": frames,
        "wall_s": wall_s,
        "fps": frames / wall_s if wall_s else None,
        "best_eval": max(means, default=None),
        "final_eval": final_eval,
        "evals": len(evals),
        "status": result.get("status") or ("completed" if finals else "unfinished"),
        "value": result.get("value"),
        "error": result.get("error"),
    }


def write_job_result(run_dir: str | Path, status: str, value: float | None, error: str | None) -> None:
    """run_dir/result.json, written as the job ends, whether it completed or failed."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
    # JSON has no infinity: the trainer returns -inf when nothing was evaluated
    finite = value if isinstance(value, (int, float)) and math.isfinite(value) else None
    write_result(run_dir, {"status": status, "value": finite, "error": error})


# --- a sweep -------------------------------------------------------------------------------------

def summarize(paths: list[Path]) -> list[dict]:
    """Rows for every run under the paths, best evaluation first; runs not yet evaluated after
    those, failed runs last."""
    rows = [job_result(run) for run in find_jobs(paths)]
    return sorted(rows, key=lambda r: (r["status"] == "failed", r["best_eval"] is None, -(r["best_eval"] or 0)))


def find_jobs(paths: list[Path]) -> list[Path]:
    """The run directories under the paths, each once, in the order given."""
    return find_runs(paths, under=jobs_under)


def jobs_under(path: Path) -> list[Path]:
    """plot.runs_under's runs, plus jobs that failed before writing any metrics (only result.json)."""
    if (path / METRICS).is_file() or (path / RESULT).is_file():
        return [path]
    return sorted(set(runs_under(path)) | {result.parent for result in path.rglob(RESULT)}, key=natural_order)


def best_row(rows: list[dict]) -> dict | None:
    """The best evaluated job that did not fail."""
    return next((r for r in rows if r["best_eval"] is not None and r["status"] != "failed"), None)


def optuna_results(sweep_dir: Path) -> dict | None:
    """{best_params, best_value} from the Optuna sweeper's optimization_results.yaml, if any."""
    path = Path(sweep_dir) / OPTUNA_RESULTS
    results = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    if not results or "best_params" not in results:
        return None
    return {"best_params": results["best_params"], "best_value": results.get("best_value")}


def write_summary(sweep_dir: str | Path, rows: list[dict]) -> tuple[Path, Path]:
    """summary.csv (one line per job) and summary.json (the rows, the best run, Optuna's result)."""
    sweep_dir = Path(sweep_dir)
    csv_path, json_path = sweep_dir / "summary.csv", sweep_dir / "summary.json"
    with atomic_path(csv_path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, CSV_COLUMNS)
        writer.writeheader()
        for rank, row in enumerate(rows, start=1):
            cells = {k: row[k] for k in CSV_COLUMNS[1:]}
            writer.writerow({**cells, "rank": rank, "overrides": " ".join(row["overrides"])})
    best = best_row(rows)
    summary: dict[str, Any] = {
        "runs": rows,
        "best": best and {"run_dir": best["run_dir"], "overrides": best["overrides"]},
    }
    optuna = optuna_results(sweep_dir)
    if optuna:
        summary["optuna"] = optuna
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return csv_path, json_path


# --- printing ------------------------------------------------------------------------------------


def summary_table(rows: list[dict], title: str) -> Table:
    table = Table(title=title)
    table.add_column("rank", justify="right", no_wrap=True)
    table.add_column("overrides", overflow="fold")
    for name in ("frames", "wall time", "frames/s", "best eval", "final eval"):
        table.add_column(name, justify="right", no_wrap=True)  # a number cut in two reads as two numbers
    table.add_column("status", min_width=len("unfinished"))
    table.add_column("run dir", overflow="fold")
    for rank, row in enumerate(rows, start=1):
        table.add_row(
            str(rank),
            " ".join(row["overrides"]) or "-",
            f"{row['frames']:,}",
            clock(row["wall_s"]),
            number(row["fps"], 0),
            number(row["best_eval"]),
            number(row["final_eval"]),
            status_cell(row),
            shown_path(row["run_dir"]),
        )
    return table


def status_cell(row: dict) -> Text:
    style = {"completed": "green", "failed": "red"}.get(row["status"], "yellow")
    cell = Text(row["status"], style=style)
    if row["error"]:
        error = row["error"] if len(row["error"]) <= ERROR_WIDTH else row["error"][: ERROR_WIDTH - 1] + "…"
        cell.append("\n" + error, style="dim")
    return cell


def shown_path(run_dir: str) -> str:
    """Relative to the current directory when below it: shorter, and what the user typed."""
    path, here = Path(run_dir).resolve(), Path.cwd().resolve()
    return str(path.relative_to(here)) if path.is_relative_to(here) else run_dir


def print_summary(console: Console, rows: list[dict], title: str, optuna: dict | None = None) -> None:
    console.print(summary_table(rows, title))
    best = best_row(rows)
    if best is None:
        console.print("best: none (no run has an evaluation yet)")
    else:
        overrides = " ".join(best["overrides"]) or "no overrides"
        console.print(
            f"best: {shown_path(best['run_dir'])} ({overrides}) best eval {number(best['best_eval'])}", highlight=False
        )
    if optuna:
        params = " ".join(f"{k}={v}" for k, v in optuna["best_params"].items())
        console.print(f"optuna best: {params} (value {optuna['best_value']})", highlight=False)


def report_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="a3c report", description="Summarize runs or sweeps in one table, best first."
    )
    parser.add_argument(
        "paths", nargs="+", type=Path, metavar="PATH", help="a sweep directory, a folder of runs or a run directory"
    )
    parser.add_argument(
        "--write", action="store_true", help="also write summary.csv and summary.json into PATH (one PATH only)"
    )
    args = parser.parse_args(argv)
    if args.write and len(args.paths) != 1:
        raise UsageError(f"--write takes one PATH, not {len(args.paths)}: the summary files go into it")
    rows = summarize(args.paths)
    title = str(args.paths[0]) if len(args.paths) == 1 else f"{len(rows)} runs"
    optuna = optuna_results(args.paths[0]) if len(args.paths) == 1 else None
    console = Console()
    print_summary(console, rows, title, optuna)
    if args.write:
        for path in write_summary(args.paths[0], rows):
            console.print(f"wrote {path}", highlight=False)
    return 0


# --- Hydra callback ------------------------------------------------------------------------------


class SweepSummary(Callback):
    """Enable with hydra.callbacks.sweep_summary._target_=a3c_cli.commands.sweep.SweepSummary."""

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        run_dir = Path(config.hydra.runtime.output_dir)
        if (launch := launched()) is not None and launch.rank > 0:
            return  # one result per run: rank 0's, which evaluates
        try:
            if job_return.status == JobStatus.FAILED:
                # the exception is the truth, whatever the job managed to write before it
                write_job_result(run_dir, "failed", None, error_line(job_return._return_value))
            elif job_return.status == JobStatus.COMPLETED and not (run_dir / RESULT).is_file():
                write_job_result(run_dir, "completed", job_return._return_value, None)
        except OSError:
            pass  # a full disk, already reported by the job; its summary row then reads its metrics

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        global last_summary
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            rows = summarize([sweep_dir])
        except UsageError as exc:  # no job got as far as its run directory
            Console(stderr=True).print(f"sweep summary: {exc}", highlight=False)
            last_summary = []
            return
        write_summary(sweep_dir, rows)
        print_summary(Console(stderr=False), rows, f"sweep {sweep_dir}", optuna_results(sweep_dir))
        last_summary = rows


def error_line(exc: BaseException | None) -> str:
    """One line: our own errors' messages say it all; others need their type (KeyError: 'x')."""
    if exc is None:
        return "failed"
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else ""
    if isinstance(exc, (UsageError, RunFailed)) and first:
        return first
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
