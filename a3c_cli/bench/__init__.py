"""Benchmarking, outside the training path: `a3c bench` (training throughput against the
emulator's own, memory per process) and `a3c bench learn` (the learning suite and its report).
It uses the layers below; nothing of training imports it."""
