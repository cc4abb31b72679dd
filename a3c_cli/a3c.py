"""One A3C worker (Mnih et al. 2016, Algorithm S3), read top to bottom:

    repeat until told to stop:
        copy the shared weights into the local model
        act for rollout_steps frames (no gradient), remembering frames, actions, rewards, ends
        recompute logits and values of the whole rollout with gradient, in one batched pass
        advantages by GAE; loss = policy gradient + value regression - entropy bonus
        backward on the local model, clip, hand the gradient to the shared model, step the
        shared optimizer (Hogwild: no lock)
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch
from torch.distributions import Categorical
from torch.nn import functional as F

from a3c_cli.child import become_child, report_error
from a3c_cli.counters import Counters
from a3c_cli.games.make import make_env
from a3c_cli.model import ActorCritic, State, build_model
from a3c_cli.optim import build_optimizer


@dataclass
class Rollout:
    """rollout_steps consecutive agent steps of one worker, and what learning needs to replay them."""

    frames: torch.Tensor  # (T, 1, S, S) uint8: the frame each action was chosen on
    starts: torch.Tensor  # (T,) 1.0 where frames[t] is an episode's first frame
    actions: torch.Tensor  # (T,) int64
    rewards: torch.Tensor  # (T,) the learning reward (scaled, clipped)
    dones: torch.Tensor  # (T,) 1.0 where the episode ended after step t (game over or time limit)
    next_values: torch.Tensor  # (T,) value of the state after step t: 0 after game over,
    #                            V(last frame) after a time limit, else filled in by `learn`
    last_value: torch.Tensor  # () V(the frame after the rollout), for bootstrapping
    start_state: State  # the LSTM state before frames[0]


def gae(rewards, values, next_values, dones, gamma: float, lam: float):
    """Generalized advantage estimation (Schulman et al. 2016) over one rollout.

    values[t] = V(s_t); next_values[t] = V(s_{t+1}), or what stands in for it at an episode's end;
    advantages do not flow back across an episode's end. Returns (advantages, value targets)."""
    advantages = torch.zeros_like(rewards)
    running = torch.zeros(())
    for t in reversed(range(len(rewards))):
        delta = rewards[t] + gamma * next_values[t] - values[t]
        running = delta + gamma * lam * (1.0 - dones[t]) * running
        advantages[t] = running
    return advantages, advantages + values


def a3c_loss(logits, values, actions, advantages, returns, value_coef: float, entropy_coef: float):
    """Policy gradient + value_coef * 0.5 * squared value error - entropy_coef * entropy, summed
    over the rollout. Returns the loss and its parts for the logs."""
    log_probs = F.log_softmax(logits, dim=-1)
    entropy = -(log_probs.exp() * log_probs).sum(-1).sum()
    chosen = log_probs.gather(1, actions.unsqueeze(1)).squeeze(1)
    policy_loss = -(chosen * advantages.detach()).sum()
    value_loss = 0.5 * (returns.detach() - values).pow(2).sum()
    loss = policy_loss + value_coef * value_loss - entropy_coef * entropy
    return loss, {"policy_loss": policy_loss.item(), "value_loss": value_loss.item(), "entropy": entropy.item()}


def hand_over_gradients(local: torch.nn.Module, shared: torch.nn.Module) -> None:
    """Give the shared model this rollout's gradient, assigned anew at every update.

    PyTorch 2's zero_grad() sets .grad to None, so a backward pass makes new gradient tensors.
    The classic A3C repos link the shared .grad to the local one once and then skip the hand-off
    (the shared model keeps applying the first gradient), or let the local gradients accumulate
    (it applies the sum of all past ones). Here the local gradient is cleared before each
    backward pass and handed over after it."""
    for local_param, shared_param in zip(local.parameters(), shared.parameters()):
        shared_param.grad = local_param.grad


def learn(model: ActorCritic, shared_model: ActorCritic, optimizer: torch.optim.Optimizer, rollout: Rollout, cfg: dict) -> dict:
    """One A3C update from one rollout; `model` must hold the weights the rollout was played with."""
    logits, values, _ = model(rollout.frames, rollout.start_state, rollout.starts)
    following = torch.cat([values[1:].detach(), rollout.last_value.view(1)])
    next_values = torch.where(rollout.dones.bool(), rollout.next_values, following)
    advantages, returns = gae(rollout.rewards, values.detach(), next_values, rollout.dones, cfg["gamma"], cfg["gae_lambda"])
    loss, stats = a3c_loss(logits, values, rollout.actions, advantages, returns, cfg["value_coef"], cfg["entropy_coef"])

    model.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["max_grad_norm"])
    stats["grad_norm"] = grad_norm.item()
    stats["skipped"] = not torch.isfinite(grad_norm).item()
    if not stats["skipped"]:  # a non-finite gradient would write NaN into the shared weights
        hand_over_gradients(model, shared_model)
        optimizer.step()
    for param in shared_model.parameters():
        param.grad = None
    return stats


class Actor:
    """Plays one environment with the local model and fills Rollouts; keeps the episode and LSTM
    state across rollouts (the state is detached: gradients stop at a rollout's start)."""

    def __init__(self, env, model: ActorCritic, steps: int, seed: int):
        self.env, self.model, self.steps = env, model, steps
        self.obs, _ = env.reset(seed=seed)
        self.state = model.initial_state()
        self.start = 1.0
        self.finished_episodes: list[dict] = []

    @torch.no_grad()
    def rollout(self) -> Rollout:
        T = self.steps
        frames = torch.empty((T, *self.obs.shape), dtype=torch.uint8)
        starts, rewards, dones, next_values = (torch.zeros(T) for _ in range(4))
        actions = torch.zeros(T, dtype=torch.int64)
        start_state = self.state
        for t in range(T):
            frames[t] = torch.from_numpy(self.obs)
            starts[t] = self.start
            logits, _, self.state = self.model(frames[t : t + 1], self.state, starts[t : t + 1])
            action = Categorical(logits=logits[0]).sample()
            self.obs, reward, terminated, truncated, info = self.env.step(action.item())
            actions[t], rewards[t] = action, reward
            self.start = 0.0
            if truncated and not terminated:  # cut by the time limit: the future still has value
                next_values[t] = self.value_of_current_frame()
            if terminated or truncated:
                dones[t] = 1.0
                self.finished_episodes.append({"return": float(info["episode"]["r"]), "length": int(info["episode"]["l"])})
                self.obs, _ = self.env.reset()
                self.start = 1.0
        last_value = self.value_of_current_frame()
        return Rollout(frames, starts, actions, rewards, dones, next_values, last_value, start_state)

    def value_of_current_frame(self) -> torch.Tensor:
        frame = torch.from_numpy(self.obs).unsqueeze(0)
        _, value, _ = self.model(frame, self.state, torch.tensor([self.start]))
        return value[0]


def run_worker(rank: int, seed: int, cfg: dict, shared_model, optimizer, counters: Counters, events, stop) -> None:
    """A worker process: one emulator, one local model, updates until `stop` is set or the
    trainer's process is gone. `optimizer` is the shared one, or None for private statistics."""
    become_child()
    parent = os.getppid()
    try:
        torch.manual_seed(seed)
        model = build_model(cfg)
        if optimizer is None:
            optimizer = build_optimizer(cfg["optim"], shared_model.parameters())
        actor = Actor(make_env(cfg["game"], cfg["model"]["frame_size"]), model, cfg["rollout_steps"], seed)
        frames_per_step = cfg["game"]["frame_skip"]
        while not stop.is_set() and os.getppid() == parent:
            model.load_state_dict(shared_model.state_dict())
            rollout = actor.rollout()
            stats = learn(model, shared_model, optimizer, rollout, cfg)
            counters.add(rank, len(rollout.actions) * frames_per_step, 1, len(actor.finished_episodes), int(stats["skipped"]))
            for episode in actor.finished_episodes:
                events.put({"kind": "episode", "worker": rank, **episode})
            actor.finished_episodes.clear()
    except Exception as exc:
        report_error(events, f"worker {rank}", exc)
        sys.exit(1)
