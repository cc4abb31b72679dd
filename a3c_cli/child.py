"""Set-up shared by the trainer's child processes (workers and the evaluator)."""

from __future__ import annotations

import ctypes
import signal
import sys

import torch

PR_SET_PDEATHSIG = 1


def become_child() -> None:
    """One thread (N workers on N cores: more only contend), Ctrl-C left to the trainer (which
    stops us in order), and, on Linux, death with the trainer if it is killed outright."""
    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
