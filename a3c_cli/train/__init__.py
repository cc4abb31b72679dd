"""A run's life: `train()` builds the shared model and optimizer and hands them to the loop,
which starts the workers and the evaluator from a fork server, watches them, keeps what their
events say, shows progress and stops at a limit, a signal or a failure."""
