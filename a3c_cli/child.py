"""Set-up shared by the trainer's child processes (workers and the evaluator)."""

from __future__ import annotations

import ctypes
import errno
import signal
import sys
import traceback

import torch

from a3c_cli.errors import UsageError, os_error_text

PR_SET_PDEATHSIG = 1


def become_child() -> None:
    """One thread (N workers on N cores: more only contend), Ctrl-C left to the trainer (which
    stops us in order), and, on Linux, death with the trainer if it is killed outright."""
    torch.set_num_threads(1)
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
