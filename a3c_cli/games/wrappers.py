"""Gymnasium wrappers between an emulator and the agent: action set, frame skip, preprocessing."""

from __future__ import annotations

import cv2
import gymnasium as gym
import numpy as np

from a3c_cli.config.schema import EndStopConfig
from a3c_cli.system.errors import UsageError


class ButtonCombos(gym.ActionWrapper):
    """Discrete action i presses the i-th button combination of the game config (retro-baselines'
    way of making a 12-button pad learnable). Buttons listed in `turbo` are pressed on every other
    agent step while their action is held, like a turbo pad, for games that act on the press only:
    released on an episode's first step, pressed on its second, and so on."""

    def __init__(self, env: gym.Env, combos: list[list[str]], buttons: list[str | None], turbo: list[str] = ()):
        super().__init__(env)
        self._pads = [np.array([b is not None and b in combo for b in buttons], dtype=np.int8) for combo in combos]
        released = np.array([b is not None and b in turbo for b in buttons])
        self._released_pads = [np.where(released, 0, pad).astype(np.int8) for pad in self._pads]
        self._odd_step = False
        self.action_space = gym.spaces.Discrete(len(combos))

    def reset(self, *, seed=None, options=None):
        self._odd_step = False  # each episode taps from the same phase, whatever the last one's length
        return self.env.reset(seed=seed, options=options)

    def action(self, action):
        self._odd_step = not self._odd_step
        return (self._released_pads if self._odd_step else self._pads)[int(action)]


class ActionSubset(gym.ActionWrapper):
    """Discrete action i is the environment's action named names[i] (ALE's action meanings)."""

    def __init__(self, env: gym.Env, names: list[str], meanings: list[str]):
        super().__init__(env)
        unknown = [n for n in names if n not in meanings]
        if unknown:
            raise UsageError(f"game.actions: {', '.join(unknown)} not in this game's actions {', '.join(meanings)}")
        self._indices = [meanings.index(n) for n in names]
        self.action_space = gym.spaces.Discrete(len(names))

    def action(self, action):
        return self._indices[int(action)]


class ServeAfterLifeLost(gym.Wrapper):
    """Takes the `serve` action for one step when an episode starts and after each life lost
    (OpenAI baselines' FireResetEnv). Games such as Breakout wait for FIRE: a greedy agent that
    never presses it would stand still until the step limit. `info["lives"]` tells lives."""

    def __init__(self, env: gym.Env, serve: int):
        super().__init__(env)
        self.serve = serve
        self._lives = 0

    def reset(self, *, seed=None, options=None):
        self.env.reset(seed=seed, options=options)
        obs, _, _, _, info = self.env.step(self.serve)
        self._lives = info.get("lives", 0)
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if not (terminated or truncated) and info.get("lives", 0) < self._lives:
            obs, served_reward, terminated, truncated, info = self.env.step(self.serve)
            reward += served_reward
        self._lives = info.get("lives", 0)
        return obs, reward, terminated, truncated, info


class LifeLossEndsEpisode(gym.Wrapper):
    """For learning only (OpenAI baselines' EpisodicLifeEnv): a lost life ends the episode the
    agent learns from, so no value is bootstrapped across it and the LSTM starts afresh, while the
    game plays on: reset() after a lost life goes on from where the game is. Placed above
    RecordEpisodeStatistics, so the score reported at game over is still the whole game's."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self._lives = 0
        self._game_over = True
        self._obs = None

    def reset(self, *, seed=None, options=None):
        if not self._game_over and seed is None:
            return self._obs, {}  # a life was lost: the game goes on
        self._obs, info = self.env.reset(seed=seed, options=options)
        self._lives, self._game_over = info.get("lives", 0), False
        return self._obs, info

    def step(self, action):
        self._obs, reward, terminated, truncated, info = self.env.step(action)
        self._game_over = terminated or truncated
        lives = info.get("lives", 0)
        life_lost = lives < self._lives
        self._lives = lives
        return self._obs, reward, terminated or life_lost, truncated, info


class NoopStart(gym.Wrapper):
    """Starts each episode with 0 to `max_noops` agent steps that press nothing, the number drawn
    anew each time (Mnih et al. 2015's no-op starts): a greedy agent's episodes of a deterministic
    game then differ, instead of one episode replayed. The no-op steps are not part of the episode."""

    def __init__(self, env: gym.Env, noop, max_noops: int):
        super().__init__(env)
        self.noop, self.max_noops = noop, max_noops
        self._rng = np.random.default_rng()

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        obs, info = self.env.reset(seed=seed, options=options)
        for _ in range(self._rng.integers(0, self.max_noops + 1)):
            obs, _, terminated, truncated, info = self.env.step(self.noop)
            if terminated or truncated:
                obs, info = self.env.reset()
        return obs, info


class StickyFrameSkip(gym.Wrapper):
    """Repeats each action for `skip` emulator frames and sums their rewards. With `sticky_prob`,
    every frame keeps the previous frame's action with that probability (Machado et al. 2018,
    ALE v5), so a deterministic emulator still plays out differently each episode."""

    def __init__(self, env: gym.Env, skip: int, sticky_prob: float):
        super().__init__(env)
        self.skip, self.sticky_prob = skip, sticky_prob
        self._rng = np.random.default_rng()
        self._previous = None

    def reset(self, *, seed=None, options=None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._previous = None
        return self.env.reset(seed=seed, options=options)

    def frame_action(self, action):
        """The action of the next frame: `action`, or with sticky_prob the previous frame's."""
        if self._previous is None or self.sticky_prob == 0 or self._rng.random() >= self.sticky_prob:
            self._previous = action
        return self._previous

    def step(self, action):
        total = 0.0
        for _ in range(self.skip):
            obs, reward, terminated, truncated, info = self.env.step(self.frame_action(action))
            total += reward
            if terminated or truncated:
                break
        return obs, total, terminated, truncated, info


class RetroFrameSkip(StickyFrameSkip):
    """StickyFrameSkip on a stable-retro environment, at the emulator itself: the frames in
    between are stepped without reading the screen, the RAM and its variables (Pong, frame skip
    4: 0.89 ms an agent step instead of 1.00). The reward stays whole (a variable's reward is its
    change since the last RAM read, so one read after the last frame sums the skipped ones); like
    ALE's own frame skip, a skip does not stop at the frame where the episode ends.

    With an `end_stop` ({button, address, at}), that button is let go of at every frame where
    the RAM byte at `address` is `at` or more, as if the joystick met a stop there. With
    `max_pool`, the frame returned is the max of the skip's last two (one more screen read)."""

    def __init__(self, env: gym.Env, skip: int, sticky_prob: float, end_stop: EndStopConfig | None = None,
                 max_pool: bool = False):
        super().__init__(env, skip, sticky_prob)
        self.end_stop = end_stop
        self.max_pool = max_pool and skip > 1
        if end_stop is not None:  # its button is checked with the game's (check_game)
            self._stop_button = env.unwrapped.buttons.index(end_stop.button)

    def stopped(self, pressed):
        """`pressed`, with the end stop's button let go of where the RAM byte says."""
        if not pressed[self._stop_button]:
            return pressed
        # Read from the live memory: data.update_ram() here would restart the reward's count (a
        # variable's reward is its change since the last update), and lose the points scored so far.
        if self.env.unwrapped.data.memory.extract(self.end_stop.address, "|u1") < self.end_stop.at:
            return pressed
        released = pressed.copy()
        released[self._stop_button] = 0
        return released

    def step(self, action):
        retro_env = self.env.unwrapped
        pressed = before_last = None
        for frame in range(self.skip):
            if self.max_pool and frame == self.skip - 1:
                before_last = retro_env.em.get_screen()
            frame_action = self.frame_action(action)
            if self.end_stop is not None:
                frame_action = self.stopped(frame_action)
            if frame_action is not pressed:  # a stopped pad is a new array: set again while stopped
                pressed = frame_action
                for player, buttons in enumerate(retro_env.action_to_array(pressed)):
                    retro_env.em.set_button_mask(buttons, player)
            retro_env.em.step()
            if retro_env.render_mode == "human":  # a window shows every frame
                retro_env._update_obs()  # stable-retro's own screen read, which render() shows
                retro_env.render()
        retro_env.data.update_ram()
        obs = retro_env._update_obs()
        if before_last is not None:
            obs = np.maximum(before_last, obs)
        reward, done, info = retro_env.compute_step()
        return obs, reward, bool(done), False, dict(info)


class EndWithoutReward(gym.Wrapper):
    """Cuts (truncates) an episode after `steps` agent steps in a row without a reward. A greedy
    player and a game's own can keep a rally going for ever: in Pong, greedy evaluation episodes
    played 0-to-0 until the 27,000-step limit (135,000 greedy steps, 3.5 minutes of a 15-minute
    run, for one evaluation of 5 episodes), where a point takes at most ~1,000 steps otherwise."""

    def __init__(self, env: gym.Env, steps: int):
        super().__init__(env)
        self.steps = steps
        self._quiet = 0

    def reset(self, *, seed=None, options=None):
        self._quiet = 0
        return self.env.reset(seed=seed, options=options)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._quiet = 0 if reward != 0 else self._quiet + 1
        return obs, reward, terminated, truncated or self._quiet >= self.steps, info


def check_crop(crop: list[int], height: int, width: int) -> None:
    top, bottom, left, right = crop
    if top + bottom >= height or left + right >= width:
        raise UsageError(f"game.crop={list(crop)} leaves nothing of the {height}x{width} frame: crop less")


def gray_crop_resize(frame: np.ndarray, size: int, crop: list[int]) -> np.ndarray:
    """An RGB (or already grayscale: ALE's) frame -> cropped, grayscale, size x size uint8 image
    with a channel axis: (1, size, size), in OpenCV: the one observation of every screen game."""
    top, bottom, left, right = crop
    height, width = frame.shape[:2]
    frame = frame[top : height - bottom, left : width - right]
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame
    return cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA)[None]


class GrayCropResize(gym.ObservationWrapper):
    """gray_crop_resize on every frame of one environment."""

    def __init__(self, env: gym.Env, size: int, crop: list[int]):
        super().__init__(env)
        check_crop(crop, *env.observation_space.shape[:2])
        self._size, self._crop = size, crop
        self.observation_space = gym.spaces.Box(0, 255, (1, size, size), dtype=np.uint8)

    def observation(self, frame):
        return gray_crop_resize(frame, self._size, self._crop)


class EpisodeInfoOnly(gym.Wrapper):
    """Passes on only info["episode"] (the finished episode's score and length). A vector env
    merges every info key of every environment at every step, and stable-retro reports each of
    the game's RAM variables: merging them cost more than a worker's whole step bookkeeping."""

    def reset(self, *, seed=None, options=None):
        obs, _ = self.env.reset(seed=seed, options=options)
        return obs, {}

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, {"episode": info["episode"]} if "episode" in info else {}


def scale_and_clip(scale: float, clip: float | None):
    """The learning signal: reward * scale, then clipped to [-clip, clip] when clip is set."""
    if clip is None:
        return lambda r: r * scale
    return lambda r: min(max(r * scale, -clip), clip)  # np.clip on one number costs 10x more
