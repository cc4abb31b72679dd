"""One run over several ranks (distributed=gloo): the sync's arithmetic on real process groups,
the command line each rank gets, and real multi-rank runs of the memory task: learning with one
record, a rank killed and the run restarted, a rank lost without restarts, SIGTERM to every rank."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from conftest import REPO, child_pids, config, records, running

from a3c_cli.agent.counters import Counters
from a3c_cli.agent.model import build_model
from a3c_cli.config.schema import DistributedConfig
from a3c_cli.distributed.launch import launch_args
from a3c_cli.distributed.sync import Link, RankLost
from a3c_cli.system.errors import UsageError

SETTINGS = DistributedConfig(backend="gloo", sync_interval=0.1, reduce="sum")


def change(model: torch.nn.Module, rank: int, step: int) -> list[torch.Tensor]:
    """A rank's own update of the shared weights (what its workers would do), returned for the check."""
    generator = torch.Generator().manual_seed(100 * rank + step)
    changes = [torch.randn(p.shape, generator=generator) * 1e-3 for p in model.parameters()]
    with torch.no_grad():
        for p, c in zip(model.parameters(), changes):
            p.add_(c)
    return changes


def memory_model() -> torch.nn.Module:
    cfg = config("game=memory")
    return build_model(cfg.model, len(cfg.game.actions))


def sync_ranks(rank: int, world_size: int, store_path: str, reduce: str, results) -> None:
    store = dist.FileStore(store_path, world_size)
    dist.init_process_group("gloo", store=store, rank=rank, world_size=world_size)
    torch.manual_seed(0)  # the same start on every rank, as share_start makes it
    model = memory_model()
    start = [p.detach().clone() for p in model.parameters()]
    link = Link(replace(SETTINGS, reduce=reduce), model, store, None)
    counters = Counters(mp.get_context("spawn"), slots=1)
    made = []
    for step in range(3):
        made.append(change(model, rank, step))
        counters.add(0, frames=1000 * (rank + 1), updates=rank + 1, episodes=0, skipped_updates=0)
        agreed, _ = link.exchange(counters, "interrupted" if rank == 1 and step == 2 else None, [{"from": rank}])
    plain = [[t.numpy().copy() for t in ts] for ts in ([p.detach() for p in model.parameters()], start)]  # by value:
    made = [[t.numpy() for t in step] for step in made]  # torch's tensors would go by a file this process takes along
    results.put((rank, *plain, made, counters.snapshot(), agreed))
    dist.destroy_process_group()


def run_ranks(tmp_path: Path, world_size: int, reduce: str = "sum") -> dict:
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    processes = [ctx.Process(target=sync_ranks, args=(r, world_size, str(tmp_path / "store"), reduce, results))
                 for r in range(world_size)]
    for p in processes:
        p.start()
    out = {}
    for _ in processes:
        rank, *rest = results.get(timeout=120)
        out[rank] = rest
    for p in processes:
        p.join(30)
        assert p.exitcode == 0
    return out


@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_a_sync_adds_every_ranks_changes_as_a_direct_computation_does(tmp_path, reduce):
    out = run_ranks(tmp_path, 2, reduce)
    for params, start, _, counts, agreed in out.values():
        for i, (p, p0) in enumerate(zip(params, start)):
            changes = sum(step[i] for r in out for step in out[r][2])  # every rank's three changes
            expected = p0 + (changes if reduce == "sum" else changes / 2)  # mean: the ranks' average, each sync
            np.testing.assert_allclose(p, expected, rtol=0, atol=1e-6)
        assert counts["frames"] == 3 * (1000 + 2000) and counts["updates"] == 3 * 3  # every rank's, on every rank
        assert agreed is not None and (agreed.reason, agreed.rank) == ("interrupted", 1)  # the same on both


def test_with_one_rank_a_sync_changes_nothing(tmp_path):
    """A world of one: the weights are exactly what its own updates made, as without distributed."""
    (params, start, made, counts, agreed), = run_ranks(tmp_path, 1).values()
    for i, (p, p0) in enumerate(zip(params, start)):
        alone = torch.from_numpy(p0.copy())
        for step in made:
            alone.add_(torch.from_numpy(step[i]))
        assert torch.equal(torch.from_numpy(p), alone)
    assert counts["frames"] == 3000 and agreed is None


def test_one_rank_composes_the_same_run_as_no_distributed(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "1")
    one, none = config("distributed=gloo", "workers=8"), config("workers=8")
    assert replace(one, distributed=none.distributed) == none
    monkeypatch.setenv("WORLD_SIZE", "2")
    two = config("distributed=gloo", "workers=4")  # 8 workers in all: the defaults of 8 workers
    assert (two.optim.lr, two.envs_per_worker) == (none.optim.lr, none.envs_per_worker)


# -- the command line of each rank ----------------------------------------------------------------


def launcher(monkeypatch, rank: int, world_size: int = 2, restart: int = 0, run_id: str | None = "job7"):
    for key in ("RANK", "WORLD_SIZE", "TORCHELASTIC_RESTART_COUNT", "TORCHELASTIC_RUN_ID", "SLURM_JOB_ID"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("RANK", str(rank))
    monkeypatch.setenv("WORLD_SIZE", str(world_size))
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", str(restart))
    if run_id:
        monkeypatch.setenv("TORCHELASTIC_RUN_ID", run_id)


def test_every_rank_agrees_on_one_run_directory(monkeypatch, tmp_path):
    cfg = replace(config("game=memory", "distributed=gloo"), resume="some/run")
    launcher(monkeypatch, 0)
    assert launch_args(cfg, ["game=memory", "resume=some/run"])[1] == [
        "game=memory", "resume=some/run", f"hydra.run.dir={Path('outputs/memory/job7')}"]
    launcher(monkeypatch, 1)  # rank 0 reads the checkpoint and sends it: rank 1 needs no shared disk
    cfg1, args1 = launch_args(cfg, ["game=memory", "resume=some/run", f"hydra.run.dir={tmp_path}"])
    assert args1 == ["game=memory", f"hydra.run.dir={tmp_path / 'rank-1'}"] and cfg1.resume is None


def test_a_restarted_attempt_goes_on_from_the_runs_latest_checkpoint(monkeypatch, tmp_path):
    cfg = config("game=memory", "distributed=gloo")
    (tmp_path / "checkpoints").mkdir()
    launcher(monkeypatch, 0, restart=1)
    assert launch_args(cfg, [f"hydra.run.dir={tmp_path}"])[1] == [f"hydra.run.dir={tmp_path}"]  # nothing saved yet
    (tmp_path / "checkpoints" / "latest.pt").write_bytes(b"")
    new_cfg, args = launch_args(cfg, [f"hydra.run.dir={tmp_path}"])
    assert args == [f"resume={tmp_path}", f"hydra.run.dir={tmp_path}"] and new_cfg.resume == str(tmp_path)


@pytest.mark.parametrize(("env", "overrides", "says"), [
    ({"RANK": "0", "WORLD_SIZE": "2"}, [], "add distributed=gloo"),
    ({}, ["distributed=gloo"], "start it with torchrun"),
    ({"RANK": "0", "WORLD_SIZE": "2"}, ["distributed=gloo"], "pass the same hydra.run.dir"),
])
def test_a_launch_that_cannot_work_is_one_line(monkeypatch, env, overrides, says):
    unset = ("RANK", "WORLD_SIZE", "TORCHELASTIC_RUN_ID", "SLURM_JOB_ID", "SUBMITIT_EXECUTOR", "SUBMITIT_LOCAL_JOB_ID")
    for key in unset:
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(UsageError, match=says):
        launch_args(config("game=memory", *overrides), ["game=memory", *overrides])


def test_a_rank_that_stops_answering_is_named(tmp_path):
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    ranks = [ctx.Process(target=lose_rank, args=(r, str(tmp_path / "store"), results)) for r in range(2)]
    for p in ranks:
        p.start()
    message = results.get(timeout=120)
    for p in ranks:
        p.join(30)
    assert message.startswith("rank 1 stopped answering during a sync"), message


def lose_rank(rank: int, store_path: str, results) -> None:
    store = dist.FileStore(store_path, 2)
    dist.init_process_group("gloo", store=store, rank=rank, world_size=2)
    link = Link(SETTINGS, memory_model(), store, None)
    counters = Counters(mp.get_context("spawn"), slots=1)
    link.exchange(counters, None, [])
    if rank == 1:
        os._exit(9)  # a crash: no goodbye
    try:
        link.exchange(counters, None, [])
    except RankLost as exc:
        results.put(str(exc))


# -- real runs ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(tmp_path: Path, *args: str, restarts: int = 0) -> subprocess.Popen:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
               f"--max-restarts={restarts}", "-m", "a3c_cli", "train", *run_args(tmp_path, *args)]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200"})


def run_args(tmp_path: Path, *overrides: str) -> list[str]:
    return ["game=memory", "distributed=gloo", "workers=1", f"hydra.run.dir={tmp_path / 'run'}",
            f"checkpoints_dir={tmp_path / 'checkpoints'}", "log_interval=2", "progress=false", *overrides]


@pytest.mark.slow
def test_two_ranks_learn_the_memory_task_into_one_record(tmp_path):
    process = torchrun(tmp_path, "max_frames=48000", "eval_interval=24000", "eval_episodes=100")
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]
    run = tmp_path / "run"
    final = records(run, "eval")[-1]
    assert final["final"] and final["eval_return"]["mean"] >= 0.95
    assert records(run, "train")[-1]["frames"] >= 48000
    assert any("sync" in line for line in records(run, "train"))
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.pt", "latest.pt"]
    rank1 = sorted(p.name for p in (run / "rank-1").iterdir())
    assert rank1 == [".hydra", "train.log"], rank1  # its log only: one record, one checkpoint set


def rank_pids(launcher: int) -> dict[int, int]:
    """The rank processes torchrun started: their RANK -> pid."""
    pids = {}
    for child in Path(f"/proc/{launcher}/task/{launcher}/children").read_text().split():
        environ = Path(f"/proc/{child}/environ").read_text().split("\0")
        rank = next((v.split("=", 1)[1] for v in environ if v.startswith("RANK=")), None)
        if rank is not None:
            pids[int(rank)] = int(child)
    return pids


def wait_for_updates(run: Path, at_least: int = 1, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = records(run, "train") if (run / "metrics.jsonl").is_file() else []
        if lines and lines[-1]["updates"] >= at_least:
            return
        time.sleep(0.5)
    raise AssertionError(f"{run}: no {at_least} updates within {timeout} s")


@pytest.mark.slow
def test_a_rank_killed_once_restarts_every_rank_and_the_run_goes_on(tmp_path):
    process = torchrun(tmp_path, "max_frames=24000", "eval_interval=12000", restarts=1)
    run = tmp_path / "run"
    wait_for_updates(run, at_least=20)
    os.kill(rank_pids(process.pid)[1], signal.SIGKILL)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]
    starts = records(run, "run")
    assert len(starts) == 2 and starts[1]["frames"] > 0  # the second attempt went on from latest.pt
    assert records(run, "train")[-1]["frames"] >= 24000
    assert records(run, "eval")[-1]["final"]


def start_ranks(tmp_path: Path, *args: str) -> list[subprocess.Popen]:
    """Two ranks started as srun would start them on two machines: no torchrun, no restarts."""
    env = {**os.environ, "COLUMNS": "200", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()),
           "WORLD_SIZE": "2"}
    return [subprocess.Popen([sys.executable, "-m", "a3c_cli", "train", *run_args(tmp_path, *args)], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**env, "RANK": str(r)})
            for r in range(2)]


@pytest.mark.slow
def test_sigterm_to_every_rank_saves_a_checkpoint_and_exits_143(tmp_path):
    ranks = start_ranks(tmp_path, "max_frames=10000000")
    wait_for_updates(tmp_path / "run", at_least=10)
    children = set().union(*(child_pids(p.pid) for p in ranks))
    assert len(children) >= 3  # each rank's worker and fork server, rank 0's evaluator
    for p in ranks:
        p.send_signal(signal.SIGTERM)
    outcomes = [p.communicate(timeout=60) for p in ranks]
    assert [p.returncode for p in ranks] == [143, 143], [err[-2000:] for _, err in outcomes]
    latest = torch.load(tmp_path / "run" / "checkpoints" / "latest.pt", weights_only=True)
    assert latest["counters"]["updates"] >= 10
    deadline = time.monotonic() + 10  # multiprocessing's resource tracker exits a moment later
    while time.monotonic() < deadline and [pid for pid in children if running(pid)]:
        time.sleep(0.2)
    assert not [pid for pid in children if running(pid)]  # no worker outlives its rank


@pytest.mark.slow
def test_a_rank_lost_without_restarts_stops_the_others_with_its_name(tmp_path):
    ranks = start_ranks(tmp_path, "max_frames=10000000", "distributed.timeout=60")
    wait_for_updates(tmp_path / "run", at_least=10)
    ranks[1].kill()
    _, stderr = ranks[0].communicate(timeout=60)
    ranks[1].communicate()
    assert ranks[0].returncode == 1
    error = [line for line in stderr.splitlines() if line.startswith("a3c train: error:")]
    assert len(error) == 1 and "rank 1 stopped answering during a sync" in error[0], stderr[-2000:]
    torch.load(tmp_path / "run" / "checkpoints" / "latest.pt", weights_only=True)  # whole
