"""A small built-in task that only an agent with memory can solve.

Step 0 shows a cue: the left or the right half of the frame is bright. `delay` blank frames
follow, then a frame with a bar across the middle asks for the choice. Action 0 means left,
action 1 right; the matching choice pays 1, anything else 0, and the episode ends. Actions before
the question do nothing. A memoryless policy cannot beat 50% success; an LSTM that carries the
cue through the blank frames reaches 100%.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class CueMemoryTask(gym.Env):
    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, delay: int, size: int, render_mode: str | None = None):
        self.delay, self.size, self.render_mode = delay, size, render_mode
        self.observation_space = gym.spaces.Box(0, 255, (1, size, size), dtype=np.uint8)
        self.action_space = gym.spaces.Discrete(2)
        self._blank = np.zeros((1, size, size), dtype=np.uint8)
        self._cues = []
        for side in (0, 1):
            cue = self._blank.copy()
            cue[:, :, side * size // 2 : (side + 1) * size // 2] = 255
            self._cues.append(cue)
        self._question = self._blank.copy()
        self._question[:, size // 2 - 2 : size // 2 + 2, :] = 255
        self._side = 0
        self._t = 0
        self._frame = self._blank

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._side = int(self.np_random.integers(2))
        self._t = 0
        self._frame = self._cues[self._side]
        return self._frame, {}

    def step(self, action):
        self._t += 1
        if self._t <= self.delay:
            self._frame = self._blank
            return self._frame, 0.0, False, False, {}
        if self._t == self.delay + 1:
            self._frame = self._question
            return self._frame, 0.0, False, False, {}
        reward = 1.0 if int(action) == self._side else 0.0
        return self._frame, reward, True, False, {"success": reward == 1.0}

    def render(self):
        return np.repeat(self._frame[0][:, :, None], 3, axis=2)
