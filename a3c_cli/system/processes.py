"""Our processes as Linux sees them: their names, the core a worker is pinned to, and what /proc
says about them (memory (RSS and PSS), age). Elsewhere the /proc figures read as unknown (None)
rather than fail: they only feed logs and benchmarks. How workers and the evaluator start is
train/fork_server.py's."""

from __future__ import annotations

import ctypes
import os
import sys

PR_SET_NAME = 15


def set_name(name: str) -> None:
    """Name this process as `ps` and /proc/<pid>/comm show it (15 characters at most), so that
    memory figures can tell workers from the evaluator."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)


def pin_to_core(rank: int, workers: int) -> int | None:
    """Keeps this process, and the processes it forks from now on, on one of the cores it may
    use: the rank-th, round robin, when there are at least as many workers as cores (with fewer,
    pinning would leave cores idle). A worker and its emulator processes then share one core's
    caches instead of migrating between cores: 6-12% more training frames/s on Pong-Atari2600,
    2 workers on 2 cores (benchmarks/README.md, "Throughput"). Returns the core, or None where not pinned."""
    if not hasattr(os, "sched_setaffinity"):  # Linux only
        return None
    cores = sorted(os.sched_getaffinity(0))
    if workers < len(cores):
        return None
    core = cores[rank % len(cores)]
    os.sched_setaffinity(0, {core})
    return core


def name_of(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return None


def memory_mb(pid: int) -> dict | None:
    """RSS and PSS in MB. PSS (proportional set size) splits each shared page between the
    processes that map it: summed over processes it is their real footprint."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="utf-8") as f:
            fields = {
                line.split()[0].rstrip(":"): int(line.split()[1]) for line in f if line.split()[0] in ("Rss:", "Pss:")
            }
    except (OSError, ValueError, IndexError):
        return None
    return {"rss_mb": round(fields["Rss"] / 1024, 1), "pss_mb": round(fields["Pss"] / 1024, 1)}


def children_of(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="utf-8") as f:
            return [int(child) for child in f.read().split()]
    except OSError:
        return []


def seconds_alive(pid: int | None = None) -> float | None:
    """Seconds since the process started (this one by default): from the command, for the
    'first update after N s' figure."""
    try:
        with open(f"/proc/{pid or os.getpid()}/stat", encoding="utf-8") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="utf-8") as f:
            uptime = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


def memory_tree(pid: int | None = None) -> list[dict]:
    """This process and every descendant: pid, parent, name, RSS and PSS."""
    pid = pid or os.getpid()
    rows, todo = [], [(pid, None)]
    while todo:
        current, parent = todo.pop(0)
        memory = memory_mb(current)
        if memory is not None:
            rows.append({"pid": current, "parent": parent, "name": name_of(current), **memory})
        todo.extend((child, current) for child in children_of(current))
    return rows
