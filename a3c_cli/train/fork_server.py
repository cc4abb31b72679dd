"""How the run's processes start: workers and the evaluator are forked from a fork server that
imported torch and the worker once (preload.py). Imports nothing heavy: cli.py starts the fork
server before torch loads in its own process."""

from __future__ import annotations

import multiprocessing
from multiprocessing import forkserver


def child_context():
    """Workers and the evaluator start from a fork server that has imported torch and our
    modules once (a3c_cli.train.preload), before any thread or emulator exists: they start in a
    fraction of a second and share those pages instead of each holding a private copy. Where
    there is no fork server (Windows), fresh interpreters."""
    if multiprocessing.get_start_method(allow_none=True) not in multiprocessing.get_all_start_methods():
        # A job under joblib's launcher runs in a loky process whose default start method is
        # "loky"; spawned children inherit that name and cannot resolve it.
        multiprocessing.set_start_method("spawn", force=True)
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["a3c_cli.train.preload"])
    return ctx


def start_fork_server() -> None:
    """Start the fork server now rather than at the first worker: its imports (torch, ~3 s)
    then run on the other core while this process imports its own, and a run updates seconds
    sooner. It ends by itself when this process does."""
    if child_context().get_start_method() == "forkserver":
        forkserver.ensure_running()
