"""A lever's screen against the defaults, the four games together (issue 31's protocol): for each
record (a run's metrics.jsonl or a kept *.metrics.jsonl.gz), the mean return of the last 100
training games at each frame count given, and the policy's entropy there as a fraction of a
uniform policy's; then, for each lever, its figure at the last frame count over the baseline's,
game by game, and their geometric mean.

    python benchmarks/screen.py --baseline default-e7b6476,2e0edb3-10M [--frames 1M,2M,3M] RECORD...

A record's label is its file name less "screen-"/"learning-", the game's name and the suffixes:
screen-lifeloss-e7b6476-Breakout-ALE.metrics.jsonl.gz -> lifeloss-e7b6476. --baseline lists the
labels that stand for the defaults (one per game).
"""

import argparse
import math
import statistics
from collections import defaultdict
from pathlib import Path

from a3c_cli.bench.suite import parse_frames
from a3c_cli.records.rundir import read_records

LAST = 100  # training games in the mean, as the field reports Atari results


def label_of(path: Path, game: str) -> str:
    stem = path.name.split(".metrics.jsonl")[0].removeprefix("screen-").removeprefix("learning-")
    return "-".join(part for part in stem.replace(game, "").split("-") if part)


def figures_at(lines: list[dict], frames: list[int], actions: int) -> list[tuple[float, float] | None]:
    """(mean of the last 100 training games, entropy / ln(actions)) at the first training line at
    or past each frame count; None where the run stopped before it."""
    returns, entropy, out, todo = [], None, [], list(frames)
    for line in (line for line in lines if line["kind"] == "train"):
        returns += line["episode_returns"]
        entropy = line.get("learning", {}).get("entropy", entropy)
        while todo and line["frames"] >= todo[0] and returns:
            out.append((statistics.mean(returns[-LAST:]), entropy / math.log(actions) if entropy else math.nan))
            todo.pop(0)
    return out + [None] * len(todo)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", required=True, help="labels of the defaults' records, comma-separated")
    parser.add_argument("--frames", default="1M,2M,3M")
    parser.add_argument("records", nargs="+", type=Path)
    args = parser.parse_args()
    frames = [parse_frames(f) for f in args.frames.split(",")]
    baselines = set(args.baseline.split(","))
    table: dict[str, dict[str, list]] = defaultdict(dict)  # label -> game -> figures
    print(f"| lever | game | {' | '.join(f'last {LAST} at {f / 1e6:g} M' for f in frames)} | entropy / uniform |")
    print(f"|---|---|{'---|' * len(frames)}---|")
    for path in args.records:
        lines = read_records(path)
        game = lines[0]["config"]["game"]
        label = label_of(path, game["name"])
        figures = table["defaults" if label in baselines else label][game["name"]] = figures_at(
            lines, frames, len(game["actions"]))
        means = " | ".join("-" if f is None else f"{f[0]:.1f}" for f in figures)
        last = figures[-1]
        print(f"| {label} | {game['name']} | {means} | {'-' if last is None else f'{last[1]:.2f}'} |")
    defaults = table.pop("defaults", {})
    for label, games in table.items():
        ratios = []
        for game, figures in sorted(games.items()):
            base = defaults.get(game, [None])[-1]
            if base and figures[-1] and base[0] > 0:
                ratios.append(figures[-1][0] / base[0])
                print(f"{label}: {game} {figures[-1][0]:.1f} against {base[0]:.1f} ({ratios[-1]:.2f}x)")
        if ratios and all(r > 0 for r in ratios):
            mean = math.exp(statistics.mean(map(math.log, ratios)))
            print(f"{label}: geometric mean over {len(ratios)} games {mean:.2f}x")


if __name__ == "__main__":
    main()
