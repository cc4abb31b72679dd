"""Set-up shared by the trainer's child processes (workers and the evaluator)."""

from __future__ import annotations

import ctypes
import errno
import multiprocessing
import os
import select
import signal
import sys
import threading
import traceback

import torch

from a3c_cli.system.errors import UsageError, os_error_text
from a3c_cli.system.processes import set_name

PR_SET_PDEATHSIG = 1


def become_child(name: str) -> None:
    """A name that `ps` and the benchmark's memory figures show, one thread (N workers on N
    cores: more only contend), Ctrl-C left to the trainer (which stops us in order), and, on
    Linux, death with the trainer if it is killed outright."""
    set_name(name)
    torch.set_num_threads(1)
    follow_parent()
    die_with_trainer()


def die_with_trainer() -> None:
    """Our parent is the fork server, which waits for its children before it exits: if the
    trainer is killed outright, only watching the trainer itself ends us (and, through the
    parent-death signal, our emulator processes)."""
    trainer = multiprocessing.parent_process()
    if trainer is None or not hasattr(os, "pidfd_open"):
        return
    try:
        watched = os.pidfd_open(trainer.pid)
    except OSError:  # already gone
        os._exit(1)
    threading.Thread(target=exit_when_ended, args=(watched,), name="watch-trainer", daemon=True).start()


def exit_when_ended(pidfd: int) -> None:
    select.select([pidfd], [], [])  # readable once the process has ended
    os.kill(os.getpid(), signal.SIGKILL)


def follow_parent() -> None:
    """Ctrl-C (sent to every process of the terminal) ignored, and death with the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


# A disk that is full or will not take writes: restarting the process cannot help.
DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


def report_error(events, who: str, exc: Exception) -> None:
    """Tell the trainer why this process is failing (the caller then exits quietly: the trainer
    logs the traceback). A UsageError (a config the emulator showed to be wrong, such as a crop
    larger than the frame) keeps its one-line message; so does a disk error, which ends the run."""
    disk = isinstance(exc, OSError) and exc.errno in DISK_ERRORS
    events.put({"kind": "error", "who": who, "traceback": traceback.format_exc(),
                "usage": str(exc) if isinstance(exc, UsageError) else None,
                "fatal": f"{who} cannot write to disk: {os_error_text(exc)}" if disk else None})
