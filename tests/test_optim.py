"""Shared statistics are one set in shared memory, updated by every process."""

import multiprocessing as mp
from dataclasses import replace

import pytest
import torch
from torch import nn

from a3c_cli.agent.optim import SharedAdam, SharedRMSprop, build_optimizer
from a3c_cli.config.schema import AdamConfig, RMSpropConfig


def step_in_child(model, optimizer, steps):
    torch.set_num_threads(1)
    if optimizer is None:  # private statistics, as a worker with optim.shared=false builds them
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(steps):
        for p in model.parameters():
            p.grad = torch.ones_like(p)
        optimizer.step()


def run_children(model, optimizer, children=2, steps=5):
    ctx = mp.get_context("spawn")
    processes = [ctx.Process(target=step_in_child, args=(model, optimizer, steps)) for _ in range(children)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(60)
        assert p.exitcode == 0


@pytest.mark.slow
def test_shared_adam_statistics_are_updated_by_every_process():
    model = nn.Linear(4, 2).share_memory()
    before = model.weight.detach().clone()
    optimizer = SharedAdam(model.parameters(), lr=1e-3)
    run_children(model, optimizer, children=2, steps=5)
    for p in model.parameters():
        state = optimizer.state[p]
        assert state["step"].item() == 10  # both children's steps, seen by the parent
        assert torch.all(state["exp_avg"] > 0) and torch.all(state["exp_avg_sq"] > 0)
    assert not torch.equal(before, model.weight)


@pytest.mark.slow
def test_shared_rmsprop_statistics_are_updated_by_every_process():
    model = nn.Linear(4, 2).share_memory()
    optimizer = SharedRMSprop(model.parameters(), lr=1e-3)
    run_children(model, optimizer, children=2, steps=3)
    for p in model.parameters():
        assert optimizer.state[p]["step"].item() == 6
        assert torch.all(optimizer.state[p]["square_avg"] > 0)


@pytest.mark.slow
def test_private_statistics_stay_in_each_worker():
    model = nn.Linear(4, 2).share_memory()
    before = model.weight.detach().clone()
    run_children(model, None, children=2, steps=5)
    assert not torch.equal(before, model.weight)  # the weights are shared either way


def test_build_optimizer_follows_the_config():
    model = nn.Linear(4, 2)
    adam = AdamConfig(lr=1e-4, eps=1e-8, weight_decay=0.0, shared=True, beta1=0.9, beta2=0.999, amsgrad=False)
    assert isinstance(build_optimizer(adam, model.parameters()), SharedAdam)
    private = build_optimizer(replace(adam, shared=False), model.parameters())
    assert type(private) is torch.optim.Adam and not private.state
    rms = RMSpropConfig(lr=7e-4, eps=1e-5, weight_decay=0.0, shared=True, alpha=0.99, momentum=0.0, centered=False)
    optimizer = build_optimizer(rms, model.parameters())
    assert isinstance(optimizer, SharedRMSprop)
    assert all(s["square_avg"].is_shared() for s in optimizer.state.values())


def test_shared_statistics_are_made_up_front_in_shared_memory_and_updated_in_place():
    """What lets every worker's step update one set of statistics (the process tests above, in
    this process): each state tensor exists before the first step, lives in shared memory, and a
    step writes into it rather than replacing it."""
    for kind, kwargs in (
        (SharedAdam, {"lr": 1e-3, "amsgrad": True}),
        (SharedRMSprop, {"lr": 1e-3, "momentum": 0.5, "centered": True}),
    ):
        model = nn.Linear(4, 2).share_memory()
        optimizer = kind(model.parameters(), **kwargs)
        storage = {(id(p), k): v.data_ptr() for p, s in optimizer.state.items() for k, v in s.items()}
        assert len(optimizer.state) == 2 and all(v.is_shared() for s in optimizer.state.values() for v in s.values())
        for _ in range(3):
            for p in model.parameters():
                p.grad = torch.ones_like(p)
            optimizer.step()
        assert {(id(p), k): v.data_ptr() for p, s in optimizer.state.items() for k, v in s.items()} == storage, kind
        assert all(s["step"].item() == 3 for s in optimizer.state.values())
        assert all(
            torch.all(s["exp_avg_sq" if kind is SharedAdam else "square_avg"] > 0) for s in optimizer.state.values()
        )
