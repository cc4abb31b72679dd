"""Learning curves from metrics.jsonl files written here in the trainer's format, checked in the
decoded image: each run's colour is drawn as curves, not only as a legend entry."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import a3c
from PIL import Image

from a3c_cli.records.plot import plot_runs, write_curve
from a3c_cli.records.rundir import find_runs, read_metrics
from a3c_cli.system.errors import UsageError

# matplotlib's tab10, the colours of runs 1 to 4
BLUE, ORANGE, GREEN, RED = (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)
LEGEND_ONLY_PIXELS = 200  # a legend's line sample is ~30 px long; a curve across the axes is many times that


def summary(values: list[float]) -> dict:
    if not values:
        return {"mean": None, "min": None, "max": None}
    return {"mean": sum(values) / len(values), "min": min(values), "max": max(values)}


def train_record(frames: int, returns: list[float]) -> dict:
    return {"kind": "train", "time": frames / 2000, "frames": frames, "updates": frames // 80, "episodes": 0,
            "skipped_updates": 0, "fps": 2000.0, "episode_returns": returns,
            "episode_lengths": [400] * len(returns), "episode_return": summary(returns)}


def eval_record(frames: int, returns: list[float], final: bool = False) -> dict:
    return {"kind": "eval", "time": frames / 2000, "frames": frames, "updates": frames // 80, "final": final,
            "eval_returns": returns, "eval_lengths": [424] * len(returns), "eval_return": summary(returns)}


def make_run(run_dir: Path, level: float, *, intervals: int = 40, train: bool = True, evals: bool = True,
             overrides: tuple[str, ...] = (), game: str = "Pong-Atari2600", tail: str = "") -> Path:
    """A run whose returns climb from `level`: a training record every 10k frames (episodes end in
    most), an evaluation every 100k; `tail` is appended raw, as a half-written last line."""
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    (run_dir / ".hydra" / "config.yaml").write_text(f"game:\n  name: {game}\n")
    records = []
    for i in range(1, intervals + 1):
        frames, mean = i * 10_000, level + i / 2
        if train:
            records.append(train_record(frames, [mean - 1, mean + 1] if i % 3 else []))
        if evals and i % 10 == 0:
            records.append(eval_record(frames, [mean + 1, mean + 2, mean + 4], final=i == intervals))
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records) + tail)
    return run_dir


def pixels_of(image: np.ndarray, colour: tuple[int, int, int]) -> int:
    return int((np.abs(image.astype(int) - colour).max(axis=-1) <= 3).sum())


def decoded(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture
def sweep(tmp_path) -> Path:
    """Four runs as a Hydra sweep lays them out: two complete ones with different returns (one
    cut mid-line), one with evaluations only, one that has written nothing yet."""
    root = tmp_path / "multirun"
    make_run(root / "0", level=-20, overrides=("optim.lr=0.0001",), tail='{"kind": "train", "time": 20')
    make_run(root / "1", level=0, overrides=("optim.lr=0.0003",))
    make_run(root / "2", level=10, train=False, overrides=("optim.lr=0.001",))
    make_run(root / "10", level=0, intervals=0, overrides=("optim.lr=0.003",))
    return root


def test_read_metrics_splits_kinds_and_drops_a_half_written_last_line(sweep):
    train, evals = read_metrics(sweep / "0")
    assert len(train) == 40 and len(evals) == 4
    assert [r["frames"] for r in evals] == [100_000, 200_000, 300_000, 400_000]
    assert evals[-1]["final"] and train[2]["episode_return"]["mean"] is None

    assert [len(records) for records in read_metrics(sweep / "2")] == [0, 4]
    assert read_metrics(sweep / "10") == ([], [])


def test_a_bad_line_before_the_last_is_a_damaged_file(tmp_path):
    run = make_run(tmp_path / "run", level=0, intervals=3)
    lines = (run / "metrics.jsonl").read_text().splitlines()
    (run / "metrics.jsonl").write_text("\n".join([lines[0][:20], *lines[1:]]) + "\n")
    with pytest.raises(UsageError, match="line 1 is not a JSON record"):
        read_metrics(run)


def test_plot_runs_draws_every_run_with_records_in_its_colour(sweep, tmp_path):
    runs = find_runs([sweep])
    out = plot_runs(runs, tmp_path / "plots" / "curves.png", title="sweep")

    image = decoded(out)
    assert out == tmp_path / "plots" / "curves.png"
    assert sorted(p.name for p in out.parent.iterdir()) == ["curves.png"]  # no temporary file left
    assert 800 <= image.shape[1] <= 1400 and 500 <= image.shape[0] <= 1000
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50  # not blank: lines, bands, text
    for colour in (BLUE, ORANGE, GREEN):
        assert pixels_of(image, colour) > 3 * LEGEND_ONLY_PIXELS, colour
    assert 0 < pixels_of(image, RED) < LEGEND_ONLY_PIXELS  # the empty run: its legend entry only


def test_sweep_runs_come_in_natural_order_each_once(sweep):
    assert [run.name for run in find_runs([sweep / "1", sweep])] == ["1", "0", "2", "10"]


def test_write_curve_is_the_one_run_in_its_directory_and_cheap(tmp_path):
    run = make_run(tmp_path / "run", level=-5, intervals=3000)
    write_curve(run)  # the first call pays for loading fonts

    started = time.perf_counter()
    path = write_curve(run)
    elapsed = time.perf_counter() - started

    assert path == run / "curve.png"
    assert sorted(p.name for p in run.iterdir()) == [".hydra", "curve.png", "metrics.jsonl"]
    image = decoded(path)
    assert pixels_of(image, BLUE) > 3 * LEGEND_ONLY_PIXELS
    assert pixels_of(image, ORANGE) == 0
    assert elapsed < 2.0  # the trainer calls it after every evaluation (about 0.2 s measured)


def test_unknown_image_format_is_a_usage_error(sweep, tmp_path):
    with pytest.raises(UsageError, match=r"cannot write a plot as '\.txt'"):
        plot_runs([sweep / "1"], tmp_path / "curves.txt")
    assert list(tmp_path.glob("*curves*")) == []


@pytest.mark.slow
def test_cli_plots_a_sweep_and_prints_the_path(sweep, tmp_path):
    result = a3c("plot", str(sweep), "--title", "learning rates", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["curves.png"]  # the default, in the current directory
    assert pixels_of(decoded(tmp_path / "curves.png"), GREEN) > 3 * LEGEND_ONLY_PIXELS


@pytest.mark.slow
def test_cli_without_metrics_is_one_line_and_exit_code_2(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    result = a3c("plot", str(tmp_path / "empty"), "-o", str(tmp_path / "curves.png"))

    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"a3c plot: error: no runs under {tmp_path / 'empty'}: "
                                          "give run directories written by `a3c train`, or a folder of them"]
    assert not (tmp_path / "curves.png").exists()


def test_curve_of_a_game_named_by_its_id(tmp_path):
    """game=ale names the game `${slug:${.id}}` in Hydra's snapshot: the curve's title resolves it,
    and a `$` in a label is drawn as text, not parsed as a formula (it used to fail every curve)."""
    run = make_run(tmp_path / "run", 0.0, overrides=("game=ale", "game.id=ALE/Breakout-v5", "note=$x$"))
    (run / ".hydra" / "config.yaml").write_text("game:\n  id: ALE/Breakout-v5\n  name: ${slug:${.id}}\n")
    from a3c_cli.records.plot import default_title

    assert default_title([run]) == "ALE-Breakout-v5"
    assert write_curve(run).is_file()


def test_the_run_record_names_the_game(tmp_path):
    """A run's first record carries its resolved config, which the curve reads before Hydra's snapshot."""
    run = make_run(tmp_path / "run", 0.0, game="${slug:${.id}}")
    records = (run / "metrics.jsonl").read_text()
    run_record = {"kind": "run", "time": 0.0, "frames": 0, "commit": "abc1234", "machine": {},
                  "config": {"game": {"name": "ALE-Qbert-v5"}}}
    (run / "metrics.jsonl").write_text(json.dumps(run_record) + "\n" + records)
    from a3c_cli.records.plot import default_title

    assert default_title([run]) == "ALE-Qbert-v5"
    assert len(read_metrics(run)[0]) == 40  # the run record is neither a training nor an evaluation line
