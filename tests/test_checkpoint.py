"""Checkpoints are written atomically and loaded without running code from the file."""

import os
import pickle
import random
from dataclasses import replace

import pytest
import torch
from conftest import config

from a3c_cli.agent.model import build_model, trained_model
from a3c_cli.agent.optim import build_optimizer
from a3c_cli.config import schema
from a3c_cli.config.schema import AdamConfig, from_record
from a3c_cli.records.checkpoint import load_checkpoint, make_checkpoint, save_checkpoint
from a3c_cli.system.errors import UsageError


@pytest.fixture
def checkpoint():
    cfg = config("model.lstm_size=32", "model.channels=8")
    model = build_model(cfg.model, len(cfg.game.actions))
    optimizer = build_optimizer(cfg.optim, model.parameters())
    return make_checkpoint(model, optimizer, {"frames": 100, "updates": 5, "episodes": 1, "skipped_updates": 0}, cfg,
                           {"eval_return": {"mean": 1.0, "min": 0.0, "max": 2.0}}, 1.0, cfg.entropy_coef)


def test_round_trip_with_weights_only(tmp_path, checkpoint):
    path = tmp_path / "latest.pt"
    save_checkpoint(checkpoint, path)
    plain = torch.load(path, weights_only=True)  # what any user can do with it
    assert plain["counters"]["frames"] == 100 and plain["actions"] == checkpoint["actions"]
    loaded = load_checkpoint(path)
    assert loaded["config"] == schema.plain(config("model.lstm_size=32", "model.channels=8"))  # builtins only
    model = trained_model(loaded["config"])
    model.load_state_dict(loaded["model"])
    optimizer = build_optimizer(from_record(AdamConfig, loaded["config"]["optim"]), model.parameters())
    optimizer.load_state_dict(loaded["optimizer"])
    assert [p.name for p in tmp_path.iterdir()] == ["latest.pt"]


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path, checkpoint):
    path = tmp_path / "latest.pt"
    save_checkpoint(checkpoint, path)
    good = path.read_bytes()
    broken = {**checkpoint, "unpicklable": lambda: None}  # torch.save fails half-way through
    with pytest.raises(Exception):  # noqa: B017  (whatever torch raises: the point is the file left whole)
        save_checkpoint(broken, path)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["latest.pt"]  # no temporary file left


def test_truncated_and_random_files_are_refused(tmp_path, checkpoint):
    path = tmp_path / "c.pt"
    save_checkpoint(checkpoint, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UsageError, match="damaged"):
        load_checkpoint(path)
    rng = random.Random(0)  # random bytes make torch's unpickler raise many kinds of errors
    for _ in range(300):
        path.write_bytes(rng.randbytes(4096))
        with pytest.raises(UsageError, match="damaged"):
            load_checkpoint(path)


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_malicious_pickle_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"
    for path, write in ((tmp_path / "evil.pt", lambda p: torch.save({"model": Payload(marker)}, p)),
                        (tmp_path / "evil.pkl", lambda p: p.write_bytes(pickle.dumps(Payload(marker))))):
        write(path)
        with pytest.raises(UsageError):
            load_checkpoint(path)
    assert not marker.exists()


def test_a_checkpoint_of_an_older_model_is_refused(tmp_path, checkpoint):
    """Version 1 models read frames divided by 255; today's standardize them: such weights would
    load and then play on inputs they never saw."""
    path = tmp_path / "old.pt"
    save_checkpoint({**checkpoint, "version": 1}, path)
    with pytest.raises(UsageError, match="older a3c .*version 1.*train it again"):
        load_checkpoint(path)


def test_a_foreign_file_is_refused(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(UsageError, match="not an a3c checkpoint"):
        load_checkpoint(path)
    with pytest.raises(UsageError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_a_checkpoint_of_another_game_action_set_or_lstm_is_refused_in_one_line(tmp_path, checkpoint):
    """What `a3c test` and `a3c train resume=...` refuse before playing (test_play.py and
    test_resume.py do it on a trained run, slowly): here on a checkpoint made in this process."""
    from a3c_cli.commands.play import check_compatible

    path = tmp_path / "best.pt"
    game = config("model.lstm_size=32", "model.channels=8").game  # the game the checkpoint was trained on
    check_compatible(checkpoint, path, game, None)  # fits: nothing raised
    check_compatible(checkpoint, path, game, 32)
    refusals = [
        (config("game=memory").game, None, f"was trained on {game.name}, not memory"),
        (replace(game, actions=[["LEFT"], ["RIGHT"]]), None, f"trained with {len(game.actions)} actions"),
        (game, 128, "has an LSTM of size 32, not lstm_size=128"),
    ]
    for other, lstm_size, says in refusals:
        with pytest.raises(UsageError, match=says.replace("(", r"\(")) as refused:
            check_compatible(checkpoint, path, other, lstm_size)
        assert "\n" not in str(refused.value)
