"""A worker's Atari games in ale-py's AtariVectorEnv (games/ale.py), proved against Gymnasium's ALE
stepped one frame at a time: the same frames (the max of the last two of each skip), the serve,
life loss as the end of a learning episode, and whole games' scores and lengths."""

from __future__ import annotations

from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
from conftest import game_config

from a3c_cli.games.ale import AleGames, register_ale
from a3c_cli.games.wrappers import gray_crop_resize

pytestmark = pytest.mark.slow  # real emulators

SKIP = 4


class FrameByFrame:
    """Gymnasium's ALE one frame at a time, the skip, its max and the serve written out here: the
    reference the vector env must match."""

    def __init__(self, game: dict, seed: int):
        register_ale()
        self.game = game
        self.env = gym.make(game.id, frameskip=1, repeat_action_probability=0.0, full_action_space=False,
                            obs_type="grayscale")
        meanings = self.env.unwrapped.get_action_meanings()
        self.actions = [meanings.index(names[0]) for names in game.actions]
        self.serve = self.actions[game.actions.index(game.serve)] if game.serve else None
        screen, info = self.env.reset(seed=seed)
        self.lives, self.serving = info["lives"], self.serve is not None
        self.frame = self.observe(screen, screen)

    def observe(self, before_last, last) -> np.ndarray:
        screen = np.maximum(before_last, last) if self.game.max_pool else last
        return gray_crop_resize(screen, 42, self.game.crop)

    def step(self, action: int):
        """(frame, points, life lost, game over) of one agent step."""
        chosen = self.serve if self.serving else self.actions[action]
        points, screens = 0.0, []
        for _ in range(SKIP):
            screen, reward, terminated, truncated, info = self.env.step(chosen)
            points += reward
            screens.append(screen)
            if terminated or truncated:
                return None, points, False, True
        life_lost = info["lives"] < self.lives
        self.lives, self.serving = info["lives"], life_lost and self.serve is not None
        return self.observe(screens[-2], screens[-1]), points, life_lost, False


def play_one_game(name: str, max_pool: bool, life_loss: bool, seed: int = 3):
    game = game_config(name, f"game.max_pool={str(max_pool).lower()}", "game.sticky_prob=0.0",
                       f"game.life_loss_ends_episode={str(life_loss).lower()}",
                       "game.max_steps_without_reward=null").game
    envs, reference = AleGames(game, 42, 1), FrameByFrame(game, seed)
    obs, _ = envs.reset(seed=[seed])
    assert np.array_equal(obs[0], reference.frame)
    rng = np.random.default_rng(seed)
    points, steps, learning_ends = 0.0, 0, 0
    for _ in range(27_000):
        action = int(rng.integers(len(game.actions)))
        obs, reward, terminated, truncated, info = envs.step(np.array([action]))
        frame, scored, life_lost, over = reference.step(action)
        points, steps = points + scored, steps + 1
        assert reward[0] == np.clip(scored, -1, 1)  # the learning reward: the score's change, clipped
        if over:
            assert terminated[0] and info["final_info"]["_episode"][0]
            return info["final_info"]["episode"], points, steps, learning_ends
        assert np.array_equal(obs[0], frame), steps
        assert terminated[0] == (life_lost and life_loss)
        learning_ends += int(terminated[0])
    pytest.fail("no game ended")


@pytest.mark.parametrize("life_loss", [False, True])
def test_a_whole_game_scores_and_lasts_as_in_gymnasiums_ale(life_loss):
    episode, points, steps, learning_ends = play_one_game("Breakout-ALE", max_pool=True, life_loss=life_loss)
    assert episode["r"][0] == points and episode["l"][0] == steps  # the whole game, in its own points
    assert learning_ends == (4 if life_loss else 0)  # five lives: four learning episodes end before the game


def test_without_the_max_the_frame_is_the_skips_last():
    episode, points, steps, _ = play_one_game("SpaceInvaders-ALE", max_pool=False, life_loss=False)
    assert episode["r"][0] == points and episode["l"][0] == steps


def test_the_max_of_two_frames_shows_what_flickers():
    """SpaceInvaders draws some sprites on alternate frames only. Played alike, the max of the last
    two frames of each skip is everywhere at least as bright as the last frame, and brighter on
    many steps: what the last frame alone never shows."""
    game = game_config("SpaceInvaders-ALE", "game.sticky_prob=0.0").game
    pooled, last = AleGames(replace(game, max_pool=True), 42, 1), AleGames(replace(game, max_pool=False), 42, 1)
    pooled.reset(seed=[0])
    last.reset(seed=[0])
    brighter = 0
    for action in np.random.default_rng(0).integers(len(game.actions), size=300):
        with_max, *_ = pooled.step(np.array([action]))
        without, *_ = last.step(np.array([action]))
        assert (with_max.astype(int) >= without.astype(int) - 1).all()  # - 1: rounding of the resize
        brighter += int((with_max.astype(int) > without.astype(int) + 8).any())
    assert brighter > 100


def test_the_serve_is_pressed_after_each_life_lost():
    """A Breakout agent that never presses FIRE still loses its five lives: the ball is served."""
    game = game_config("Breakout-ALE", "game.max_steps_without_reward=null").game
    envs = AleGames(game, 42, 2)
    envs.reset(seed=[0, 1])
    noop = game.actions.index(("NOOP",))
    games = []
    for _ in range(5_000):
        _, _, _, _, info = envs.step(np.full(2, noop))
        if "final_info" in info:
            games += list(info["final_info"]["episode"]["l"][info["final_info"]["_episode"]])
        if len(games) >= 2:
            return
    pytest.fail("the ball was never served: no game ended in 5,000 steps of NOOP")


def test_a_game_without_reward_for_too_long_is_cut_and_starts_again():
    game = game_config("Breakout-ALE", "game.max_steps_without_reward=30", "game.serve=null").game
    envs = AleGames(game, 42, 2)
    first, _ = envs.reset(seed=[0, 1])
    for _ in range(30):
        obs, _, terminated, truncated, info = envs.step(np.zeros(2, dtype=np.int64))  # NOOP: the ball never comes
    assert truncated.all() and not terminated.any()
    assert (info["final_info"]["episode"]["l"] == 30).all() and (info["final_info"]["episode"]["r"] == 0).all()
    assert np.array_equal(obs, first)  # a new game


def test_ales_grayscale_is_opencvs_of_the_rgb_screen():
    """Frames come from ALE in grayscale: the same pixels the RGB screen gave through OpenCV, so
    weights trained on either play the other."""
    register_ale()
    rgb = gym.make("ALE/SpaceInvaders-v5", frameskip=1, repeat_action_probability=0.0)
    gray = gym.make("ALE/SpaceInvaders-v5", frameskip=1, repeat_action_probability=0.0, obs_type="grayscale")
    screens = [rgb.reset(seed=0)[0]], [gray.reset(seed=0)[0]]
    for action in np.random.default_rng(0).integers(6, size=100):
        screens[0].append(rgb.step(action)[0])
        screens[1].append(gray.step(action)[0])
    crop = [0, 0, 0, 0]
    assert all(np.array_equal(gray_crop_resize(a, 84, crop), gray_crop_resize(b, 84, crop)) for a, b in zip(*screens))
