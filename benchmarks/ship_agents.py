"""Ship the agents of a finished `a3c bench learn` suite: each game's weights at the budget become
a3c_cli/agents/<game>.pt, which `a3c test game=<game>` plays when the user has trained none, if
they beat the random agent under the protocol (with the game's own policy: greedy or sampled).

    python benchmarks/ship_agents.py outputs/bench-learn/<time> [GAME ...]
"""

import argparse
import json
from pathlib import Path

from a3c_cli.bench.suite_report import ROW, judged, judging_policy, ship_agent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("suite", type=Path)
    parser.add_argument("games", nargs="*", help="default: every game of the suite with a row")
    args = parser.parse_args()
    games = args.games or [row.parent.name for row in sorted(args.suite.glob(f"*/{ROW}"))]
    for game in games:
        row = json.loads((args.suite / game / ROW).read_text())
        score, random, policy = judged(row)["mean"], row["random_sticky"]["mean"], judging_policy(row)
        if score <= random:
            print(f"{game}: not shipped: {policy} with sticky actions {score:.1f}, random {random:.1f}")
            continue
        path = ship_agent(args.suite / game, row)
        print(f"{path}: {game}, {row['frames']:,} frames, {policy} with sticky actions {score:.1f}, "
              f"random {random:.1f}")


if __name__ == "__main__":
    main()
