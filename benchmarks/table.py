"""The throughput table of benchmarks/README.md from `a3c bench` records (bench.json), one row each,
with the command, commit, machine and date the record carries.

    python benchmarks/table.py benchmarks/results/bench-*.json
    python benchmarks/table.py outputs/bench/*/*/bench.json

Standard library only; rows in the order given.
"""

import json
import sys


def pss(rows: list[dict], prefix: str) -> str:
    values = [r["pss_mb"] for r in rows if r["process"].startswith(prefix)]
    return f"{max(values):.0f}" if values else "-"


def command(b: dict) -> str:
    """What wrote the record (older records lack the key: their game, workers, envs and seconds say it)."""
    return b.get("command") or (f"a3c bench game={b['game']} workers={b['workers']} "
                                f"envs_per_worker={b['envs_per_worker']} seconds={b['seconds']:g}")


def main() -> None:
    print("| game | envs per worker | emulator limit, frames/s | training, frames/s | ratio | worker PSS, MB | "
          "emulator process PSS, MB | evaluator PSS, MB | trainer PSS, MB | first update, s | command | "
          "commit, machine, date |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for path in sys.argv[1:]:
        with open(path, encoding="utf-8") as file:
            b = json.load(file)
        t, memory, m = b["training"], b["training"]["memory"], b.get("machine") or {}
        print(
            f"| {b['game']} | {b['envs_per_worker']} | {b['emulator']['frames_per_s']:,} | {t['frames_per_s']:,} | "
            f"{b['ratio']:.0%} | {pss(memory, 'worker')} | {pss(memory, 'emulator of')} | {pss(memory, 'evaluator')} | "
            f"{pss(memory, 'trainer')} | {t['first_update_s']} | `{command(b)}` | "
            f"`{m.get('commit')}`, {m.get('cpu')} {m.get('cores')} cores, {m.get('date')} |"
        )


if __name__ == "__main__":
    main()
