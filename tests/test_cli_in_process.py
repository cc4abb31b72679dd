"""The command line's refusals, in this process: `a3c_cli.cli.main` is called directly and every
error below is found before any run, process or emulator starts (one line on stderr, exit code 2).
test_cli.py, test_bench.py, test_play.py and test_resume.py check the same through a fresh
interpreter (slow); these are the fast loop's."""

from __future__ import annotations

import importlib.util
import logging
import multiprocessing.process
import subprocess

import pytest
from conftest import config

from a3c_cli import cli
from a3c_cli.agent.model import build_model
from a3c_cli.agent.optim import build_optimizer
from a3c_cli.records.checkpoint import make_checkpoint, save_checkpoint


@pytest.fixture
def a3c_here(tmp_path, monkeypatch, capsys):
    """Run `a3c ARGS...` in this process, in an empty folder; returns (exit code, stdout, stderr).
    Reaching a Hydra app (a run would start) or starting any process fails the test instead."""

    def refuse(*args, **kwargs):
        raise AssertionError("the command went past its checks: a run or a process would start")

    for command, entry in list(cli.HYDRA_COMMANDS.items()):
        monkeypatch.setitem(cli.HYDRA_COMMANDS, command, (refuse, *entry[1:]) if isinstance(entry, tuple) else refuse)
    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", refuse)
    monkeypatch.setattr(logging, "raiseExceptions", logging.raiseExceptions)  # main() turns it off
    monkeypatch.setattr("sys.argv", ["a3c"])
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exited:
            cli.main(list(args))
        out, err = capsys.readouterr()
        return exited.value.code, out, err

    return run


def one_error_line(code: int, out: str, err: str) -> str:
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in out + err
    return lines[0]


@pytest.mark.parametrize("args, says", [
    (["train", "game=Sonic"], "a3c train: error: unknown game 'Sonic'"),
    (["train", "game=Nope"], "unknown game 'Nope'"),
    (["train", "workers=0"], "a3c train: error: workers=0: need at least 1 worker"),
    (["train", "optim.lr=-1"], "optim.lr=-1"),
    (["train", "optim.lr=abc"], "optim.lr=abc"),
    (["train", "game.frame_skipp=2"], "unknown key 'game.frame_skipp'"),
    (["train", "optim=sgd"], "unknown optim 'sgd'"),
    (["train", "-m", "optim.lr=1e-4,-1"], "optim.lr=-1"),  # every job of a sweep is checked first
    (["train", "-m", "seed=0,1", "workers=1,0"], "workers=0"),  # every combination
    (["train", "game=ale"], "a3c train: error: game.id is required: add game.id=... to the command"),
    (["train", "max_frames=[1"], "cannot parse overrides"),
    (["train", "game=memory", "game.sticky_prob=1.0"], "game.sticky_prob=1.0"),
    (["test", "game=memory", "episodes=0"], "a3c test: error: episodes=0"),
    (["test", "game=memory", "record=avi"], "record=avi"),
    (["fly"], "a3c: error: unknown command 'fly'"),
    (["bench", "seconds=1"], "a3c bench: error: seconds=1: give at least 5 seconds per phase"),
    (["bench", "seconds=soon"], "a3c bench: error: seconds=soon: give at least 5 seconds per phase (e.g. seconds=60)"),
    (["roms", "import"], "--atari"),
    (["roms", "import", "/nonexistent/a3c-roms"], "/nonexistent/a3c-roms"),  # refused before anything is imported
    (["train", "hydra.run.dir=/proc/a3c-run"], "/proc/a3c-run"),  # /proc takes no new folders, even from root
])
def test_bad_input_is_one_line_on_stderr_and_exit_2(a3c_here, args, says):
    assert says in one_error_line(*a3c_here(*args))


def test_a_launcher_whose_plugin_is_missing_is_one_line(a3c_here, tmp_path):
    if importlib.util.find_spec("hydra_plugins.hydra_ray_launcher") is not None:
        pytest.skip("the Ray launcher is installed here")
    line = one_error_line(
        *a3c_here("train", "-m", "hydra/launcher=ray_cluster", "seed=1,2", f"hydra.sweep.dir={tmp_path}")
    )
    assert "hydra-ray-launcher" in line and "a3c-cli[ray]" in line


def test_plot_and_report_without_runs_are_one_line(a3c_here, tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    assert one_error_line(*a3c_here("plot", str(tmp_path / "empty"), "-o", str(tmp_path / "curves.png"))) == (
        f"a3c plot: error: no runs under {tmp_path / 'empty'}: "
        "give run directories written by `a3c train`, or a folder of them"
    )
    assert not (tmp_path / "curves.png").exists()
    assert one_error_line(*a3c_here("report", str(tmp_path / "nothing"))).startswith("a3c report: error: no runs under")


def test_help_and_no_command(a3c_here):
    code, out, err = a3c_here("--help")
    assert code == 0 and err == ""
    for command in ("train", "test", "games", "roms", "plot", "report", "bench"):
        assert f"\n  {command} " in out
    code, out, err = a3c_here()
    assert code == 2 and out == "" and "usage: a3c <command>" in err


@pytest.fixture
def memory_run(tmp_path):
    """A run directory of the memory task holding a checkpoint (a small model, made here), and
    the model overrides it was trained with."""
    model = ["model.lstm_size=32", "model.channels=8"]
    cfg = config("game=memory", *model)
    net = build_model(cfg.model, len(cfg.game.actions))
    optimizer = build_optimizer(cfg.optim, net.parameters())
    run = tmp_path / "outputs" / "memory" / "2026-01-01_00-00-00"
    (run / "checkpoints").mkdir(parents=True)
    save_checkpoint(
        make_checkpoint(
            net,
            optimizer,
            {"frames": 1000, "updates": 10, "episodes": 3, "skipped_updates": 0},
            cfg,
            None,
            None,
            cfg.entropy_coef,
        ),
        run / "checkpoints" / "latest.pt",
    )
    return run, model


@pytest.mark.parametrize(
    "override, says",
    [
        ("game=Airstriker-Genesis", "was trained on memory, not Airstriker-Genesis"),
        ("model.lstm_size=128", "model.lstm_size=32"),
        ("optim=rmsprop", "keeps its optimizer"),
    ],
)
def test_resume_refuses_another_game_model_or_optimizer_and_writes_nothing(a3c_here, memory_run, override, says):
    run, model = memory_run
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    line = one_error_line(*a3c_here("train", "game=memory", *model, override, f"resume={run}"))
    assert line.startswith("a3c train: error: ") and says in line
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before  # no .hydra snapshot, nothing else


def test_resume_of_nothing_says_so(a3c_here, tmp_path):
    assert "no run of memory under outputs/memory/" in one_error_line(
        *a3c_here("train", "game=memory", "resume=latest")
    )
    assert "no checkpoint there" in one_error_line(*a3c_here("train", "game=memory", f"resume={tmp_path / 'nowhere'}"))
