import pytest
from conftest import a3c

# the real command line, in a fresh interpreter (test_cli_in_process.py: the same errors, in this process)
pytestmark = pytest.mark.slow


def test_top_level_help_lists_commands():
    result = a3c("--help")
    assert result.returncode == 0
    for command in ("train", "test", "games", "roms", "plot"):
        assert f"\n  {command} " in result.stdout


def test_train_help_is_hydras():
    result = a3c("train", "--help")
    assert result.returncode == 0
    listed = next(line for line in result.stdout.splitlines() if line.startswith("game: "))
    assert {"Airstriker-Genesis", "Pong-Atari2600", "Breakout-Atari2600", "memory", "retro", "ale"} <= set(
        listed[6:].split(", ")
    )


def test_cfg_job_accepts_stable_retro_ids_with_version_suffix():
    result = a3c("train", "--cfg", "job", "game=Pong-Atari2600-v0", "model.lstm_size=128")
    assert result.returncode == 0, result.stderr
    assert "name: Pong-Atari2600" in result.stdout
    assert "lstm_size: 128" in result.stdout


@pytest.mark.parametrize(
    "args, says",
    [
        (["train", "game=Nope"], "unknown game 'Nope'"),
        (["train", "workers=0"], "workers=0"),
        (["train", "optim.lr=-1"], "optim.lr=-1"),
        (["train", "optim.lr=abc"], "optim.lr=abc"),
        (["train", "game.frame_skipp=2"], "unknown key 'game.frame_skipp'"),
        (["train", "optim=sgd"], "unknown optim 'sgd'"),
        (["train", "-m", "optim.lr=1e-4,-1"], "optim.lr=-1"),
        (["train", "max_frames=[1"], "cannot parse overrides"),
        (["fly"], "unknown command 'fly'"),
    ],
)
def test_bad_input_is_one_line_exit_2_no_traceback(args, says):
    result = a3c(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert says in lines[0]
    assert "Traceback" not in result.stdout + result.stderr


def test_debug_shows_the_traceback():
    result = a3c("train", "workers=0", "--debug")
    assert result.returncode != 0
    assert "Traceback" in result.stderr
