"""`a3c train resume=...`: counters, optimizer statistics, best score and records go on."""

import json
from pathlib import Path

import pytest
import torch
from conftest import a3c

pytestmark = pytest.mark.slow  # real training runs through the command line

RUN = ["game=memory", "workers=2", "eval_interval=2000", "eval_episodes=5", "log_interval=1"]


def train(tmp_path, *overrides):
    result = a3c("train", *RUN, *overrides, f"checkpoints_dir={tmp_path / 'checkpoints'}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def lines(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_resume_latest_goes_on_in_the_same_run_directory(tmp_path):
    train(tmp_path, "max_frames=4000", "entropy_target=0.1")
    run = next((tmp_path / "outputs" / "memory").iterdir())
    first = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    before = lines(run)

    train(tmp_path, "max_frames=8000", "resume=latest", "optim.lr=2.5e-4", "entropy_target=0.1")
    assert [p.name for p in (tmp_path / "outputs" / "memory").iterdir()] == [run.name]  # no new run dir
    after = lines(run)
    assert after[: len(before)] == before  # appended, nothing rewritten
    new = after[len(before):]
    assert all(r["frames"] >= first["counters"]["frames"] for r in new)
    for kind in ("train", "eval"):  # counters and times go on: no line twice, none going back
        series = [(r["time"], r["frames"], r["updates"]) for r in after if r["kind"] == kind]
        assert series == sorted(set(series))
    latest = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    assert latest["counters"]["frames"] >= 8000
    assert latest["counters"]["updates"] > first["counters"]["updates"]
    steps = [s["step"].item() for s in latest["optimizer"]["state"].values()]
    assert min(steps) > max(s["step"].item() for s in first["optimizer"]["state"].values())  # statistics went on
    assert latest["optimizer"]["param_groups"][0]["lr"] == 2.5e-4
    assert latest["best_return"] >= first["best_return"]
    assert "resume: optim.lr 0.0005 -> 0.00025" in (run / "train.log").read_text()
    # the entropy bonus's weight, adapted (a new policy is more random than the target), goes on
    # from the checkpoint's: no resumed update's weight is above it (back at entropy_coef)
    assert first["entropy_coef"] < 0.01
    resumed_weights = [r["learning"]["entropy_coef"] for r in new if r["kind"] == "train" and r["learning"]]
    assert resumed_weights and max(resumed_weights) <= first["entropy_coef"]
    assert latest["entropy_coef"] < first["entropy_coef"]


def test_a_killed_run_resumes_from_its_checkpoint_without_lines_twice(tmp_path):
    train(tmp_path, "max_frames=4000")
    run = next((tmp_path / "outputs" / "memory").iterdir())
    checkpoint_frames = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)["counters"]["frames"]
    with open(run / "metrics.jsonl", "a") as f:  # what a run killed after its checkpoint leaves behind
        f.write(json.dumps({"kind": "train", "time": 99.0, "frames": checkpoint_frames + 500, "updates": 10**6}) + "\n")
        f.write('{"kind": "train", "ti')
    train(tmp_path, "max_frames=6000", f"resume={run}")
    records = lines(run)
    assert all(r["updates"] < 10**6 for r in records)
    frames = [r["frames"] for r in records if r["kind"] == "train"]
    assert frames == sorted(frames)


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("short")
    train(root, "max_frames=1000", "eval_interval=100000")
    return next((root / "outputs" / "memory").iterdir())


@pytest.mark.parametrize("override, says", [
    ("game=Airstriker-Genesis", "was trained on memory, not Airstriker-Genesis"),
    ("model.lstm_size=128", "model.lstm_size=256"),
    ("optim=rmsprop", "keeps its optimizer"),
])
def test_resume_refuses_another_game_or_model_and_changes_nothing(short_run, tmp_path, override, says):
    snapshot = (short_run / ".hydra" / "config.yaml").read_bytes()
    result = a3c("train", *RUN, override, f"resume={short_run}", cwd=tmp_path)
    assert result.returncode == 2
    assert (short_run / ".hydra" / "config.yaml").read_bytes() == snapshot
    lines_ = result.stderr.strip().splitlines()
    assert len(lines_) == 1 and says in lines_[0], result.stderr


def test_resume_latest_without_a_run_says_so(tmp_path):
    result = a3c("train", "game=memory", "resume=latest", cwd=tmp_path)
    assert result.returncode == 2
    assert "no run of memory under outputs/memory/" in result.stderr


def test_resuming_weights_from_before_the_max_of_two_frames_says_how_to_keep_their_frames(caplog):
    """Checkpoints older than game.max_pool learned on the skip's last frame; the default is now the max."""
    from conftest import config

    from a3c_cli.config.schema import plain
    from a3c_cli.records.resume import check_resumable

    cfg = config("game=Pong-ALE", "workers=2")
    old = plain(cfg)
    del old["game"]["max_pool"]
    checkpoint = {"config": old, "game": "Pong-ALE", "actions": old["game"]["actions"]}
    with caplog.at_level("WARNING", logger="a3c"):
        check_resumable(checkpoint, Path("old.pt"), cfg)
    assert "learned on frames without the max" in caplog.text and "game.max_pool=false keeps" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="a3c"):
        check_resumable(checkpoint, Path("old.pt"), config("game=Pong-ALE", "workers=2", "game.max_pool=false"))
    assert "max_pool" not in caplog.text
