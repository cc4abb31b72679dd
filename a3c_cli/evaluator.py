"""The evaluator process: on each request, snapshot the shared weights, play greedy episodes with
them (all at once, each in an emulator process of its own), report the returns, and save those
weights as latest.pt (and best.pt when they beat the run's best). The best of each game is also
published to <checkpoints_dir>/<game>/best.pt.
"""

from __future__ import annotations

import fcntl
import logging
import sys
from pathlib import Path

import numpy as np
import torch
from torch.distributions import Categorical

from a3c_cli.a3c import EntropyWeight
from a3c_cli.checkpoint import load_checkpoint, make_checkpoint, save_checkpoint
from a3c_cli.child import become_child, report_error
from a3c_cli.counters import Counters
from a3c_cli.errors import UsageError
from a3c_cli.games.make import make_eval_envs
from a3c_cli.games.vector import ProcessVectorEnv
from a3c_cli.metrics import is_better, summarize
from a3c_cli.model import ActorCritic, build_model

log = logging.getLogger("a3c")


@torch.no_grad()
def play_episode(env, model: ActorCritic | None, greedy: bool = True, frames: list | None = None) -> dict:
    """One whole episode; returns the game's own score, the length in agent steps and whether a
    step limit cut it (rather than the game's end). With no model, actions are uniformly random.
    With a `frames` list (and an env made with render_mode="rgb_array"), appends every screen shown."""
    obs, _ = env.reset()
    state = model.initial_state() if model is not None else None
    start = torch.ones(1, 1)
    while True:
        if frames is not None:
            frames.append(env.render())
        if model is None:
            action = env.action_space.sample()
        else:
            logits, _, state = model(torch.from_numpy(obs)[None, None], state, start)
            start = torch.zeros(1, 1)
            action = (logits[0, 0].argmax() if greedy else Categorical(logits=logits[0, 0]).sample()).item()
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            if frames is not None:
                frames.append(env.render())
            return episode_result(info["episode"]["r"], info["episode"]["l"], terminated, truncated)


def episode_result(score, length, terminated: bool, truncated: bool) -> dict:
    """What an episode's end reports: the game's score, its length in agent steps, and whether a
    step limit cut it rather than the game ending."""
    return {"return": float(score), "length": int(length), "cut": bool(truncated and not terminated)}


@torch.no_grad()
def play_greedy_episodes(envs: ProcessVectorEnv, model: ActorCritic) -> list[dict]:
    """One greedy episode in each of `envs`, all at once, one batched forward pass a step; the
    same episodes as play_episode would play in each environment alone. An environment whose
    episode has ended is not stepped again: no emulator plays on for nothing while the longest
    episode finishes."""
    count = envs.num_envs
    obs, _ = envs.reset()
    state = model.initial_state(count)
    starts = torch.ones(1, count)
    playing = np.ones(count, dtype=bool)
    episodes: list[dict] = [{}] * count
    while playing.any():
        logits, _, state = model(torch.from_numpy(obs)[None], state, starts)
        starts = torch.zeros(1, count)
        obs, _, terminated, truncated, info = envs.step(logits[0].argmax(-1).numpy(), active=playing)
        for i in (terminated | truncated).nonzero()[0]:
            episode = info["final_info"]["episode"]
            episodes[i] = episode_result(episode["r"][i], episode["l"][i], terminated[i], truncated[i])
            playing[i] = False
    return episodes


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


def run_evaluator(cfg: dict, shared_model, optimizer, entropy_weight: EntropyWeight, counters: Counters, requests,
                  events, run_dir: str, best: float | None) -> None:
    """The evaluator process. `best` is the run's best mean return so far (a restarted evaluator
    must not take its first result for a new best)."""
    become_child("a3c-evaluator")
    envs = None
    try:
        checkpoints = Path(run_dir) / "checkpoints"
        published = Path(cfg["checkpoints_dir"]) / cfg["game"]["name"] / "best.pt"
        envs = make_eval_envs(cfg["game"], cfg["model"]["frame_size"], cfg["eval_episodes"])
        model = build_model(cfg)
        envs.reset(seed=cfg["seed"] + 10_000)  # seeds the evaluator's episodes apart from the workers'
        while (request := requests.get()) is not None:  # blocks until the trainer asks
            model.load_state_dict(shared_model.state_dict())
            at = counters.snapshot()
            episodes = play_greedy_episodes(envs, model)
            returns = [e["return"] for e in episodes]
            evaluation = {"frames": at["frames"], "updates": at["updates"], "final": request["final"],
                          "eval_returns": returns, "eval_lengths": [e["length"] for e in episodes],
                          "eval_cut": [e["cut"] for e in episodes],
                          "eval_return": summarize(returns)}
            improved = is_better(evaluation["eval_return"]["mean"], best)
            if improved:
                best = evaluation["eval_return"]["mean"]
            checkpoint = make_checkpoint(model, optimizer, at, cfg, evaluation, best, entropy_weight.value)
            save_checkpoint(checkpoint, checkpoints / "latest.pt")
            if improved:
                save_checkpoint(checkpoint, checkpoints / "best.pt")
                evaluation["published"] = publish_best(checkpoint, published)
            events.put({"kind": "eval", "improved": improved, "best": best, **evaluation})
    except Exception as exc:
        report_error(events, "evaluator", exc)
        sys.exit(1)
    finally:
        if envs is not None:
            envs.close()
