"""game.life_loss_ends_episode: for learning, a lost life ends the episode (OpenAI baselines'
EpisodicLifeEnv) while the game plays on and its whole score is still what is reported; played on
the real Breakout of ALE."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import game_config

from a3c_cli.games.make import make_env, make_vector_env

pytestmark = pytest.mark.slow  # real emulators


def breakout(life_loss: bool) -> dict:
    return game_config("Breakout-ALE", f"game.life_loss_ends_episode={str(life_loss).lower()}").game


def test_a_lost_life_ends_the_learning_episode_and_the_game_plays_on():
    actions = np.random.default_rng(0).integers(0, 4, size=20_000)
    whole = make_env(breakout(False), 42, learning=True)  # without the option: the game is the episode
    split = make_env(breakout(True), 42, learning=True)
    obs_whole, _ = whole.reset(seed=1)
    obs_split, info = split.reset(seed=1)
    lives, learning_episodes = info["lives"], 0
    for step, action in enumerate(actions):
        obs_whole, _, over, cut, game = whole.step(action)
        obs_split, _, ended, cut_split, info = split.step(action)
        assert np.array_equal(obs_whole, obs_split), step  # one game, played alike
        if ended and not over:
            learning_episodes += 1
            assert "episode" not in info  # no game ended: nothing is scored
            obs_split, _ = split.reset()
            assert np.array_equal(obs_split, obs_whole)  # it goes on where the game is
        if over or cut:
            assert ended or cut_split
            assert info["episode"]["r"] == game["episode"]["r"] and info["episode"]["l"] == game["episode"]["l"]
            break
    else:
        pytest.fail("no game ended")
    assert learning_episodes == lives - 1  # every life but the last ends a learning episode


def test_only_the_learning_environments_split_games():
    assert make_env(breakout(True), 42).__class__ is make_env(breakout(False), 42).__class__  # evaluation, test
    envs = make_vector_env(breakout(True), 42, 2)
    envs.reset(seed=0)
    rng = np.random.default_rng(0)
    ended, games = 0, []
    while len(games) < 2:
        _, _, terminated, truncated, info = envs.step(rng.integers(0, 4, size=2))
        ended += int((terminated | truncated).sum())
        final = info.get("final_info", {})
        if "episode" in final:
            games += [float(r) for r, whole in zip(final["episode"]["r"], final["_episode"]) if whole]
    envs.close()
    assert ended > len(games)  # lost lives ended episodes that were not games


@pytest.mark.usefixtures("atari_roms")
def test_stable_retro_games_in_processes_of_their_own_split_too():
    game = game_config("Breakout-Atari2600", "game.life_loss_ends_episode=true").game
    envs = make_vector_env(game, 42, 2)  # stable-retro: a ProcessVectorEnv
    envs.reset(seed=0)
    rng = np.random.default_rng(0)
    ended, games = 0, []
    for _ in range(20_000):
        _, _, terminated, truncated, info = envs.step(rng.integers(0, 4, size=2))
        ended += int((terminated | truncated).sum())
        final = info.get("final_info", {})
        games += [int(length) for length, whole in zip(final.get("episode", {}).get("l", []), final.get("_episode", []))
                  if whole]
        if len(games) >= 2:
            break
    envs.close()
    assert len(games) >= 2 and all(length > 0 for length in games)
    assert ended > len(games)
