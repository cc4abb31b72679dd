"""The entropy bonus's weight: shared state that the trainer makes, every worker reads and adapts,
and the checkpoints keep."""

from __future__ import annotations

import math

import torch

ENTROPY_COEF_RATE = 0.01  # an adaptive weight's step per update, in log space, per nat off the target
ENTROPY_COEF_RANGE = (1e-5, 0.1)  # ... kept here: never quite 0, so a policy grown too certain raises it again


class EntropyWeight:
    """The entropy bonus's weight, one number in shared memory that every worker reads (and the
    checkpoints keep). Without a target it stays at entropy_coef. With one (a fraction of a
    uniform policy's entropy, ln(actions)) it adapts after each update, as SAC's temperature
    does (Haarnoja et al. 2018): it falls while the policy is more random than the target and
    rises when it is less. A fixed bonus strong enough to keep an untrained policy exploring keeps
    a trained one nearly uniform: on stable-retro's Pong, whose paddle moves only when the
    joystick is held, the sampled policy then jitters and loses. A target sharpens it there, but
    did not bring the greedy return up, so it is off by default (benchmarks/experiments.md)."""

    def __init__(self, coef: float, target: float | None, actions: int):
        self.shared = torch.tensor([coef], dtype=torch.float64).share_memory_()
        self.target_nats = None if target is None else target * math.log(actions)

    @property
    def value(self) -> float:
        return float(self.shared[0])

    def set(self, coef: float) -> None:
        self.shared[0] = coef

    def adapt(self, entropy: float) -> None:
        """After an update whose policy had `entropy` nats per decision. Workers adapt it without a
        lock: one update's step lost to a race is one step of thousands."""
        if self.target_nats is not None:
            low, high = ENTROPY_COEF_RANGE
            self.set(min(high, max(low, self.value * math.exp(ENTROPY_COEF_RATE * (self.target_nats - entropy)))))
