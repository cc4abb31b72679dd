"""The agent: the network (conv torso -> LSTM -> policy and value), the shared optimizers, the
state every worker shares (the shared agent: model, optimizer and entropy weight as one object;
the run's counters), the worker (A3C's rollout and update) and greedy episodes played with a
model."""
