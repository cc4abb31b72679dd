"""The actor-critic network: conv torso -> LSTMCell -> policy logits and state value.

Inputs are (time, environments, ...): a worker steps B environments in lockstep (B = 1 is classic
A3C). One forward pass serves both acting (T = 1) and learning (T = rollout length): the conv
torso and the heads run batched over all T x B frames, only the LSTM steps one time step at a
time, B environments at once. Acting and learning therefore compute exactly the same function of
the same weights.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from a3c_cli.config.schema import ModelConfig, from_record

State = tuple[torch.Tensor, torch.Tensor]
TORSO_CHUNK = 64


def small_torso(channels: int) -> nn.Sequential:
    """Four 3x3 stride-2 convolutions (universe-starter-agent's torso), sized for 42x42 frames.
    ELU in place: a convolution's backward pass needs its input, not its output, so the autograd
    graph a worker keeps over a rollout holds one tensor a layer instead of two (10 MB less per
    worker at 8 environments, measured; the same numbers and speed)."""
    layers: list[nn.Module] = []
    for inputs in (1, channels, channels, channels):
        layers += [nn.Conv2d(inputs, channels, 3, stride=2, padding=1), nn.ELU(inplace=True)]
    return nn.Sequential(*layers, nn.Flatten())


def nature_torso() -> nn.Sequential:
    """The DQN paper's network (Mnih et al. 2015), which the published A2C figures use: 8x8 stride 4,
    4x4 stride 2, 3x3 stride 1, then 512 units; sized for 84x84 frames (one frame here: the LSTM
    holds the past that their four stacked frames show)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 8, stride=4),
        nn.ReLU(inplace=True),
        nn.Conv2d(32, 64, 4, stride=2),
        nn.ReLU(inplace=True),
        nn.Conv2d(64, 64, 3, stride=1),
        nn.ReLU(inplace=True),
        nn.Flatten(),
        nn.LazyLinear(512),
        nn.ReLU(inplace=True),
    )


class ActorCritic(nn.Module):
    def __init__(
        self,
        num_actions: int,
        frame_size: int = 42,
        channels: int = 32,
        lstm_size: int = 256,
        recurrent: bool = True,
        torso: str = "small",
    ):
        super().__init__()
        self.num_actions, self.lstm_size, self.recurrent = num_actions, lstm_size, recurrent
        self.torso = nature_torso() if torso == "nature" else small_torso(channels)
        with torch.no_grad():  # the features the torso hands the core, whatever its layers
            features = self.torso(torch.zeros(1, 1, frame_size, frame_size)).shape[1]
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

    def initial_state(self, batch: int = 1) -> State:
        zeros = torch.zeros(batch, self.lstm_size)
        return zeros, zeros.clone()

    def forward(
        self, frames: torch.Tensor, state: State, starts: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, State]:
        """frames: (T, B, 1, S, S) uint8; state: the LSTM state (h, c), each (B, H), before
        frames[0]; starts: (T, B) float, 1.0 where frames[t, b] is the first frame of an episode,
        so that environment's state is reset to zero there.

        Returns logits (T, B, A), values (T, B) and the state after the last time step."""
        steps, batch = frames.shape[:2]
        # CPU convolutions slow down per frame past ~100 frames a call (measured: 0.21 ms a frame
        # forward and backward up to 96 frames, 0.38 at 160): a call with many frames (a long
        # sequence, or many environments a worker) goes in chunks.
        x = torch.cat([self.torso(standardize(chunk)) for chunk in frames.flatten(0, 1).split(TORSO_CHUNK)])
        if not self.recurrent:
            hidden = F.elu(self.core(x))
        else:
            x = x.view(steps, batch, -1)
            h, c = state
            keep = (1.0 - starts).unsqueeze(-1)
            outputs = []
            for t in range(steps):
                h, c = self.core(x[t], (h * keep[t], c * keep[t]))
                outputs.append(h)
            hidden = torch.cat(outputs)
            state = (h, c)
        logits = self.actor(hidden).view(steps, batch, -1)
        return logits, self.critic(hidden).view(steps, batch), state


def standardize(frames: torch.Tensor) -> torch.Tensor:
    """Each frame to mean 0 and standard deviation 1. A small grayscale frame of an Atari game is
    a flat background with faint objects (Pong: 87 to 157 of 255 after resizing; the ball barely
    shows): scaled to [0, 1] the objects differ from the background by a few hundredths, and
    Pong does not learn in 3.5 M frames. Standardized, they stand out by several units."""
    x = frames.float()
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    std = x.std(dim=(1, 2, 3), keepdim=True)
    return (x - mean) / (std + 1.0)  # + 1 grey level: a blank frame stays finite


def build_model(model: ModelConfig, num_actions: int) -> ActorCritic:
    return ActorCritic(num_actions=num_actions, frame_size=model.frame_size, channels=model.channels,
                       lstm_size=model.lstm_size, recurrent=model.recurrent, torso=model.torso)


def trained_model(config: dict) -> ActorCritic:
    """The network a checkpoint's weights fit, from the config it keeps (a plain dict). A config
    from before model.torso builds the small torso, the only one then (from_record)."""
    return build_model(from_record(ModelConfig, config["model"]), len(config["game"]["actions"]))
