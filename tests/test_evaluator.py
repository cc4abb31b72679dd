"""The evaluator's greedy episodes: all at once, in processes of their own, on real Pong."""

from dataclasses import replace

import pytest
import torch
from conftest import game_config, in_fresh_process

from a3c_cli.agent.episodes import play_episode, play_episodes
from a3c_cli.agent.model import ActorCritic
from a3c_cli.games.make import check_game, make_env, make_eval_envs

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("atari_roms")]  # real Pong, in processes of their own

EPISODES, SEED = 3, 100


def pong() -> dict:
    # sticky actions and no-op starts: each environment's seed gives it an episode of its own
    game = game_config("Pong-Atari2600", "game.sticky_prob=0.25").game
    check_game(game)  # imports ale-py's ROM when it is missing
    return game


def greedy_model(game: dict) -> ActorCritic:
    torch.manual_seed(0)
    model = ActorCritic(len(game.actions))
    # Logits far apart (the trained policy's scale, not the near-uniform start): the rounding of a
    # batch of 3 against a batch of 1 cannot flip an argmax.
    torch.nn.init.normal_(model.actor.weight, std=1.0)
    return model


def all_at_once(game: dict) -> list[dict]:
    envs = make_eval_envs(game, 42, EPISODES)
    envs.reset(seed=SEED)  # as the evaluator: environment i is seeded SEED + i once
    episodes = play_episodes(envs, greedy_model(game))
    envs.close()
    return episodes


def alone(game: dict, index: int) -> dict:
    env = make_env(game, 42, noop_starts=True)
    env.reset(seed=SEED + index)
    episode = play_episode(env, greedy_model(game))
    env.close()
    return episode


def test_greedy_episodes_played_at_once_are_those_played_one_at_a_time():
    """Returns and lengths of whole Pong games, environment by environment: the batched forward
    pass keeps each environment's LSTM state its own, and an environment that has ended waits
    while the others play on."""
    game = pong()
    together = in_fresh_process(all_at_once, game)
    for index in range(EPISODES):
        assert together[index] == in_fresh_process(alone, game, index)
    assert len({episode["length"] for episode in together}) == EPISODES  # they ended at different steps
    assert not any(episode["cut"] for episode in together)  # whole games, not cut by a step limit


def test_an_episode_cut_by_a_step_limit_says_so():
    game = replace(pong(), max_episode_steps=40)
    episodes = in_fresh_process(all_at_once, game)
    assert [(episode["length"], episode["cut"]) for episode in episodes] == [(40, True)] * EPISODES


def test_sampled_episodes_are_drawn_from_the_policy():
    """Three Pong games alike (no sticky actions, no no-op starts): the argmax plays one game three
    times, samples from the policy play three different ones."""
    game = replace(pong(), sticky_prob=0.0, noop_max=0)
    lengths = {greedy: {e["length"] for e in in_fresh_process(play_alike, game, greedy)} for greedy in (True, False)}
    assert len(lengths[True]) == 1 and len(lengths[False]) == EPISODES


def play_alike(game: dict, greedy: bool) -> list[dict]:
    envs = make_eval_envs(game, 42, EPISODES)
    envs.reset(seed=SEED)
    torch.manual_seed(0)
    episodes = play_episodes(envs, greedy_model(game), greedy=greedy)
    envs.close()
    return episodes
