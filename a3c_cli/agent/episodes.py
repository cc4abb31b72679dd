"""Playing episodes with a model: one at a time (`a3c test`, videos) or one in each of several
environments at once (the evaluator's evaluations)."""

from __future__ import annotations

import numpy as np
import torch
from torch.distributions import Categorical

from a3c_cli.agent.model import ActorCritic
from a3c_cli.games.vector import ProcessVectorEnv


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
def play_episodes(envs: ProcessVectorEnv, model: ActorCritic, greedy: bool = True) -> list[dict]:
    """One episode in each of `envs`, all at once, one batched forward pass a step, acting greedily
    or sampling from the policy; the same episodes as play_episode would play in each
    environment alone. An environment whose episode has ended is not stepped again: no emulator
    plays on for nothing while the longest episode finishes."""
    count = envs.num_envs
    obs, _ = envs.reset()
    state = model.initial_state(count)
    starts = torch.ones(1, count)
    playing = np.ones(count, dtype=bool)
    episodes: list[dict] = [{}] * count
    while playing.any():
        logits, _, state = model(torch.from_numpy(obs)[None], state, starts)
        starts = torch.zeros(1, count)
        actions = logits[0].argmax(-1) if greedy else Categorical(logits=logits[0]).sample()
        obs, _, terminated, truncated, info = envs.step(actions.numpy(), active=playing)
        for i in (terminated | truncated).nonzero()[0]:
            episode = info["final_info"]["episode"]
            episodes[i] = episode_result(episode["r"][i], episode["l"][i], terminated[i], truncated[i])
            playing[i] = False
    return episodes
