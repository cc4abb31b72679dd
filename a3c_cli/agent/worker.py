"""One A3C worker (Mnih et al. 2016, Algorithm S3), read top to bottom:

    repeat until told to stop:
        copy the shared weights into the local model
        act for rollout_steps frames, keeping the autograd graph of the logits and values
        advantages by GAE; loss = policy gradient + value regression - entropy bonus
        backward on the local model, clip, hand the gradient to the shared model, step the
        shared optimizer (Hogwild: no lock)
        with an entropy target: move the bonus's weight toward holding the policy's entropy there
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from a3c_cli.agent.counters import Counters
from a3c_cli.agent.model import ActorCritic, State, build_model
from a3c_cli.agent.optim import build_optimizer
from a3c_cli.agent.shared import SharedAgent
from a3c_cli.config.schema import TrainConfig
from a3c_cli.games.make import make_vector_env
from a3c_cli.system.child import become_child, report_error
from a3c_cli.system.processes import pin_to_core

WORKER_NICENESS = 10
LEARNING_STATS = (
    "entropy",
    "entropy_coef",
    "policy_loss",
    "value_loss",
    "grad_norm",
)  # per update, sent to the trainer


@dataclass
class Rollout:
    """rollout_steps consecutive agent steps of one worker's B environments (B = 1 is classic
    A3C): what learning needs, and the frames, starts and start state that replay them (the tests
    check the acting graph against a fresh pass). Tensors are (T, B, ...)."""

    frames: torch.Tensor  # (T, B, 1, S, S) uint8: the frame each action was chosen on
    starts: torch.Tensor  # (T, B) 1.0 where frames[t] is an episode's first frame
    actions: torch.Tensor  # (T, B) int64
    rewards: torch.Tensor  # (T, B) the learning reward (scaled, clipped)
    dones: torch.Tensor  # (T, B) 1.0 where the episode ended after step t (game over or time limit)
    next_values: torch.Tensor  # (T, B) value of the state after step t: 0 after game over,
    #                            V(last frame) after a time limit, else filled in by `learn`
    last_value: torch.Tensor  # (B,) V(the frame after the rollout), for bootstrapping
    start_state: State  # the LSTM state before frames[0]
    logits: torch.Tensor  # (T, B, A) the policy's logits at each step, with their autograd graph
    values: torch.Tensor  # (T, B) V(frames[t]), with their autograd graph


def gae(rewards, values, next_values, dones, gamma: float, lam: float):
    """Generalized advantage estimation (Schulman et al. 2016) over one rollout, (T, ...) tensors.

    values[t] = V(s_t); next_values[t] = V(s_{t+1}), or what stands in for it at an episode's end;
    advantages do not flow back across an episode's end. Returns (advantages, value targets)."""
    deltas = rewards + gamma * next_values - values
    carry = gamma * lam * (1.0 - dones)
    advantages = torch.empty_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(len(rewards))):
        running = deltas[t] + carry[t] * running
        advantages[t] = running
    return advantages, advantages + values


def a3c_loss(logits, values, actions, advantages, returns, value_coef: float, entropy_coef: float):
    """Policy gradient + value_coef * 0.5 * squared value error - entropy_coef * entropy, summed
    over the rollout's time steps and averaged over its environments (so one update has the same
    scale whatever the number of environments). Returns the loss and, for the logs, its parts per
    decision (entropy in nats: ln(actions) for a uniform policy, 0 for a deterministic one)."""
    steps, environments = actions.shape
    log_probs = F.log_softmax(logits, dim=-1)
    entropy = -(log_probs.exp() * log_probs).sum() / environments
    chosen = log_probs.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    policy_loss = -(chosen * advantages.detach()).sum() / environments
    value_loss = 0.5 * (returns.detach() - values).pow(2).sum() / environments
    loss = policy_loss + value_coef * value_loss - entropy_coef * entropy
    parts = {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}
    return loss, {name: part.item() / steps for name, part in parts.items()}


def hand_over_gradients(local: torch.nn.Module, shared: torch.nn.Module) -> None:
    """Give the shared model this rollout's gradient, assigned anew at every update.

    PyTorch 2's zero_grad() sets .grad to None, so a backward pass makes new gradient tensors.
    The classic A3C repos link the shared .grad to the local one once and then skip the hand-off
    (the shared model keeps applying the first gradient), or let the local gradients accumulate
    (it applies the sum of all past ones). Here the local gradient is cleared before each
    backward pass and handed over after it."""
    for local_param, shared_param in zip(local.parameters(), shared.parameters()):
        shared_param.grad = local_param.grad


def learn(
    model: ActorCritic,
    shared_model: ActorCritic,
    optimizer: torch.optim.Optimizer,
    rollout: Rollout,
    cfg: TrainConfig,
    entropy_coef: float,
) -> dict:
    """One A3C update from one rollout played by `model` (its logits and values carry the graph)."""
    logits, values = rollout.logits, rollout.values
    following = torch.cat([values[1:].detach(), rollout.last_value.unsqueeze(0)])
    next_values = torch.where(rollout.dones.bool(), rollout.next_values, following)
    advantages, returns = gae(
        rollout.rewards, values.detach(), next_values, rollout.dones, cfg.gamma, cfg.gae_lambda
    )
    loss, stats = a3c_loss(logits, values, rollout.actions, advantages, returns, cfg.value_coef, entropy_coef)
    stats["entropy_coef"] = entropy_coef

    model.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
    stats["grad_norm"] = grad_norm.item()
    stats["skipped"] = not torch.isfinite(grad_norm).item()
    if not stats["skipped"]:  # a non-finite gradient would write NaN into the shared weights
        hand_over_gradients(model, shared_model)
        optimizer.step()
    for param in shared_model.parameters():
        param.grad = None
    return stats


class Actor:
    """Plays B environments (a Gymnasium vector env that resets each episode as it ends) with the
    local model and fills Rollouts; keeps the episodes and LSTM states across rollouts (the state
    is detached: gradients stop at a rollout's start). Acting builds the autograd graph that
    learning back-propagates through: a second forward pass over the rollout would give the same
    numbers, since the weights change only between rollouts, at the cost of the first."""

    def __init__(self, envs, model: ActorCritic, steps: int, seed: int):
        self.envs, self.model, self.steps = envs, model, steps
        self.batch = envs.num_envs
        self.obs, _ = envs.reset(seed=[seed * self.batch + i for i in range(self.batch)])
        self.state = model.initial_state(self.batch)
        self.starts = torch.ones(self.batch)
        self.finished_episodes: list[dict] = []

    def rollout(self) -> Rollout:
        T, B = self.steps, self.batch
        frames = torch.empty((T, *self.obs.shape), dtype=torch.uint8)
        starts, rewards, dones, next_values = (torch.zeros(T, B) for _ in range(4))
        actions = torch.zeros(T, B, dtype=torch.int64)
        start_state = state = self.state
        logits, values = [], []
        for t in range(T):
            frames[t] = torch.from_numpy(self.obs)
            starts[t] = self.starts
            step_logits, step_values, state = self.model(frames[t : t + 1], state, starts[t : t + 1])
            logits.append(step_logits)
            values.append(step_values)
            with torch.no_grad():
                actions[t] = torch.multinomial(F.softmax(step_logits[0], dim=-1), 1).squeeze(1)
            self.obs, reward, terminated, truncated, info = self.envs.step(actions[t].numpy())
            rewards[t] = torch.from_numpy(reward)
            ended = terminated | truncated
            dones[t] = torch.from_numpy(ended)
            self.starts = dones[t].clone()
            if ended.any():
                self.record_episodes(info["final_info"])
                cut = truncated & ~terminated  # cut by a step limit: the future still has value
                if cut.any():
                    final = self.obs.copy()
                    final[cut] = np.stack(info["final_obs"][cut])
                    next_values[t] = self.values_of(final, state, torch.zeros(B)) * torch.from_numpy(cut)
        last_value = self.values_of(self.obs, state, self.starts)
        self.state = (state[0].detach(), state[1].detach())
        return Rollout(
            frames,
            starts,
            actions,
            rewards,
            dones,
            next_values,
            last_value,
            start_state,
            torch.cat(logits),
            torch.cat(values),
        )

    @torch.no_grad()
    def values_of(self, obs, state: State, starts: torch.Tensor) -> torch.Tensor:
        """V of the frames `obs`, following the LSTM states `state` (reset where starts is 1)."""
        _, values, _ = self.model(torch.from_numpy(obs).unsqueeze(0), state, starts.unsqueeze(0))
        return values[0]

    def record_episodes(self, final_info: dict) -> None:
        """The games that ended (not the learning episodes a lost life ended): their scores."""
        if "episode" not in final_info:
            return
        episode = final_info["episode"]
        for i in final_info["_episode"].nonzero()[0]:
            self.finished_episodes.append({"return": float(episode["r"][i]), "length": int(episode["l"][i])})


def run_worker(rank: int, seed: int, cfg: TrainConfig, agent: SharedAgent, counters: Counters, events, stop) -> None:
    """A worker process: its environments, one local model, updates of the shared agent until
    `stop` is set (or the trainer is gone: become_child). Without a shared optimizer
    (optim.shared=false) the worker makes one of its own, with private statistics."""
    become_child(f"a3c-worker-{rank}")
    # Workers and their emulator processes yield the cores to the evaluator: with 8 emulator
    # processes a worker, an evaluator of equal priority got a twentieth of the machine and one
    # greedy evaluation of Pong took 10 minutes.
    os.nice(WORKER_NICENESS)
    if cfg.pin_workers:
        pin_to_core(rank, cfg.workers)
    try:
        envs = make_vector_env(cfg.game, cfg.model.frame_size, cfg.envs_per_worker)
        torch.manual_seed(seed)
        model = build_model(cfg.model, len(cfg.game.actions))
        optimizer = agent.optimizer
        if optimizer is None:
            optimizer = build_optimizer(cfg.optim, agent.model.parameters())
        actor = Actor(envs, model, cfg.rollout_steps, seed)
        frames_per_update = cfg.rollout_steps * cfg.envs_per_worker * cfg.game.frame_skip
        while not stop.is_set():
            model.load_state_dict(agent.model.state_dict())
            rollout = actor.rollout()
            stats = learn(model, agent.model, optimizer, rollout, cfg, agent.entropy_weight.value)
            counters.add(rank, frames_per_update, 1, len(actor.finished_episodes), int(stats["skipped"]))
            if not stats["skipped"]:  # the training lines show their means (a policy's entropy, ...)
                agent.entropy_weight.adapt(stats["entropy"])
                events.put({"kind": "learning", **{name: stats[name] for name in LEARNING_STATS}})
            for episode in actor.finished_episodes:
                events.put({"kind": "episode", "worker": rank, **episode})
            actor.finished_episodes.clear()
    except Exception as exc:
        report_error(events, f"worker {rank}", exc)
        sys.exit(1)
