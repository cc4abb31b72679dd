"""When did a run's greedy evaluations first reach a score? Reads RUN_DIR/metrics.jsonl, or a
records file itself (.jsonl, or .jsonl.gz as kept in benchmarks/results/).

    python benchmarks/time_to_score.py RUN_DIR [SCORE]
    python benchmarks/time_to_score.py benchmarks/results/<record>.metrics.jsonl.gz [SCORE]

Prints each evaluation (wall time, frames, mean, min and max over its episodes) and the first
whose mean reached SCORE (default 18), or the best mean reached if none did."""

import sys
from pathlib import Path

from a3c_cli.records.rundir import read_records


def main() -> int:
    run_dir, target = Path(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 18.0
    records = read_records(run_dir)
    evaluations = [r for r in records if r["kind"] == "eval"]
    if not evaluations:
        print(f"{run_dir}: no evaluation yet")
        return 1
    print(f"{'minutes':>8} {'frames':>11} {'mean':>6} {'min':>6} {'max':>6}")
    for r in evaluations:
        stats = r["eval_return"]
        print(f"{r['time'] / 60:8.1f} {r['frames']:11,} {stats['mean']:6.1f} {stats['min']:6.1f} {stats['max']:6.1f}")
    reached = next((r for r in evaluations if r["eval_return"]["mean"] >= target), None)
    if reached:
        # the final evaluation plays the weights at the run's stop and ends after the time limit
        final = " (the final evaluation, after the run's stop)" if reached.get("final") else ""
        print(f"mean greedy return >= {target:g} first at {reached['time'] / 60:.1f} minutes, "
              f"{reached['frames']:,} frames{final}")
        return 0
    best = max(evaluations, key=lambda r: r["eval_return"]["mean"])
    print(f"not reached: best mean {best['eval_return']['mean']:.1f} at {best['time'] / 60:.1f} minutes, "
          f"{best['frames']:,} frames")
    return 1


if __name__ == "__main__":
    sys.exit(main())
