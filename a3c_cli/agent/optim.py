"""Shared Adam and shared RMSprop: PyTorch's own update rules, with their statistics created up
front and moved to shared memory before the workers start, so every worker's step reads and
writes the same moments (the A3C paper's shared RMSprop). With `optim.shared=false` each worker
builds a plain optimizer of its own over the shared parameters instead.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from a3c_cli.config.schema import OptimConfig


def _scalar_step() -> torch.Tensor:
    # torch keeps `step` as a float32 CPU tensor and increments it in place: sharing it works.
    return torch.zeros((), dtype=torch.float32)


class _SharedStatistics:
    """Mixin: fill `self.state` for every parameter now (torch would do it lazily, inside each
    worker's private memory) and move every state tensor to shared memory."""

    def _share_state(self) -> None:
        for group in self.param_groups:
            for param in group["params"]:
                self.state[param] = self.initial_state(param, group)
        self.share_memory()

    def share_memory(self) -> None:
        """Move every state tensor to shared memory (again after load_state_dict, which copies)."""
        for state in self.state.values():
            for value in state.values():
                if torch.is_tensor(value):
                    value.share_memory_()


class SharedAdam(_SharedStatistics, torch.optim.Adam):
    def __init__(self, params: Iterable[torch.nn.Parameter], **kwargs):
        super().__init__(params, **kwargs)
        self._share_state()

    @staticmethod
    def initial_state(param: torch.Tensor, group: dict) -> dict:
        state = {"step": _scalar_step(), "exp_avg": torch.zeros_like(param), "exp_avg_sq": torch.zeros_like(param)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = torch.zeros_like(param)
        return state


class SharedRMSprop(_SharedStatistics, torch.optim.RMSprop):
    def __init__(self, params: Iterable[torch.nn.Parameter], **kwargs):
        super().__init__(params, **kwargs)
        self._share_state()

    @staticmethod
    def initial_state(param: torch.Tensor, group: dict) -> dict:
        state = {"step": _scalar_step(), "square_avg": torch.zeros_like(param)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = torch.zeros_like(param)
        if group["centered"]:
            state["grad_avg"] = torch.zeros_like(param)
        return state


def build_optimizer(optim: OptimConfig, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The optimizer the config asks for: shared (created once, before the workers) or private."""
    common = {"lr": optim.lr, "eps": optim.eps, "weight_decay": optim.weight_decay}
    if optim.name == "adam":
        kind = SharedAdam if optim.shared else torch.optim.Adam
        return kind(params, betas=(optim.beta1, optim.beta2), amsgrad=optim.amsgrad, **common)
    kind = SharedRMSprop if optim.shared else torch.optim.RMSprop
    return kind(params, alpha=optim.alpha, momentum=optim.momentum, centered=optim.centered, **common)
