"""A worker's Atari games through ale-py's own vector environment (AtariVectorEnv): N emulators
stepped in C++ (the GIL released), with the frame skip, the max of the last two frames of each
skip (sprites drawn on alternate frames, which the last frame alone misses half the time), sticky
actions and the frame cap in ale-py's code. What it does not do, this class adds, as the
single-game stack does (make.py), so a worker learns on the frames the evaluator and `a3c test`
show: the crop and resize; the serve (the step after a reset or a lost life takes the serve
action in place of the agent's: a vector env steps every game at once, so the serve cannot be an
extra step of one game as in ServeAfterLifeLost); a lost life as the end of a learning episode
while the game plays on (ale-py's episodic_life would restart the game); whole games' scores in
the game's own points; the cut after too long without a reward; the reward's scale and clip.

Episodes reset on the step that ends them (Gymnasium's AutoresetMode.SAME_STEP), with the info
keys the worker reads: info["final_obs"], info["final_info"]["episode"] ("r", "l") and their masks.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from ale_py.vector_env import AtariVectorEnv

from a3c_cli.config.schema import GameConfig
from a3c_cli.games.wrappers import check_crop, gray_crop_resize
from a3c_cli.system.errors import UsageError

# Every Atari game's frame, in ALE's grayscale (the same values as OpenCV's of the RGB screen, and a
# third of the bytes): taken whole from ale-py, then cropped and resized here as for one game.
SCREEN = (210, 160)


def register_ale() -> None:
    """Gymnasium's ALE ids (ALE/Pong-v5, ...)."""
    import ale_py

    gym.register_envs(ale_py)


class AleGames(gym.vector.VectorEnv):
    """`count` games of an ALE game config (backend ale), frames of (1, size, size) uint8."""

    def __init__(self, game: GameConfig, frame_size: int, count: int, learning: bool = True):
        register_ale()
        check_crop(game.crop, *SCREEN)
        self.game, self.frame_size, self.num_envs = game, frame_size, count
        self.ale = AtariVectorEnv(
            gym.spec(game.id).kwargs["game"], count, num_threads=1,
            img_height=SCREEN[0], img_width=SCREEN[1], grayscale=True, stack_num=1,
            frameskip=game.frame_skip, maxpool=game.max_pool, repeat_action_probability=game.sticky_prob,
            max_num_frames_per_episode=game.max_episode_steps * game.frame_skip,
            noop_max=0, use_fire_reset=False, episodic_life=False, life_loss_info=True, reward_clipping=False,
            autoreset_mode="SameStep",
        )
        meanings = [action.name for action in self.ale.ale.get_action_set()]
        names = [combo[0] for combo in game.actions]
        unknown = [n for n in names if n not in meanings]
        if unknown:
            raise UsageError(f"game.actions: {', '.join(unknown)} not in this game's actions {', '.join(meanings)}")
        self.ale_actions = np.array([meanings.index(n) for n in names], dtype=np.int32)
        self.serve = None if game.serve is None else game.actions.index(game.serve)
        self.life_loss_ends_episode = learning and bool(getattr(game, "life_loss_ends_episode", False))
        self.quiet_limit = game.max_steps_without_reward
        self.single_observation_space = gym.spaces.Box(0, 255, (1, frame_size, frame_size), np.uint8)
        self.single_action_space = gym.spaces.Discrete(len(names))
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, count)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, count)
        self.lives = np.zeros(count, dtype=np.int64)
        self.serving = np.zeros(count, dtype=bool)  # the next step takes the serve action
        self.returns = np.zeros(count)  # the game so far, in its own points
        self.lengths = np.zeros(count, dtype=np.int64)
        self.quiet = np.zeros(count, dtype=np.int64)  # steps since the last reward

    def frames(self, screens: np.ndarray) -> np.ndarray:
        return np.stack([gray_crop_resize(s[0], self.frame_size, self.game.crop) for s in screens])

    def reset(self, *, seed: int | list[int] | None = None, options=None):
        if isinstance(seed, list):
            seed = np.array(seed, dtype=np.int64)
        screens, info = self.ale.reset(seed=seed)
        self.lives[:] = info["lives"]
        self.serving[:] = self.serve is not None
        self.returns[:], self.lengths[:], self.quiet[:] = 0.0, 0, 0
        return self.frames(screens), {}

    def step(self, actions):
        chosen = self.ale_actions[np.asarray(actions)]
        if self.serving.any():
            chosen = np.where(self.serving, self.ale_actions[self.serve], chosen)
        screens, points, terminated, truncated, info = self.ale.step(chosen)
        points = points.astype(np.float64)
        self.returns += points
        self.lengths += 1
        self.quiet = np.where(points != 0, 0, self.quiet + 1)
        # ale-py reports a lost life as `terminated` without a reset: the game's end is a
        # termination whose lives did not fall (they are the next game's after its reset).
        life_lost = terminated & ~truncated & (info["lives"] < self.lives)
        game_over = (terminated | truncated) & ~life_lost
        final_screens = info.get("final_obs")
        cut = ~game_over & (self.quiet >= self.quiet_limit) if self.quiet_limit is not None else None
        if cut is not None and cut.any():  # too long without a reward: this game ends here
            final_screens = screens.copy() if final_screens is None else final_screens
            final_screens[cut] = screens[cut]
            screens, reset_info = self.ale.reset(options={"reset_mask": cut})
            info["lives"] = np.where(cut, reset_info["lives"], info["lives"])
            truncated = truncated | cut
            game_over = game_over | cut
        self.serving = (life_lost | game_over) & (self.serve is not None)
        self.lives[:] = info["lives"]
        obs = self.frames(screens)
        ended = game_over | (life_lost & self.life_loss_ends_episode)
        step_info = {}
        if ended.any():
            final_obs = np.empty(self.num_envs, dtype=object)
            for i in ended.nonzero()[0]:
                final_obs[i] = self.frames(final_screens[i : i + 1])[0] if game_over[i] else obs[i]
            episode = {"r": np.where(game_over, self.returns, 0.0), "l": np.where(game_over, self.lengths, 0)}
            step_info = {"final_obs": final_obs, "_final_obs": ended,
                         "final_info": {"episode": episode, "_episode": game_over}, "_final_info": ended}
            self.returns[game_over], self.lengths[game_over], self.quiet[game_over] = 0.0, 0, 0
        rewards = points * self.game.reward_scale
        if self.game.reward_clip is not None:
            rewards = np.clip(rewards, -self.game.reward_clip, self.game.reward_clip)
        terminated_out = (terminated & game_over & ~truncated) | (life_lost & self.life_loss_ends_episode)
        return obs, rewards, terminated_out, truncated & game_over, step_info

    def close(self, **kwargs):
        pass  # ale-py's emulators and threads go with the object
