"""Provenance: what a record carries so that its figures can be traced and reproduced (the
commit of the code, the machine, the date)."""

from __future__ import annotations

import datetime
import platform
import subprocess
from pathlib import Path

from a3c_cli.config.schema import available_cpus


def machine() -> dict:
    """The machine, the versions and the commit (with -dirty when tracked files have changes)."""
    import torch

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            fields = {key.strip(): value.strip() for key, value in (line.split(":", 1) for line in info if ":" in line)}
        cpu = fields["model name"] + (f" at {float(fields['cpu MHz']):.0f} MHz" if "cpu MHz" in fields else "")
    except (OSError, KeyError, ValueError):
        pass
    try:
        here = Path(__file__).parent
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=here).stdout.strip() or None
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=here,
        ).stdout.strip()
        if commit and changed:  # figures of code that no commit holds
            commit += "-dirty"
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "cpu": cpu,
        "cores": available_cpus(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "commit": commit,
        "date": datetime.date.today().isoformat(),
    }
