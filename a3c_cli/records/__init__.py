"""What a run leaves on disk and how it is read back: the run directory's layout, metrics.jsonl,
TensorBoard and the log, checkpoints and resuming from them, learning curves, videos, provenance
(commit and machine), and atomic file writes."""
