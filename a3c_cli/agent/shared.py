"""The shared agent: what every process of a run reads and updates, made once by the trainer and
handed whole to each worker and the evaluator."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from a3c_cli.agent.entropy import EntropyWeight
from a3c_cli.agent.model import build_model
from a3c_cli.agent.optim import build_optimizer
from a3c_cli.config.schema import TrainConfig


@dataclass(frozen=True)
class SharedAgent:
    """The model's weights, the optimizer's statistics and the entropy bonus's weight, each in
    shared memory: a process it is handed to (pickled into it by multiprocessing, as its pieces
    were) reads and updates the same tensors as every other."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer | None  # None: each worker keeps statistics of its own (optim.shared=false)
    entropy_weight: EntropyWeight

    @classmethod
    def build(cls, cfg: TrainConfig) -> SharedAgent:
        """A fresh agent for `cfg` (its weights drawn from torch's generator: seed it first)."""
        model = build_model(cfg.model, len(cfg.game.actions)).share_memory()
        optimizer = build_optimizer(cfg.optim, model.parameters()) if cfg.optim.shared else None
        entropy_weight = EntropyWeight(cfg.entropy_coef, cfg.entropy_target, len(cfg.game.actions))
        return cls(model, optimizer, entropy_weight)
