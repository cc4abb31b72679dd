"""`a3c bench learn`: its settings and refusals (fast), and a real suite of two games at a tiny
budget, interrupted and gone on with (slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest
from conftest import a3c

from a3c_cli.bench.suite import open_suite, parse_args, parse_frames, split_cores
from a3c_cli.bench.suite_report import ANCHORS, kept_report, markdown, table_rows
from a3c_cli.system.errors import UsageError


def test_frame_budgets_read_as_people_write_them():
    assert [parse_frames(t) for t in ("10M", "40m", "500k", "1e7", "2000000")] == [
        10_000_000, 40_000_000, 500_000, 10_000_000, 2_000_000]
    for bad in ("ten", "-5", "0", "5G"):
        with pytest.raises(UsageError, match="frames="):
            parse_frames(bad)


def test_settings_are_the_suites_and_the_rest_goes_to_a3c_train():
    given, overrides = parse_args(["games=Pong-ALE,Breakout-ALE", "frames=1M", "seed=3", "model.frame_size=84"])
    assert given == {"games": "Pong-ALE,Breakout-ALE", "frames": "1000000", "seed": "3"}
    assert overrides == ["model.frame_size=84"]
    for bad, says in (("games=Sonic", "no game file for Sonic"), ("workers=0", "workers=0"),
                      ("max_frames=5", "the suite sets max_frames"), ("verbose", "key=value")):
        with pytest.raises(UsageError, match=says):
            parse_args([bad])


def test_going_on_refuses_other_settings(tmp_path):
    suite = open_suite({"dir": str(tmp_path / "s"), "games": "Pong-ALE", "frames": "1000"}, ["seed=1"])
    saved = json.loads((suite / "suite.json").read_text())
    assert saved["settings"]["games"] == "Pong-ALE" and saved["overrides"] == ["seed=1"]
    assert open_suite({"dir": str(suite)}, []) == suite  # the saved settings and overrides stand
    with pytest.raises(UsageError, match="frames=2000 differ"):
        open_suite({"dir": str(suite), "frames": "2000"}, [])
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("")
    with pytest.raises(UsageError, match="no suite.json"):
        open_suite({"dir": str(tmp_path / "busy")}, [])


def test_games_side_by_side_get_cores_of_their_own():
    cores = split_cores(1, "2")
    assert len(cores) == 2 and not cores[0] & cores[1]  # this machine has 2 cores or more
    assert split_cores(2, "1") == [None]
    with pytest.raises(UsageError, match="parallel=64"):
        split_cores(2, "64")


def test_the_table_puts_the_published_anchors_beside_each_game():
    row = {"game": "Breakout-ALE", "frames": 10_000_000, "train_last100": 12.5,
           "greedy_sticky": {"mean": 20.0, "std": 3.0, "episodes": 10}, "random_sticky": {"mean": 1.4},
           "fps": 5000, "wall_s": 2000.0, "commit": "abc1234"}
    header, body = table_rows([row], 10_000_000)
    cells = dict(zip(header, body[0]))
    assert cells["A2C (baselines)"] == "34.0" and cells["PPO2 (baselines)"] == "73.0"
    assert cells["greedy, sticky 0.25"] == "20.0 ± 3.0 (10)" and cells["wall, min"] == "33.3"
    assert set(ANCHORS) == {10_000_000, 40_000_000}
    report = {"settings": {"frames": "10000000", "workers": "2", "seed": "0"}, "rows": [{**row, "machine": None}]}
    page = markdown(report).splitlines()
    assert page[0].startswith("Learning at 10,000,000 frames, 2 workers a game, seed 0")
    assert page[2] == "| " + " | ".join(header) + " |" and page[4] == "| " + " | ".join(body[0]) + " |"


def test_kept_rows_of_different_budgets_make_no_table():
    rows = [{"config": {"max_frames": frames, "workers": 2, "seed": 0}} for frames in (3_000_000, 10_000_000)]
    assert kept_report(rows[:1])["settings"] == {"frames": 3_000_000, "workers": 2, "seed": 0}
    with pytest.raises(SystemExit, match="different budgets"):
        kept_report(rows)


@pytest.mark.slow
@pytest.mark.timeout(900)  # three suites of two games, each judged three ways
def test_a_tiny_suite_fills_every_figure_and_goes_on_where_it_stopped(tmp_path):
    suite = tmp_path / "suite"
    kept = tmp_path / "kept"  # the repository's benchmarks/results/learn/ stands in here
    args = ("bench", "learn", "games=Breakout-ALE,Qbert-ALE", "frames=30000", "episodes=2", f"dir={suite}",
            f"rows={kept}")
    result = a3c(*args, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((suite / "learn.json").read_text())
    assert [r["game"] for r in report["rows"]] == ["Breakout-ALE", "Qbert-ALE"]
    policies = {"Breakout-ALE": "greedy", "Qbert-ALE": "sample"}  # game.eval_policy of each game's file
    for row in report["rows"]:
        assert row["frames"] >= 30_000 and row["train_episodes"] > 0 and row["train_last100"] is not None
        assert row["greedy_sticky"]["episodes"] == 2 and row["random_sticky"]["episodes"] == 2
        assert row["sampled_sticky"]["episodes"] == 2 and row["protocol"]["policy"] == policies[row["game"]]
        assert row["fps"] > 0 and row["wall_s"] > 0 and row["commit"] and row["machine"]["cores"] >= 1
    assert (suite / "learn.png").stat().st_size > 10_000
    markdown = (suite / "learn.md").read_text()
    assert "| Breakout-ALE |" in markdown and "| Qbert-ALE |" in markdown

    # a suite stopped after Breakout was judged: it goes on with Qbert alone, without training it again
    (suite / "Qbert-ALE" / "row.json").unlink()
    for file in kept.glob("Qbert-ALE-*"):  # (nor kept: else it would be taken from there)
        file.unlink()
    trained = (suite / "Qbert-ALE" / "metrics.jsonl").read_text()
    again = a3c("bench", "learn", f"dir={suite}", timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "2 games (1 done)" in again.stdout and "Breakout-ALE: training" not in again.stdout
    assert (suite / "Qbert-ALE" / "metrics.jsonl").read_text() == trained
    assert len(json.loads((suite / "learn.json").read_text())["rows"]) == 2

    # each finished row was kept; a suite elsewhere (another clone) takes them instead of training
    assert len(list(kept.glob("*-0.03M-*.json"))) == 2 and len(list(kept.glob("*.metrics.jsonl.gz"))) == 2
    table = subprocess.run([sys.executable, "-m", "a3c_cli.bench.suite_report", *sorted(map(str, kept.glob("*.json")))],
                           capture_output=True, text=True, check=True).stdout  # the table of the kept rows alone
    assert table == (suite / "learn.md").read_text()
    elsewhere = a3c("bench", "learn", "games=Breakout-ALE,Qbert-ALE", "frames=30000", "episodes=2",
                    f"dir={tmp_path / 'elsewhere'}", f"rows={kept}", timeout=600)
    assert elsewhere.returncode == 0, elsewhere.stdout[-3000:] + elsewhere.stderr[-3000:]
    assert elsewhere.stdout.count("skipped, its row for this config is committed") == 2
    assert "training to" not in elsewhere.stdout
    taken = json.loads((tmp_path / "elsewhere" / "learn.json").read_text())["rows"]
    assert [r["train_last100"] for r in taken] == [r["train_last100"] for r in report["rows"]]
    assert (tmp_path / "elsewhere" / "learn.png").is_file()


def test_a_rows_fingerprint_follows_what_learns_not_how_it_is_shown():
    from a3c_cli.bench import committed

    base = committed.fingerprint(committed.composed("Breakout-ALE", ["workers=2", "max_frames=1000"]))
    assert base == committed.fingerprint(committed.composed("Breakout-ALE", ["workers=2", "max_frames=1000",
                                                                             "progress=false", "log_interval=5"]))
    for changed in ("optim.lr=1e-4", "game.life_loss_ends_episode=false", "workers=3", "seed=1", "max_frames=2000"):
        changed_config = committed.composed("Breakout-ALE", ["workers=2", "max_frames=1000", changed])
        assert committed.fingerprint(changed_config) != base


def test_a_shipped_agent_is_the_weights_at_the_budget_with_their_score(tmp_path, monkeypatch):
    """What `a3c test` plays when the user has trained none: weights only, saying what it is."""
    from conftest import game_config

    from a3c_cli.agent.model import build_model
    from a3c_cli.agent.optim import build_optimizer
    from a3c_cli.bench.suite_report import ship_agent
    from a3c_cli.commands import play
    from a3c_cli.config.schema import TestConfig
    from a3c_cli.records.checkpoint import load_checkpoint, make_checkpoint, save_checkpoint

    cfg = game_config("memory")
    model = build_model(cfg.model, len(cfg.game.actions))
    counters = {"frames": 10_000_000, "updates": 1, "episodes": 1, "skipped_updates": 0}
    save_checkpoint(make_checkpoint(model, build_optimizer(cfg.optim, model.parameters()), counters, cfg, None, None,
                                    0.01), tmp_path / "run" / "checkpoints" / "latest.pt")
    row = {"game": "memory", "frames": 10_000_000, "train_last100": 0.9, "commit": "abc1234", "machine": {},
           "greedy_sticky": {"mean": 1.0, "std": 0.0, "episodes": 10}, "random_sticky": {"mean": 0.5},
           "sampled_sticky": {"mean": 0.8, "std": 0.1, "episodes": 10},
           "protocol": {"sticky_prob": 0.25, "noop_max": 0, "max_steps_without_reward": None, "policy": "sample"}}
    shipped = ship_agent(tmp_path / "run", row, tmp_path / "agents" / "memory.pt")
    agent = load_checkpoint(shipped)
    assert agent["optimizer"] is None and agent["shipped"]["greedy_sticky"]["mean"] == 1.0
    assert shipped.stat().st_size < (tmp_path / "run" / "checkpoints" / "latest.pt").stat().st_size / 2

    monkeypatch.setattr(play, "shipped_agent", lambda game: tmp_path / "agents" / f"{game}.pt")
    test_cfg = TestConfig(checkpoint=None, checkpoints_dir=str(tmp_path / "none"), game=cfg.game)
    assert play.checkpoint_path(test_cfg) == shipped  # nothing of the user's own: the shipped one
    assert play.describe_shipped(agent) == (
        "no agent of your own for memory: playing the one a3c ships, trained for 10,000,000 frames by `a3c bench "
        "learn` at abc1234; it scored 0.8 over 10 games (a random agent 0.5) under this protocol, which it plays now "
        "unless told otherwise: sampled from the policy, sticky actions 0.25 (game.sticky_prob), 0 to 0 no-op steps "
        "first (game.noop_max), whole games (game.max_steps_without_reward)")
    # it plays under that protocol, but for what the command line says
    protocol = agent["shipped"]["protocol"]
    game = replace(game_config("Pong-ALE").game, sticky_prob=0.0, noop_max=30, max_steps_without_reward=500)
    game_played = play.under_protocol(game, protocol, ["game.sticky_prob=0.0", "episodes=1"])
    assert play.policy_of(None, game_played, protocol) == "sample" and play.policy_of(False, game, protocol) == "greedy"
    assert game_played == replace(game, sticky_prob=0.0, noop_max=0, max_steps_without_reward=None)
    published = tmp_path / "none" / "memory" / "best.pt"
    save_checkpoint(agent, published)
    assert play.checkpoint_path(test_cfg) == published  # the user's own comes first
