"""A non-editable install (`pip install .`) ships the configs inside the package."""

import os
import subprocess
import sys

import pytest
from conftest import REPO

pytestmark = pytest.mark.slow  # pip install, then a fresh interpreter


def test_configs_are_found_from_a_plain_install(tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(REPO)],
                   check=True, capture_output=True, text=True, timeout=300)
    assert (target / "a3c_cli" / "conf" / "game" / "Airstriker-Genesis.yaml").is_file()
    left_out = package_files(REPO) - package_files(target)  # a folder missing from pyproject's packages, the agents
    assert not left_out, f"left out of the package: {sorted(left_out)}"
    env = {**os.environ, "PYTHONPATH": str(target)}
    probe = ("import a3c_cli.conf, sys; print(a3c_cli.conf.__file__); "
             "sys.argv = ['a3c', 'train', '--cfg', 'job', 'game=Pong-Atari2600']; from a3c_cli.cli import main; main()")
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith(str(target))  # not the checkout's conf/
    assert "id: Pong-Atari2600-v0" in result.stdout


def package_files(root):
    """a3c_cli's modules and shipped agents under `root`, as paths relative to it."""
    return {p.relative_to(root).as_posix() for p in (root / "a3c_cli").rglob("*") if p.suffix in (".py", ".pt")}
