"""Pinning a worker to a core, checked on this machine's real cores in forked processes."""

import multiprocessing
import os

import pytest

from a3c_cli.system.processes import pin_to_core

pytestmark = pytest.mark.slow  # forked processes

CORES = sorted(os.sched_getaffinity(0))


def affinity_of_worker_and_its_child(rank: int, workers: int, results) -> None:
    """A worker pins itself, then forks as it forks its emulator processes."""
    core = pin_to_core(rank, workers)
    child = multiprocessing.get_context("fork").Process(
        target=lambda: results.put(("child", sorted(os.sched_getaffinity(0))))
    )
    child.start()
    child.join()
    results.put(("worker", core, sorted(os.sched_getaffinity(0))))


def run_worker_process(rank: int, workers: int) -> dict:
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    worker = ctx.Process(target=affinity_of_worker_and_its_child, args=(rank, workers, results))
    worker.start()
    worker.join(timeout=30)
    found = {}
    for _ in range(2):
        kind, *rest = results.get(timeout=5)
        found[kind] = rest
    return found


@pytest.mark.parametrize("workers", [len(CORES), len(CORES) + 1])
def test_with_a_worker_per_core_each_worker_and_its_children_keep_to_their_own_core(workers):
    for rank in range(workers):
        found = run_worker_process(rank, workers)
        core = CORES[rank % len(CORES)]
        assert found["worker"] == [core, [core]]
        assert found["child"] == [[core]]
    assert sorted(os.sched_getaffinity(0)) == CORES  # the trainer itself stays free


@pytest.mark.skipif(len(CORES) < 2, reason="needs 2 cores")
def test_with_fewer_workers_than_cores_no_worker_is_pinned():
    found = run_worker_process(0, len(CORES) - 1)
    assert found["worker"] == [None, CORES]
    assert found["child"] == [CORES]
