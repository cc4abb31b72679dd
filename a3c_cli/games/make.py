"""Game config -> a Gymnasium environment that yields (1, S, S) uint8 frames and takes a discrete
action index. Called inside worker and evaluator processes: one emulator per process."""

from __future__ import annotations

import gymnasium as gym
from gymnasium.wrappers import RecordEpisodeStatistics, TimeLimit, TransformReward

from a3c_cli.games.memory import CueMemoryTask
from a3c_cli.games.wrappers import ButtonCombos, GrayCropResize, StickyFrameSkip, scale_and_clip


def check_game(game: dict) -> None:
    """Check a game config against what is installed, before any process starts."""
    if game["backend"] == "retro":
        from a3c_cli.games.roms import check_game as check_retro_game

        check_retro_game(game)


def make_env(game: dict, frame_size: int, render_mode: str | None = None) -> gym.Env:
    """The environment stack. `info["episode"]["r"]` at an episode's end is the game's own score;
    the reward the agent learns from is scaled and clipped as the game config says."""
    if game["backend"] == "memory":
        env = CueMemoryTask(game["delay"], frame_size, render_mode=render_mode)
    else:
        import stable_retro as retro

        state = game["state"] if game["state"] is not None else retro.State.DEFAULT
        env = retro.make(game["id"], state=state, render_mode=render_mode, use_restricted_actions=retro.Actions.ALL)
    if game["frame_skip"] > 1 or game["sticky_prob"] > 0:
        env = StickyFrameSkip(env, game["frame_skip"], game["sticky_prob"])
    if game["backend"] == "retro":  # after the skip: one action choice and one small frame per agent step
        env = ButtonCombos(env, game["actions"], env.unwrapped.buttons, game["turbo"])
        env = GrayCropResize(env, frame_size, game["crop"])
    env = TimeLimit(env, game["max_episode_steps"])
    env = RecordEpisodeStatistics(env)
    return TransformReward(env, scale_and_clip(game["reward_scale"], game["reward_clip"]))
