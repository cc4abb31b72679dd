"""A run's life: `train()` builds the shared agent and hands it to the loop, which starts the
workers and the evaluator from a fork server, watches them, keeps what their events say, shows
progress, and alone decides when the run stops: a limit, a signal, a failure or, in a distributed
run, the ranks' agreement."""
