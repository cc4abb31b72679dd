"""The throughput table of RESULTS.md from `a3c bench` figures.

    python benchmarks/table.py outputs/bench/*/*/bench.json
"""

import json
import sys


def pss(rows: list[dict], prefix: str) -> str:
    values = [r["pss_mb"] for r in rows if r["process"].startswith(prefix)]
    return f"{max(values):.0f}" if values else "-"


def main() -> None:
    print("| game | envs per worker | emulator limit, frames/s | training, frames/s | ratio | worker PSS, MB | "
          "emulator process PSS, MB | evaluator PSS, MB | trainer PSS, MB | first update, s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for path in sys.argv[1:]:
        b = json.load(open(path))
        t, memory = b["training"], b["training"]["memory"]
        print(f"| {b['game']} | {b['envs_per_worker']} | {b['emulator']['frames_per_s']:,} | {t['frames_per_s']:,} | "
              f"{b['ratio']:.0%} | {pss(memory, 'worker')} | {pss(memory, 'emulator of')} | {pss(memory, 'evaluator')} | "
              f"{pss(memory, 'trainer')} | {t['first_update_s']} |")


if __name__ == "__main__":
    main()
