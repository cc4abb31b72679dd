"""The actor-critic network: conv torso -> LSTMCell -> policy logits and state value.

One forward pass serves both acting (T=1, one frame) and learning (T=rollout length): the conv
torso and the heads run batched over time, only the LSTM steps one frame at a time. Acting and
learning therefore compute exactly the same function of the same weights.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

State = tuple[torch.Tensor, torch.Tensor]


def conv_output_size(size: int, layers: int = 4) -> int:
    for _ in range(layers):
        size = (size - 1) // 2 + 1  # 3x3 kernel, stride 2, padding 1
    return size


class ActorCritic(nn.Module):
    def __init__(self, num_actions: int, frame_size: int = 42, channels: int = 32, lstm_size: int = 256, recurrent: bool = True):
        super().__init__()
        self.num_actions, self.lstm_size, self.recurrent = num_actions, lstm_size, recurrent
        self.torso = nn.Sequential(
            nn.Conv2d(1, channels, 3, stride=2, padding=1), nn.ELU(),
            nn.Conv2d(channels, channels, 3, stride=2, padding=1), nn.ELU(),
            nn.Conv2d(channels, channels, 3, stride=2, padding=1), nn.ELU(),
            nn.Conv2d(channels, channels, 3, stride=2, padding=1), nn.ELU(),
            nn.Flatten(),
        )
        features = channels * conv_output_size(frame_size) ** 2
        if recurrent:
            self.core = nn.LSTMCell(features, lstm_size)
        else:
            self.core = nn.Linear(features, lstm_size)
        self.actor = nn.Linear(lstm_size, num_actions)
        self.critic = nn.Linear(lstm_size, 1)
        self._init_weights()

    def _init_weights(self) -> None:
        # Small policy logits start the agent near-uniform; the LSTM's biases start at zero.
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.orthogonal_(module.weight, nn.init.calculate_gain("relu"))
                nn.init.zeros_(module.bias)
        nn.init.orthogonal_(self.actor.weight, 0.01)
        nn.init.orthogonal_(self.critic.weight, 1.0)
        if self.recurrent:
            nn.init.zeros_(self.core.bias_ih)
            nn.init.zeros_(self.core.bias_hh)

    def initial_state(self) -> State:
        zeros = torch.zeros(1, self.lstm_size)
        return zeros, zeros.clone()

    def forward(self, frames: torch.Tensor, state: State, starts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, State]:
        """frames: (T, 1, S, S) uint8; state: the LSTM state before frames[0]; starts: (T,) float,
        1.0 where frames[t] is the first frame of an episode, so the state is reset to zero there.

        Returns logits (T, A), values (T,) and the state after the last frame."""
        x = self.torso(frames.float() / 255.0)
        if not self.recurrent:
            hidden = F.elu(self.core(x))
            return self.actor(hidden), self.critic(hidden).squeeze(-1), state
        h, c = state
        keep = (1.0 - starts).unsqueeze(-1)
        outputs = []
        for t in range(x.shape[0]):
            h, c = self.core(x[t : t + 1], (h * keep[t], c * keep[t]))
            outputs.append(h)
        hidden = torch.cat(outputs)
        return self.actor(hidden), self.critic(hidden).squeeze(-1), (h, c)


def build_model(cfg: dict) -> ActorCritic:
    model = cfg["model"]
    return ActorCritic(
        num_actions=len(cfg["game"]["actions"]),
        frame_size=model["frame_size"],
        channels=model["channels"],
        lstm_size=model["lstm_size"],
        recurrent=model["recurrent"],
    )
