"""The figures of `a3c bench learn`: each game's row from its run's records, the published
anchors beside them, and the report (learn.json, learn.md, learn.png, a table on the terminal)."""

from __future__ import annotations

import statistics
from pathlib import Path

from a3c_cli.games.make import PROTOCOL
from a3c_cli.records.files import atomic_path, read_json, write_json
from a3c_cli.records.rundir import hydra_file, read_records

ROW = "row.json"  # a finished game's figures, in its run directory

# Published whole-game returns (the issue that set up this suite quotes them with their sources).
# At 10 M frames: OpenAI baselines' learning curves, NoFrameskip-v4, mean of 6 seeds, read off
# the curves. At 40 M frames: the mean of the last 100 training episodes.
ANCHORS = {
    10_000_000: {
        "A2C (baselines)": {
            "Pong": -12,
            "Breakout": 34,
            "BeamRider": 840,
            "Qbert": 810,
            "Seaquest": 780,
            "SpaceInvaders": 330,
        },
        "PPO2 (baselines)": {
            "Pong": 17,
            "Breakout": 73,
            "BeamRider": 850,
            "Qbert": 4500,
            "Seaquest": 960,
            "SpaceInvaders": 490,
        },
    },
    40_000_000: {
        "A2C (SB3 zoo)": {
            "Pong": 17.3,
            "Breakout": 280,
            "BeamRider": 2890,
            "Qbert": 3882,
            "Seaquest": 1722,
            "SpaceInvaders": 627,
        },
        "PPO (SB3 zoo)": {
            "Pong": 21.0,
            "Breakout": 398,
            "BeamRider": 3397,
            "Qbert": 15627,
            "Seaquest": 1784,
            "SpaceInvaders": 960,
        },
        "PPO-LSTM (cleanRL)": {"Pong": 19.8, "Breakout": 113, "BeamRider": 1299},
    },
}


def game_row(run_dir: Path, game: str) -> dict:
    """A finished game's figures, from its run's own records; the commit and machine are those
    its training ran on (several commits where it went on after an interruption)."""
    records = read_records(run_dir)
    train = [r for r in records if r["kind"] == "train"]
    evals = [r for r in records if r["kind"] == "eval"]
    runs = [r for r in records if r["kind"] == "run"]
    returns = [r for record in train for r in record["episode_returns"]]
    last = train[-1]
    final = next(e for e in reversed(evals) if e.get("final"))
    wall_s = max(last["time"], final["time"])
    greedy = read_json(run_dir / "greedy-sticky" / "results.json")
    sampled = run_dir / "sampled-sticky" / "results.json"
    random = read_json(run_dir / "random-sticky" / "results.json")
    return {
        "game": game,
        "frames": final["frames"],
        "updates": final["updates"],
        "train_last100": statistics.fmean(returns[-100:]) if returns else None,
        "train_episodes": len(returns),
        "greedy_sticky": episodes_summary(greedy),
        "sampled_sticky": episodes_summary(read_json(sampled)) if sampled.is_file() else None,
        "random_sticky": episodes_summary(random),
        "protocol": PROTOCOL | {"policy": runs[0]["config"]["game"].get("eval_policy", "greedy") if runs else "greedy"},
        "best_eval_during_training": max(e["eval_return"]["mean"] for e in evals),
        "fps": round(final["frames"] / wall_s),
        "wall_s": round(wall_s, 1),
        "commit": "+".join(dict.fromkeys(str(r["commit"]) for r in runs)) or None,
        "machine": runs[0]["machine"] if runs else None,
        "overrides": hydra_file(run_dir, "overrides.yaml"),
    }


def episodes_summary(results: dict) -> dict:
    returns = [e["return"] for e in results["episodes"]]
    return {
        "episodes": len(returns),
        **{k: round(v, 2) for k, v in results["return"].items()},
        "cut": sum(e["cut"] for e in results["episodes"]),
    }


def anchor_key(game: str) -> str:
    """Breakout-ALE -> Breakout: the name the published tables use."""
    return game.split("-")[0]


def anchors_for(frames: int) -> dict:
    return ANCHORS.get(frames, {})


def game_anchors(game: str, frames: int) -> dict:
    """The published scores of one game at this budget: {anchor's name: score}."""
    scores = {name: table.get(anchor_key(game)) for name, table in anchors_for(frames).items()}
    return {name: score for name, score in scores.items() if score is not None}


def number(value) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}"


def judging_policy(row: dict) -> str:
    """The policy a row's agent is judged (and shipped) by: its game's eval_policy (rows from before
    it existed: greedy)."""
    return row.get("protocol", {}).get("policy", "greedy")


def judged(row: dict) -> dict:
    """The protocol score a row's agent is judged (and shipped) by: its game's policy's."""
    return row["sampled_sticky" if judging_policy(row) == "sample" else "greedy_sticky"]


def spread(score: dict | None) -> str:
    return "-" if score is None else f"{number(score['mean'])} ± {number(score['std'])} ({score['episodes']})"


def format_row(row: dict, frames: int) -> str:
    g, s, r = row["greedy_sticky"], row.get("sampled_sticky"), row["random_sticky"]
    return (
        f"training (last 100) {number(row['train_last100'])}, with sticky actions: greedy {number(g['mean'])}, "
        f"sampled {number(s['mean']) if s else '-'}, random {number(r['mean'])}; "
        f"{row['fps']:,} frames/s, {row['wall_s'] / 60:.1f} min"
    )


def table_rows(rows: list[dict], frames: int) -> tuple[list[str], list[list[str]]]:
    anchors = anchors_for(frames)
    header = [
        "game",
        "frames",
        "training, last 100",
        "greedy, sticky 0.25",
        "sampled, sticky 0.25",
        "random, sticky 0.25",
        *anchors,
        "frames/s",
        "wall, min",
        "commit",
    ]
    body = []
    for row in rows:
        body.append(
            [
                row["game"],
                f"{row['frames'] / 1e6:.2f} M",
                number(row["train_last100"]),
                spread(row["greedy_sticky"]),
                spread(row.get("sampled_sticky")),
                number(row["random_sticky"]["mean"]),
                *[number(a.get(anchor_key(row["game"]))) for a in anchors.values()],
                f"{row['fps']:,}",
                f"{row['wall_s'] / 60:.1f}",
                row["commit"] or "-",
            ]
        )
    return header, body


def write_report(suite_dir: Path, games: list[str], settings: dict) -> None:
    """learn.json, learn.md and learn.png from the rows written so far; the table on the terminal."""
    frames = int(settings["frames"])
    rows = [read_json(suite_dir / g / ROW) for g in games if (suite_dir / g / ROW).is_file()]
    report = {"settings": settings, "anchors": anchors_for(frames), "rows": rows}
    write_json(suite_dir / "learn.json", report)
    with atomic_path(suite_dir / "learn.md") as tmp:
        tmp.write_text(markdown(report), encoding="utf-8")
    header, body = table_rows(rows, frames)
    print_table(header, body, f"a3c bench learn: {len(rows)} of {len(games)} games at {frames:,} frames")
    if rows:
        from a3c_cli.records.plot import plot_suite

        plot_suite([records_of(suite_dir / r["game"]) for r in rows], rows,
                   [game_anchors(r["game"], frames) for r in rows], suite_dir / "learn.png")
    print(f"written: {suite_dir / 'learn.json'}, learn.md, learn.png")


def records_of(run_dir: Path) -> Path:
    """A game's run directory, or the gzipped records of a row taken from the committed ones."""
    kept = run_dir / "metrics.jsonl.gz"
    return kept if kept.is_file() and not (run_dir / "metrics.jsonl").is_file() else run_dir


def markdown(report: dict) -> str:
    """learn.md: a caption (budget, workers, seed, machine, date) and the table of learn.json."""
    settings, rows = report["settings"], report["rows"]
    frames = int(settings["frames"])
    header, body = table_rows(rows, frames)
    machines = sorted({f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores, {m.get('date', '?')}"
                       for m in (row.get("machine") or {} for row in rows)}) or ["?"]
    caption = (f"Learning at {frames:,} frames, {settings['workers']} workers a game, seed {settings['seed']}; "
               f"{'; '.join(machines)}.")
    lines = [caption, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(cells) + " |" for cells in body]) + "\n"


def print_table(header: list[str], body: list[list[str]], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for i, column in enumerate(header):
        table.add_column(column, justify="left" if i == 0 else "right")
    for cells in body:
        table.add_row(*cells)
    Console().print(table)


def ship_agent(run_dir: Path, row: dict, path: Path | None = None) -> Path:
    """A game's weights at the budget as the agent a3c ships for it (by default
    a3c_cli/agents/<game>.pt): the checkpoint without its optimizer state, with the figures it was
    judged by."""
    from a3c_cli.records.checkpoint import load_checkpoint, save_checkpoint
    from a3c_cli.records.rundir import latest_checkpoint, shipped_agent

    checkpoint = load_checkpoint(latest_checkpoint(run_dir))
    kept = ("greedy_sticky", "sampled_sticky", "random_sticky", "protocol", "train_last100", "frames", "commit",
            "machine")
    shipped = {key: row.get(key) for key in kept}
    path = path or shipped_agent(row["game"])
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint({**checkpoint, "optimizer": None, "shipped": shipped}, path)
    return path


def kept_report(rows: list[dict]) -> dict:
    """A report, as learn.json holds, of rows kept in benchmarks/results/learn/ (one budget)."""
    settings = [{key: row["config"][key] for key in ("max_frames", "workers", "seed")} for row in rows]
    if any(s != settings[0] for s in settings):
        raise SystemExit(f"rows of different budgets, workers or seeds: {sorted(map(str, settings))}")
    frames = settings[0].pop("max_frames")
    return {"settings": {"frames": frames, **settings[0]}, "anchors": anchors_for(frames), "rows": rows}


if __name__ == "__main__":  # python -m a3c_cli.bench.suite_report learn.json | ROW.json...: the table again
    import sys

    records = [read_json(Path(path)) for path in sys.argv[1:]]
    print(markdown(records[0] if "rows" in records[0] else kept_report(records)), end="")

