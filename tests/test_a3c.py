"""The learning step: GAE against a direct sum, and the gradient hand-off to the shared model,
for classic (one environment per worker) and batched rollouts."""

import copy
import json
import math
import pickle
import subprocess
import sys

import pytest
import torch
from conftest import config, game_config

from a3c_cli.agent.entropy import ENTROPY_COEF_RANGE, EntropyWeight
from a3c_cli.agent.model import ActorCritic
from a3c_cli.agent.optim import SharedAdam, SharedRMSprop
from a3c_cli.agent.worker import Actor, Rollout, a3c_loss, gae, learn
from a3c_cli.config.schema import TrainConfig
from a3c_cli.games.make import make_vector_env

CFG = TrainConfig(gamma=0.9, gae_lambda=0.8, value_coef=0.5, entropy_coef=0.01, max_grad_norm=1e9)


def direct_gae(rewards, values, next_values, dones, gamma, lam):
    """A_t = sum_k (gamma*lam)^k delta_{t+k}, summed forward until the episode ends."""
    T = len(rewards)
    deltas = [rewards[t] + gamma * next_values[t] - values[t] for t in range(T)]
    advantages = []
    for t in range(T):
        total, weight = 0.0, 1.0
        for k in range(t, T):
            total += weight * deltas[k]
            if dones[k]:
                break
            weight *= gamma * lam
        advantages.append(total)
    return torch.tensor(advantages)


def test_gae_matches_the_direct_sum_in_every_environment():
    g = torch.Generator().manual_seed(1)
    rewards, values, next_values = (torch.randn(12, 3, generator=g) for _ in range(3))
    dones = torch.zeros(12, 3)
    dones[2, 0] = dones[7, 0] = dones[5, 2] = dones[11, 2] = 1.0
    advantages, returns = gae(rewards, values, next_values, dones, 0.9, 0.8)
    for b in range(3):
        expected = direct_gae(*(x[:, b].tolist() for x in (rewards, values, next_values, dones)), 0.9, 0.8)
        torch.testing.assert_close(advantages[:, b], expected)
    torch.testing.assert_close(returns, advantages + values)


def test_lambda_one_gives_n_step_returns():
    rewards = torch.tensor([1.0, 0.0, 2.0])
    values = torch.tensor([0.5, 0.1, -0.3])
    bootstrap = 4.0
    next_values = torch.tensor([0.1, -0.3, bootstrap])
    _, returns = gae(rewards, values, next_values, torch.zeros(3), 0.9, 1.0)
    assert returns[0].item() == pytest.approx(1.0 + 0.9 * 0.0 + 0.81 * 2.0 + 0.729 * bootstrap)


def random_rollout(seed: int, model: ActorCritic, T: int = 8, envs: int = 1, size: int = 42) -> Rollout:
    """A rollout of `envs` environments played by `model` (its logits and values carry the graph,
    as the actor's do); the first environment's episode ends halfway."""
    g = torch.Generator().manual_seed(seed)
    dones = torch.zeros(T, envs)
    dones[T // 2, 0] = 1.0
    starts = torch.zeros(T, envs)
    starts[T // 2 + 1, 0] = 1.0
    frames = torch.randint(0, 256, (T, envs, 1, size, size), dtype=torch.uint8, generator=g)
    start_state = (torch.randn(envs, 16, generator=g), torch.randn(envs, 16, generator=g))
    logits, values, _ = model(frames, start_state, starts)
    return Rollout(
        frames=frames,
        starts=starts,
        actions=torch.randint(0, logits.shape[-1], (T, envs), generator=g),
        rewards=torch.randn(T, envs, generator=g),
        dones=dones,
        next_values=torch.zeros(T, envs),
        last_value=torch.randn(envs, generator=g),
        start_state=start_state,
        logits=logits,
        values=values,
    )


def one_environment(rollout: Rollout, b: int) -> Rollout:
    keep = slice(b, b + 1)
    return Rollout(rollout.frames[:, keep], rollout.starts[:, keep], rollout.actions[:, keep], rollout.rewards[:, keep],
                   rollout.dones[:, keep], rollout.next_values[:, keep], rollout.last_value[keep],
                   (rollout.start_state[0][keep], rollout.start_state[1][keep]),
                   rollout.logits[:, keep], rollout.values[:, keep])


def rollout_gradient(model: ActorCritic, rollout: Rollout) -> list[torch.Tensor]:
    """The gradient of this rollout's loss alone, taken with autograd.grad on a copy: for several
    environments, the mean of each environment's own classic (one-environment) gradient."""
    envs = rollout.actions.shape[1]
    gradients = [single_environment_gradient(model, one_environment(rollout, b)) for b in range(envs)]
    return [sum(parts) / envs for parts in zip(*gradients)]


def single_environment_gradient(model: ActorCritic, rollout: Rollout) -> list[torch.Tensor]:
    model = copy.deepcopy(model)
    logits, values, _ = model(rollout.frames, rollout.start_state, rollout.starts)
    logits, values = logits[:, 0], values[:, 0]
    dones, rewards = rollout.dones[:, 0], rollout.rewards[:, 0]
    following = torch.cat([values[1:].detach(), rollout.last_value])
    next_values = torch.where(dones.bool(), rollout.next_values[:, 0], following)
    advantages = direct_gae(rewards.tolist(), values.detach().tolist(), next_values.tolist(), dones.tolist(),
                            CFG.gamma, CFG.gae_lambda)
    returns = advantages + values.detach()
    log_probs = torch.log_softmax(logits, -1)
    chosen = log_probs.gather(1, rollout.actions[:, 0:1]).squeeze(1)
    entropy = -(log_probs.exp() * log_probs).sum()
    loss = (
        -(chosen * advantages).sum()
        + CFG.value_coef * 0.5 * (returns - values).pow(2).sum()
        - CFG.entropy_coef * entropy
    )
    return list(torch.autograd.grad(loss, list(model.parameters())))


def small_model() -> ActorCritic:
    return ActorCritic(num_actions=3, frame_size=42, channels=8, lstm_size=16)


@pytest.mark.parametrize("envs", [1, 4], ids=["classic", "batched"])
def test_every_update_applies_exactly_the_gradient_of_its_rollout(envs):
    """SGD with lr=1: each update must move the shared weights by minus that rollout's gradient:
    not the first rollout's again (a link made once), not the sum of all so far (accumulation).
    With several environments per worker, the gradient is the mean of their classic ones."""
    torch.manual_seed(0)
    shared = small_model().share_memory()
    optimizer = torch.optim.SGD(shared.parameters(), lr=1.0)
    local = small_model()
    for update in range(4):
        local.load_state_dict(shared.state_dict())
        rollout = random_rollout(update, local, envs=envs)
        expected = rollout_gradient(local, rollout)
        before = [p.detach().clone() for p in shared.parameters()]
        learn(local, shared, optimizer, rollout, CFG, CFG.entropy_coef)
        for b, p, g in zip(before, shared.parameters(), expected):
            # float32 sums in another order: compare whole tensors (a wrong gradient is off by far more)
            assert (b - p.detach() - g).norm() <= 1e-4 * g.norm()


@pytest.mark.parametrize(
    "shared_kind, reference_kind, kwargs",
    [
        (SharedAdam, torch.optim.Adam, {"lr": 1e-3}),
        (
            SharedRMSprop,
            torch.optim.RMSprop,
            {"lr": 1e-3, "alpha": 0.99, "eps": 1e-5, "centered": True, "momentum": 0.5},
        ),
    ],
)
def test_shared_optimizers_follow_torchs_update_rule(shared_kind, reference_kind, kwargs):
    """Statistics created up front must behave like torch's lazily created ones."""
    torch.manual_seed(0)
    shared = small_model().share_memory()
    optimizer = shared_kind(shared.parameters(), **kwargs)
    reference = copy.deepcopy(shared)
    reference_optimizer = reference_kind(reference.parameters(), **kwargs)
    local = small_model()
    for update in range(3):
        local.load_state_dict(shared.state_dict())
        rollout = random_rollout(10 + update, local)
        for p, g in zip(reference.parameters(), rollout_gradient(local, rollout)):
            p.grad = g
        reference_optimizer.step()
        learn(local, shared, optimizer, rollout, CFG, CFG.entropy_coef)
        for p, q in zip(shared.parameters(), reference.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)


def test_a_non_finite_gradient_is_skipped_not_applied():
    torch.manual_seed(0)
    shared = small_model().share_memory()
    optimizer = SharedAdam(shared.parameters(), lr=1e-3)
    local = small_model()
    local.load_state_dict(shared.state_dict())
    rollout = random_rollout(3, local)
    rollout.rewards[2] = float("nan")
    before = [p.detach().clone() for p in shared.parameters()]
    stats = learn(local, shared, optimizer, rollout, CFG, CFG.entropy_coef)
    assert stats["skipped"]
    for b, p in zip(before, shared.parameters()):
        assert torch.equal(b, p)


def test_the_logged_parts_of_the_loss_are_means_per_decision():
    """What the training lines show: a uniform policy's entropy is ln(actions) per decision, a
    certain one's is 0, whatever the rollout length and number of environments."""
    steps, envs, actions = 5, 3, 4
    chosen = torch.zeros(steps, envs, dtype=torch.int64)
    _, parts = a3c_loss(
        torch.zeros(steps, envs, actions),
        torch.zeros(steps, envs),
        chosen,
        advantages=torch.ones(steps, envs),
        returns=torch.full((steps, envs), 2.0),
        value_coef=0.5,
        entropy_coef=0.01,
    )
    assert parts["entropy"] == pytest.approx(math.log(actions))
    assert parts["policy_loss"] == pytest.approx(math.log(actions))  # -log(1/actions) x advantage 1
    assert parts["value_loss"] == pytest.approx(0.5 * 2.0**2)
    certain = torch.zeros(steps, envs, actions)
    certain[..., 0] = 50.0
    _, parts = a3c_loss(
        certain, torch.zeros(steps, envs), chosen, torch.ones(steps, envs), torch.zeros(steps, envs), 0.5, 0.01
    )
    assert parts["entropy"] < 1e-6 and parts["policy_loss"] < 1e-6


def test_an_entropy_target_moves_the_bonus_weight_toward_it_and_no_target_keeps_it():
    fixed = EntropyWeight(0.01, None, actions=3)
    for entropy in (0.0, math.log(3)):
        fixed.adapt(entropy)
        assert fixed.value == 0.01
    weight = EntropyWeight(0.01, 0.5, actions=3)  # hold 0.5 ln 3 nats
    weight.adapt(math.log(3))  # more random than the target: less bonus
    assert weight.value < 0.01
    lowered = weight.value
    weight.adapt(0.5 * math.log(3))  # on target: unchanged
    assert weight.value == lowered
    weight.adapt(0.1)  # less random: more bonus
    assert weight.value > lowered
    for _ in range(5000):
        weight.adapt(math.log(3))
    assert weight.value == ENTROPY_COEF_RANGE[0]  # never 0: it can still rise again
    for _ in range(5000):
        weight.adapt(0.0)
    assert weight.value == ENTROPY_COEF_RANGE[1]


def test_learning_from_the_actors_graph_equals_a_fresh_pass_over_its_rollout():
    """The actor keeps the graph it built while stepping (one time step at a time, episodes ending
    and starting inside the rollout, the LSTM state carried from the rollout before): its logits,
    values and their gradients must be those of one batched pass over the rollout's frames."""
    torch.manual_seed(0)
    game = game_config("memory").game
    model = ActorCritic(num_actions=len(game.actions), frame_size=42, channels=8, lstm_size=16)
    actor = Actor(make_vector_env(game, 42, 3), model, steps=12, seed=0)
    for _ in range(2):  # the second rollout starts from the first one's last state
        rollout = actor.rollout()
        assert rollout.starts[1:].sum() >= 3  # episodes began inside this rollout
        fresh_model = copy.deepcopy(model)
        logits, values, _ = fresh_model(rollout.frames, rollout.start_state, rollout.starts)
        torch.testing.assert_close(rollout.logits, logits)
        torch.testing.assert_close(rollout.values, values)
        weights = torch.randn_like(logits), torch.randn_like(values)
        acted = torch.autograd.grad(
            (rollout.logits * weights[0]).sum() + (rollout.values * weights[1]).sum(), list(model.parameters())
        )
        fresh = torch.autograd.grad(
            (logits * weights[0]).sum() + (values * weights[1]).sum(), list(fresh_model.parameters())
        )
        for a, f in zip(acted, fresh):
            assert (a - f).norm() <= 1e-4 * f.norm() + 1e-7


WORKER_AFTER_THE_FORK = """
import json, pickle, sys
import a3c_cli.train.preload  # what the trainer's fork server imports before it forks a worker
before = set(sys.modules)
cfg = pickle.loads(bytes.fromhex(sys.argv[1]))  # the config, as a worker receives it
from a3c_cli.agent.worker import Actor, learn
from a3c_cli.games.make import make_vector_env
from a3c_cli.agent.model import build_model
from a3c_cli.agent.optim import build_optimizer
shared = build_model(cfg.model, len(cfg.game.actions)).share_memory()
optimizer = build_optimizer(cfg.optim, shared.parameters())
model = build_model(cfg.model, len(cfg.game.actions))
actor = Actor(make_vector_env(cfg.game, cfg.model.frame_size, 2), model, 5, 0)
for _ in range(2):
    learn(model, shared, optimizer, actor.rollout(), cfg, cfg.entropy_coef)
print(json.dumps(sorted(set(sys.modules) - before)))
"""


@pytest.mark.slow
@pytest.mark.parametrize("game, optim", [("memory", "adam"), ("memory", "rmsprop"), ("Pong-ALE", "adam")])
def test_a_worker_imports_next_to_nothing_after_the_fork_server_forked_it(game, optim):
    """What a worker imports after the fork is private memory in each worker; what the fork server
    imported is shared. The first torch optimizer a process makes or unpickles imports
    torch._dynamo: 800 modules (sympy among them), 90 MB in each worker when it came after the
    fork; ale_py, 7 MB."""
    cfg = config(f"game={game}", f"optim={optim}")
    result = subprocess.run(
        [sys.executable, "-c", WORKER_AFTER_THE_FORK, pickle.dumps(cfg).hex()], capture_output=True, text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    imported = json.loads(result.stdout.splitlines()[-1])
    assert len(imported) <= 5, imported
