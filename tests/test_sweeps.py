"""Sweeps for real on this machine: Hydra's basic launcher, joblib, submitit_local and Optuna,
with tiny budgets; the Slurm and Ray configs compose to what a cluster would receive."""

import csv
import json
import re
from datetime import datetime
from pathlib import Path

import pytest
import torch
import yaml
from conftest import a3c
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from a3c_cli.config.schema import CONFIG_DIR

TINY = ["workers=1", "max_frames=1500", "eval_episodes=1", "game.max_episode_steps=100", "progress=false"]


def sweep(tmp_path: Path, *args: str, timeout: float = 240):
    return a3c("train", "-m", *args, *TINY, f"hydra.sweep.dir={tmp_path / 'sweep'}",
               f"checkpoints_dir={tmp_path / 'checkpoints'}", timeout=timeout)


def jobs(tmp_path: Path) -> list[Path]:
    return sorted(p for p in (tmp_path / "sweep").iterdir() if p.is_dir() and p.name.isdigit())


def summary(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "sweep" / "summary.json").read_text())


@pytest.mark.slow
def test_a_sweep_runs_each_job_and_ranks_them(tmp_path):
    result = sweep(tmp_path, "optim.lr=1e-4,3e-4")
    assert result.returncode == 0, result.stderr[-3000:]
    assert [p.name for p in jobs(tmp_path)] == ["0", "1"]
    for job in jobs(tmp_path):
        assert json.loads((job / "result.json").read_text())["status"] == "completed"
        assert (job / "checkpoints" / "latest.pt").is_file()
    rows = list(csv.DictReader((tmp_path / "sweep" / "summary.csv").open()))
    assert len(rows) == 2 and {r["overrides"].split()[0] for r in rows} == {"optim.lr=0.0001", "optim.lr=0.0003"}
    assert all(int(r["frames"]) >= 1500 and float(r["fps"]) > 0 for r in rows)
    best = summary(tmp_path)["best"]
    assert Path(best["run_dir"]).parent == tmp_path / "sweep"
    assert "optim.lr=0.0001" in result.stdout and "optim.lr=0.0003" in result.stdout  # the table


@pytest.mark.slow
def test_a_failing_job_is_reported_and_the_sweep_goes_on(tmp_path):
    result = sweep(tmp_path, "game.crop=[230,0,0,0],[0,0,0,0]")  # job 0 crops the whole screen away
    assert result.returncode == 1
    assert "leaves nothing of the 224x320 frame" in result.stderr
    statuses = {job.name: json.loads((job / "result.json").read_text())["status"] for job in jobs(tmp_path)}
    assert statuses == {"0": "failed", "1": "completed"}
    rows = summary(tmp_path)["runs"]
    assert rows[-1]["status"] == "failed" and "crop" in rows[-1]["error"]


def log_span(job: Path) -> tuple[datetime, datetime]:
    stamps = re.findall(r"^\[([\d-]+ [\d:]+),\d+\]", (job / "train.log").read_text(), re.M)
    parse = lambda s: datetime.strptime(s, "%Y-%m-%d %H:%M:%S")  # noqa: E731
    return parse(stamps[0]), parse(stamps[-1])


@pytest.mark.slow
def test_joblib_runs_jobs_at_once_and_shares_the_cores(tmp_path):
    args = [a for a in TINY if not a.startswith("workers=")]  # workers follow the launcher
    result = a3c("train", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=1,2", *args,
                 f"hydra.sweep.dir={tmp_path / 'sweep'}", f"checkpoints_dir={tmp_path / 'checkpoints'}", timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    first, second = (log_span(job) for job in jobs(tmp_path))
    assert first[0] <= second[1] and second[0] <= first[1]  # their lifetimes overlap
    for job in jobs(tmp_path):
        assert "2 jobs at once: 1 workers per job" in (job / "train.log").read_text()
        assert torch.load(job / "checkpoints" / "latest.pt", weights_only=True)["config"]["workers"] == 1


@pytest.mark.slow
def test_submitit_local_runs_jobs_through_submitit(tmp_path):
    result = sweep(tmp_path, "hydra/launcher=submitit_local", "seed=1,2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(jobs(tmp_path)) == 2 and (tmp_path / "sweep" / ".submitit").is_dir()
    assert all(r["status"] == "completed" for r in summary(tmp_path)["runs"])


@pytest.mark.slow
def test_optuna_searches_and_reports_the_best_parameters(tmp_path):
    result = sweep(tmp_path, "hydra/sweeper=a3c_optuna", "hydra.sweeper.n_trials=3", "game=memory")
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(jobs(tmp_path)) == 3
    best = yaml.safe_load((tmp_path / "sweep" / "optimization_results.yaml").read_text())
    assert set(best["best_params"]) == {"optim.lr", "entropy_coef"}
    assert 1e-4 <= best["best_params"]["optim.lr"] <= 1e-2
    assert best["best_value"] == max(r["best_eval"] for r in summary(tmp_path)["runs"])
    assert summary(tmp_path)["optuna"]["best_params"] == best["best_params"]


def launcher(*overrides: str) -> dict:
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
    return OmegaConf.to_container(cfg.hydra.launcher, resolve=True)


def test_slurm_asks_for_a_cpu_per_worker_and_one_more():
    params = launcher(
        "hydra/launcher=slurm", "workers=8", "hydra.launcher.partition=cpu", "hydra.launcher.timeout_min=120"
    )
    assert params["_target_"].endswith("SlurmLauncher")
    assert (params["cpus_per_task"], params["mem_gb"], params["partition"], params["timeout_min"]) == (
        9,
        10,
        "cpu",
        120,
    )
    assert params["nodes"] == 1 and params["tasks_per_node"] == 1


def test_ray_asks_for_a_cpu_per_worker_and_one_more():
    params = launcher("hydra/launcher=ray_cluster", "workers=4")
    assert params["_target_"].endswith("RayLauncher")
    assert params["ray"] == {"init": {"address": None}, "remote": {"num_cpus": 5}}


@pytest.mark.slow
def test_a_launcher_whose_plugin_is_missing_is_one_line(tmp_path):
    result = a3c("train", "-m", "hydra/launcher=ray_cluster", "seed=1,2", f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "hydra-ray-launcher" in lines[0] and "a3c-cli[ray]" in lines[0]
