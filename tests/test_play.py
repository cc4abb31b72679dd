"""`a3c test` through the real command line, on an agent trained here on the memory task."""

import json

import cv2
import imageio.v3 as iio
import pytest
import torch
from conftest import a3c

from a3c_cli.games.roms import rom_present

pytestmark = pytest.mark.slow  # a real training run, then the real command line


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A short real training run; its best model is published under <tmp>/checkpoints/memory/."""
    root = tmp_path_factory.mktemp("trained")
    result = a3c("train", "game=memory", "workers=2", "max_frames=3000", "eval_interval=100000", "eval_episodes=5",
                 f"hydra.run.dir={root / 'run'}", f"checkpoints_dir={root / 'checkpoints'}")
    assert result.returncode == 0, result.stderr[-3000:]
    return root


def test_plays_the_published_best_model_and_saves_the_results(trained, tmp_path):
    result = a3c(
        "test", "game=memory", "episodes=4", f"checkpoints_dir={trained / 'checkpoints'}", f"hydra.run.dir={tmp_path}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["checkpoint"] == str(trained / "checkpoints" / "memory" / "best.pt")
    assert results["policy"] == "greedy" and len(results["episodes"]) == 4
    returns = [e["return"] for e in results["episodes"]]
    assert results["return"]["mean"] == pytest.approx(sum(returns) / 4)
    assert results["return"]["min"] == min(returns) and results["return"]["max"] == max(returns)
    assert all(e["length"] == 7 for e in results["episodes"])  # cue, 5 blank frames, question
    assert "memory: 4 episodes" in result.stdout and "mean" in result.stdout
    assert (
        results["trained_frames"]
        == torch.load(trained / "checkpoints" / "memory" / "best.pt", weights_only=True)["counters"]["frames"]
    )


def mp4_frames(path):
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    return count


def test_record_writes_videos_with_one_frame_per_step(trained, tmp_path):
    result = a3c(
        "test",
        "game=memory",
        "episodes=2",
        "record=both",
        "sample=true",
        f"checkpoint={trained / 'run' / 'checkpoints' / 'latest.pt'}",
        f"hydra.run.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["policy"] == "sample"
    assert sorted(p.name for p in tmp_path.glob("episode-*")) == [
        "episode-01.gif",
        "episode-01.mp4",
        "episode-02.gif",
        "episode-02.mp4",
    ]
    for i, episode in enumerate(results["episodes"], 1):
        shown = episode["length"] + 1  # the first screen, then one after each step
        assert mp4_frames(tmp_path / f"episode-{i:02d}.mp4") == shown
        gif = iio.imread(tmp_path / f"episode-{i:02d}.gif", index=None)
        assert gif.shape[1:3] == (42, 42)
        assert gif[0].max() > 200  # the cue: half of the first frame is bright


def test_render_without_a_display_records_instead(trained, tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    result = a3c(
        "test",
        "game=memory",
        "episodes=1",
        "render=true",
        f"checkpoints_dir={trained / 'checkpoints'}",
        f"hydra.run.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "no display here" in result.stdout
    assert (tmp_path / "episode-01.mp4").is_file()


@pytest.mark.parametrize(
    "overrides, says",
    [
        (["game=Airstriker-Genesis"], "was trained on memory, not Airstriker-Genesis"),
        (["game=memory", "game.actions=[[RIGHT],[LEFT]]"], "trained with 2 actions"),
        (["game=memory", "lstm_size=128"], "has an LSTM of size 256, not lstm_size=128"),
    ],
)
def test_a_checkpoint_that_does_not_fit_is_refused_in_one_line(trained, tmp_path, overrides, says):
    checkpoint = trained / "checkpoints" / "memory" / "best.pt"
    result = a3c("test", *overrides, f"checkpoint={checkpoint}", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], result.stderr
    assert "Traceback" not in result.stdout


def test_no_checkpoint_yet_says_how_to_get_one(tmp_path):
    result = a3c("test", "game=memory", f"checkpoints_dir={tmp_path}", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"a3c test: error: no checkpoint for memory at {tmp_path / 'memory' / 'best.pt'}: train one first "
        f"(a3c train game=memory) or pass checkpoint=PATH"
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["test", "game=SuperMarioBros-Nes", "render=true"],
        ["train", "game=SonicTheHedgehog-Genesis", "workers=8"],
    ],
)
def test_a_commercial_rom_not_imported_is_one_line_and_exit_2(args, tmp_path):
    game_id = args[1].split("=")[1] + "-v0"
    if rom_present(game_id):
        pytest.skip(f"{game_id}'s ROM is imported on this machine")
    result = a3c(*args, f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and game_id in lines[0] and "a3c roms import" in lines[0], result.stderr


def test_a_test_plays_the_policy_the_games_evaluations_use_unless_told(trained, tmp_path):
    checkpoint = f"checkpoint={trained / 'run' / 'checkpoints' / 'latest.pt'}"
    told_and_played = ((["game.eval_policy=sample"], "sample"), (["game.eval_policy=sample", "sample=false"], "greedy"))
    for told, policy in told_and_played:
        result = a3c("test", "game=memory", "episodes=1", checkpoint, *told, f"hydra.run.dir={tmp_path / policy}")
        assert result.returncode == 0, result.stderr[-3000:]
        assert json.loads((tmp_path / policy / "results.json").read_text())["policy"] == policy
