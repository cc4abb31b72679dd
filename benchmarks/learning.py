"""The learning tables of benchmarks/README.md from metrics records: one Markdown row per record
(a run's metrics.jsonl or a kept *.metrics.jsonl.gz), with what the run reached and where it
comes from (the command, commit, machine and date of its first line, "kind": "run").

    python benchmarks/learning.py [--within MINUTES] [--score 18] RECORD...

--within counts only what a run had done by that wall time (greedy evaluations done, frames, the
training mean), as the 15-minute Pong benchmark does; the last line counts the records whose mean
greedy return reached SCORE. Rows in the order given; the records read as a3c reads them
(a3c_cli.records.rundir.read_records).
"""

import argparse
import statistics
from pathlib import Path

from a3c_cli.records.rundir import read_records

WINDOW = 40  # training episodes in the mean (the latest 40 at a line)


def name(path: Path) -> str:
    return path.name.removeprefix("learning-").split(".metrics.jsonl")[0]


def training_mean(lines: list[dict], frames: float) -> str:
    """Mean return of the latest WINDOW training episodes at the first line at or past `frames`."""
    returns = []
    for line in lines:
        returns += line["episode_returns"]
        if line["frames"] >= frames and returns:
            return f"{statistics.mean(returns[-WINDOW:]):+.1f}"
    return "-"


def at(record: dict) -> str:
    return f"{record['time'] / 60:.1f} min, {record['frames'] / 1e6:.2f} M"


def row(path: Path, within: float, score: float) -> tuple[str, bool]:
    records = read_records(path)
    run = next((r for r in records if r["kind"] == "run"), {})
    start = next((r for r in records if r["kind"] == "start"), {})
    train = [r for r in records if r["kind"] == "train" and r["time"] <= within]
    evals = [r for r in records if r["kind"] == "eval" and r["time"] <= within]
    first = next((e for e in evals if e["eval_return"]["mean"] >= score), None)
    best = max(evals, key=lambda e: e["eval_return"]["mean"], default=None)
    reached = f"**{at(first)}** ({first['eval_return']['mean']:g})" if first else "not reached"
    best_text = f"{best['eval_return']['mean']:g} ({at(best)})" if best else "-"
    means = " / ".join(training_mean(train, f) for f in (1e6, 2e6, train[-1]["frames"] if train else 0))
    fps = f"{statistics.median(r['fps'] for r in train):,.0f}" if train else "-"
    frames = f"{train[-1]['frames'] / 1e6:.2f} M; {fps}" if train else "-"
    machine = run.get("machine") or {}
    where = (f"`{run.get('commit', '?')}`, {machine.get('cpu', '?')} {machine.get('cores', '?')} cores, "
             f"{machine.get('date', '?')}")
    command = f"`{run['command']}`" if run.get("command") else "?"
    cells = [name(path), reached, best_text, means, frames, f"{start.get('first_update_s', '-')}", command, where]
    return "| " + " | ".join(cells) + " |", first is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("records", nargs="+", type=Path)
    parser.add_argument("--within", type=float, default=None, help="minutes of wall time (default: the whole run)")
    parser.add_argument("--score", type=float, default=18.0)
    args = parser.parse_args()
    within = float("inf") if args.within is None else args.within * 60
    limit = "" if args.within is None else f" within {args.within:g} minutes"
    print(
        f"| record | greedy >= {args.score:g} first{limit} | best greedy{limit} | "
        f"training mean, last {WINDOW} episodes, "
        f"at 1 M / 2 M frames / the last line | frames; frames/s (median training line) | first update, s | command | "
        "commit, machine, date |"
    )
    print("|---|---|---|---|---|---|---|---|")
    reached = 0
    for path in args.records:
        line, hit = row(path, within, args.score)
        print(line)
        reached += hit
    print(f"\nmean greedy return >= {args.score:g}{limit} in {reached} of {len(args.records)} records")


if __name__ == "__main__":
    main()
