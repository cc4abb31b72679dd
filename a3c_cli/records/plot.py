"""Learning curves: the returns in runs' metrics.jsonl against emulator frames, in one image.

`a3c plot RUN_DIR...` overlays runs (a sweep folder brings all of its runs); the trainer calls
write_curve after each evaluation, so every run directory holds an up-to-date curve.png.
Figures are made without pyplot: no display, no global figure list to leak into, and savefig
renders with Agg.
"""

from __future__ import annotations

import argparse
import textwrap
from itertools import cycle
from pathlib import Path

from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import EngFormatter

from a3c_cli.records.files import atomic_path
from a3c_cli.records.rundir import CURVE, find_runs, hydra_file, read_metrics, run_config
from a3c_cli.system.errors import UsageError

TRAINING_WINDOW = 20  # episodes in the running mean of training returns: single episodes are noisy
LEGEND_ROW_INCHES = 0.22
LABEL_WIDTH = 120  # characters of a run's label per legend line


def plot_runs(run_dirs: list[Path], out: Path, title: str | None = None) -> Path:
    """One colour per run: greedy evaluation returns (mean line, min-max band) and, lighter, the
    running mean of training episode returns, against emulator frames."""
    colours = run_colours(len(run_dirs))
    figure = Figure(figsize=(10, 5.5 + LEGEND_ROW_INCHES * (2 + len(run_dirs))), layout="constrained")
    axes = figure.add_subplot()
    labels = []
    for run_dir, colour in zip(run_dirs, colours):
        train, evals = read_metrics(run_dir)
        draw_training(axes, train, colour)
        draw_evaluations(axes, evals, colour)
        label = run_label(run_dir) + ("" if train or evals else "  (no records yet)")
        labels.append(textwrap.fill(plain(label), LABEL_WIDTH))  # a long command line would run off the figure
    axes.set_xlabel("frames")
    axes.set_ylabel("return (game score)")
    axes.xaxis.set_major_formatter(EngFormatter(sep=""))  # 1.5M, not 1.5 with 1e6 in a corner
    axes.grid(alpha=0.3)
    axes.set_title(plain(title or default_title(run_dirs)))
    style_handles, style_labels = style_key()
    run_handles = [Line2D([], [], color=colour, lw=2) for colour in colours]
    # below the axes, where it covers no curve
    figure.legend(
        style_handles + run_handles, style_labels + labels, loc="outside lower center", frameon=False, fontsize=9
    )
    return save_figure(figure, Path(out))


def write_curve(run_dir: str | Path) -> Path:
    """run_dir/curve.png for this one run."""
    run_dir = Path(run_dir)
    return plot_runs([run_dir], run_dir / CURVE)


SUITE_COLUMNS = 4
ANCHOR_STYLES = ("--", ":", "-.")  # the published anchors of a game, in the order the suite lists them
SUITE_WINDOW = 100  # the window of the figure the field reports: the mean of the last 100 training episodes


def plot_suite(run_dirs: list[Path], rows: list[dict], anchors: list[dict], out: Path) -> Path:
    """`a3c bench learn`'s figure: a panel per game, its training and evaluation returns against
    frames, the greedy score with sticky actions at the budget, a random agent's and the published
    anchors as lines."""
    columns = min(SUITE_COLUMNS, len(run_dirs))
    lines = (len(run_dirs) + columns - 1) // columns
    figure = Figure(figsize=(4.2 * columns, 3.2 * lines + 0.6), layout="constrained")
    for index, (run_dir, row) in enumerate(zip(run_dirs, rows)):
        axes = figure.add_subplot(lines, columns, index + 1)
        train, evals = read_metrics(run_dir)
        frames, means = training_curve(train, SUITE_WINDOW)
        axes.plot(frames, means, color="tab:blue", lw=1.2, label=f"training, last {SUITE_WINDOW}")
        axes.plot(
            [e["frames"] for e in evals],
            [e["eval_return"]["mean"] for e in evals],
            color="tab:orange",
            lw=0,
            marker="o",
            ms=3,
            label="greedy evaluation",
        )
        greedy = row["greedy_sticky"]
        axes.errorbar(
            [row["frames"]],
            [greedy["mean"]],
            yerr=[greedy["std"]],
            color="tab:red",
            marker="s",
            ms=5,
            capsize=3,
            label="greedy, sticky 0.25",
        )
        axes.axhline(row["random_sticky"]["mean"], color="0.5", lw=1, ls="-", label="random")
        for (name, score), style in zip(anchors[index].items(), ANCHOR_STYLES):
            axes.axhline(score, color="0.2", lw=1, ls=style, label=name)
        axes.set_title(plain(row["game"]), fontsize=10)
        axes.xaxis.set_major_formatter(EngFormatter())
        axes.tick_params(labelsize=8)
        axes.grid(alpha=0.3)
        if index == 0:
            axes.legend(fontsize=7, loc="best")
    figure.supxlabel("emulator frames")
    figure.supylabel("game score")
    return save_figure(figure, out)


def draw_training(axes: Axes, train: list[dict], colour) -> None:
    frames, means = training_curve(train)
    axes.plot(frames, means, color=colour, alpha=0.45, lw=1, zorder=1)


def training_curve(train: list[dict], window: int = TRAINING_WINDOW) -> tuple[list[int], list[float]]:
    """At each interval in which episodes ended: its frames and the mean of the last `window`
    episode returns so far."""
    returns: list[float] = []
    frames, means = [], []
    for record in train:
        if record["episode_returns"]:
            returns += record["episode_returns"]
            recent = returns[-window:]
            frames.append(record["frames"])
            means.append(sum(recent) / len(recent))
    return frames, means


def draw_evaluations(axes: Axes, evals: list[dict], colour) -> None:
    frames = [r["frames"] for r in evals]
    stats = [r["eval_return"] for r in evals]
    axes.fill_between(
        frames, [s["min"] for s in stats], [s["max"] for s in stats], color=colour, alpha=0.18, lw=0, zorder=2
    )
    axes.plot(frames, [s["mean"] for s in stats], color=colour, lw=2, marker="o", ms=3.5, zorder=3)


def style_key() -> tuple[list, list[str]]:
    """Legend entries, in grey, that say what the line styles mean: the colours are the runs."""
    evaluation = (Patch(color="0.35", alpha=0.18, lw=0), Line2D([], [], color="0.35", lw=2, marker="o", ms=3.5))
    training = Line2D([], [], color="0.35", alpha=0.45, lw=1)
    return (
        [evaluation, training],
        [
            "greedy evaluation: mean, band from min to max",
            f"training episodes: running mean of the last {TRAINING_WINDOW}",
        ],
    )


def run_colours(count: int) -> list:
    palette = colormaps["tab10" if count <= 10 else "tab20"].colors
    return [colour for colour, _ in zip(cycle(palette), range(count))]


def run_label(run_dir: Path) -> str:
    """The directory's name and the command-line overrides it was trained with."""
    overrides = hydra_file(run_dir, "overrides.yaml") or []
    return " ".join([run_dir.name, *overrides])


def default_title(run_dirs: list[Path]) -> str:
    """The games the runs played, each once."""
    games = dict.fromkeys(filter(None, map(game_name, run_dirs)))
    return ", ".join(games) or "learning curves"


def game_name(run_dir: Path) -> str | None:
    config = run_config(run_dir) or {}
    return config.get("game", {}).get("name")


def plain(text: str) -> str:
    """Text as written: matplotlib reads what stands between two $ as a formula, and fails on
    most of what a command line holds."""
    return text.replace("$", r"\$")


def save_figure(figure: Figure, out: Path) -> Path:
    formats = figure.canvas.get_supported_filetypes()
    kind = out.suffix.lower().lstrip(".")
    if kind not in formats:
        raise UsageError(
            f"cannot write a plot as '{out.suffix or out.name}': use one of {', '.join('.' + f for f in formats)}"
        )
    with atomic_path(out) as tmp:
        figure.savefig(tmp, format=kind, dpi=100)
    return out


def plot_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="a3c plot", description="Overlay the learning curves of runs in one image.")
    parser.add_argument(
        "run_dirs",
        nargs="+",
        type=Path,
        metavar="RUN_DIR",
        help="a run directory (it holds metrics.jsonl) or a folder of runs, such as a sweep",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("curves.png"),
        help="the image to write; its suffix picks the format (default: curves.png)",
    )
    parser.add_argument("--title", help="the plot's title (default: the games' names)")
    args = parser.parse_args(argv)
    print(plot_runs(find_runs(args.run_dirs), args.output, args.title))
    return 0
