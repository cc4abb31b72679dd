"""The evaluator process: on each request, snapshot the shared weights, play episodes with them
(greedy, or sampled from the policy: game.eval_policy; all at once, each in an emulator process of
its own), report the returns, and save those weights as latest.pt (and best.pt when they beat the
run's best). The best of each game is also published to <checkpoints_dir>/<game>/best.pt.
"""

from __future__ import annotations

import fcntl
import logging
import sys
from pathlib import Path

import torch

from a3c_cli.agent.counters import Counters
from a3c_cli.agent.episodes import play_episodes
from a3c_cli.agent.model import build_model
from a3c_cli.agent.shared import SharedAgent
from a3c_cli.config.schema import TrainConfig
from a3c_cli.games.make import make_eval_envs
from a3c_cli.records.checkpoint import load_checkpoint, make_checkpoint, save_checkpoint
from a3c_cli.records.metrics import is_better, summarize
from a3c_cli.records.rundir import best_checkpoint, latest_checkpoint, published_best
from a3c_cli.system.child import become_child, report_error
from a3c_cli.system.errors import UsageError

log = logging.getLogger("a3c")


def publish_best(checkpoint: dict, path: Path) -> bool:
    """Copy a run's best model to the game's shared place unless a better one is already there.
    A lock file serialises the read-compare-write of jobs of a sweep running at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / ".best.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            published = load_checkpoint(path).get("best_return") if path.exists() else None
        except UsageError:
            published = None  # a damaged file is no model to keep
        if published is not None and published > checkpoint["best_return"]:
            return False
        save_checkpoint(checkpoint, path)
        return True


def run_evaluator(cfg: TrainConfig, agent: SharedAgent, counters: Counters, requests, events, run_dir: str,
                  best: float | None) -> None:
    """The evaluator process. `best` is the run's best mean return so far (a restarted evaluator
    must not take its first result for a new best)."""
    become_child("a3c-evaluator")
    envs = None
    try:
        published = published_best(cfg.checkpoints_dir, cfg.game.name)
        envs = make_eval_envs(cfg.game, cfg.model.frame_size, cfg.eval_episodes)
        model = build_model(cfg.model, len(cfg.game.actions))
        envs.reset(seed=cfg.seed + 10_000)  # seeds the evaluator's episodes apart from the workers'
        torch.manual_seed(cfg.seed + 10_000)  # and its sampled actions, where game.eval_policy samples
        while (request := requests.get()) is not None:  # blocks until the trainer asks
            model.load_state_dict(agent.model.state_dict())
            at = counters.snapshot()
            episodes = play_episodes(envs, model, greedy=cfg.game.eval_policy == "greedy")
            returns = [e["return"] for e in episodes]
            evaluation = {"frames": at["frames"], "updates": at["updates"], "final": request["final"],
                          "eval_returns": returns, "eval_lengths": [e["length"] for e in episodes],
                          "eval_cut": [e["cut"] for e in episodes],
                          "eval_return": summarize(returns)}
            improved = is_better(evaluation["eval_return"]["mean"], best)
            if improved:
                best = evaluation["eval_return"]["mean"]
            checkpoint = make_checkpoint(model, agent.optimizer, at, cfg, evaluation, best, agent.entropy_weight.value)
            save_checkpoint(checkpoint, latest_checkpoint(run_dir))
            if improved:
                save_checkpoint(checkpoint, best_checkpoint(run_dir))
                evaluation["published"] = publish_best(checkpoint, published)
            events.put({"kind": "eval", "improved": improved, "best": best, **evaluation})
    except Exception as exc:
        report_error(events, "evaluator", exc)
        sys.exit(1)
    finally:
        if envs is not None:
            envs.close()
