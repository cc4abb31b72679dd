"""`a3c test`: load a checkpoint, play episodes with it, show and save the scores; watch them in a
window where there is a display, or record them to MP4/GIF."""

from __future__ import annotations

import json
import logging
import os
import statistics
import sys
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from a3c_cli.checkpoint import check_same_game, load_checkpoint
from a3c_cli.config import RECORD_FORMATS, ModelConfig
from a3c_cli.errors import UsageError
from a3c_cli.evaluator import play_episode
from a3c_cli.games.make import check_game, make_env, resolve_actions
from a3c_cli.model import build_model

log = logging.getLogger("a3c")

SCREEN_HZ = 60  # the retro consoles and the Atari draw 60 frames a second


def has_display() -> bool:
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True  # macOS and Windows always have a desktop to open a window on


def checkpoint_path(cfg: dict) -> Path:
    if cfg["checkpoint"] is not None:
        return Path(cfg["checkpoint"])
    default = Path(cfg["checkpoints_dir"]) / cfg["game"]["name"] / "best.pt"
    if not default.exists():
        raise UsageError(f"no checkpoint for {cfg['game']['name']} at {default}: train one first "
                         f"(a3c train game={cfg['game']['name']}) or pass checkpoint=PATH")
    return default


def check_compatible(checkpoint: dict, path: Path, game: dict, lstm_size: int | None) -> None:
    """Refuse, in one line, a checkpoint that cannot play this game as configured."""
    check_same_game(checkpoint, path, game)
    trained = checkpoint["config"]["model"]["lstm_size"]
    if lstm_size is not None and lstm_size != trained:
        raise UsageError(f"{path} has an LSTM of size {trained}, not lstm_size={lstm_size}: "
                         f"drop lstm_size or pass lstm_size={trained}")


def load_agent(checkpoint: dict, path: Path):
    model = build_model(checkpoint["config"])
    try:
        model.load_state_dict(checkpoint["model"])
    except RuntimeError as exc:
        raise UsageError(f"{path}: its weights do not fit the model its config describes (damaged?)") from exc
    return model.eval()


def results_table(game: str, episodes: list[dict], frame_skip: int) -> Table:
    table = Table(title=f"{game}: {len(episodes)} episodes")
    for column in ("episode", "return", "length (steps)", "frames"):
        table.add_column(column, justify="right")
    for i, e in enumerate(episodes, 1):
        table.add_row(str(i), f"{e['return']:g}", f"{e['length']:,}", f"{e['length'] * frame_skip:,}")
    return table


def summary(returns: list[float]) -> dict:
    return {"mean": statistics.fmean(returns), "std": statistics.pstdev(returns), "min": min(returns), "max": max(returns)}


def play(cfg: dict, run_dir: str) -> dict:
    """Play cfg["episodes"] episodes; return (and save as results.json) the scores."""
    run_dir = Path(run_dir)
    game = cfg["game"]
    check_game(game)
    game = resolve_actions(game)
    if cfg["random"]:
        path, checkpoint, model = None, None, None
        frame_size, policy, trained_frames = ModelConfig.frame_size, "random", 0
    else:
        path = checkpoint_path(cfg)
        checkpoint = load_checkpoint(path)
        check_compatible(checkpoint, path, game, cfg["lstm_size"])
        model = load_agent(checkpoint, path)
        frame_size, trained_frames = checkpoint["config"]["model"]["frame_size"], checkpoint["counters"]["frames"]
        policy = "sample" if cfg["sample"] else "greedy"

    formats = RECORD_FORMATS[str(cfg["record"]).lower()]
    window = cfg["render"] and has_display()
    if cfg["render"] and not window:
        log.warning("no display here (DISPLAY is not set): recording the episodes to MP4 in %s instead", run_dir)
        formats = formats or ["mp4"]
    render_mode = "human" if window else ("rgb_array" if formats else None)

    torch.manual_seed(cfg["seed"])
    env = make_env(game, frame_size, render_mode=render_mode, noop_starts=True)
    env.reset(seed=cfg["seed"])
    env.action_space.seed(cfg["seed"])
    episodes, videos = [], []
    for i in range(1, cfg["episodes"] + 1):
        frames = [] if formats else None
        episode = play_episode(env, model, greedy=not cfg["sample"], frames=frames)  # model None: random
        episodes.append(episode)
        log.info("episode %d: return %g in %d steps%s", i, episode["return"], episode["length"],
                 " (cut by a step limit, not over)" if episode["cut"] else "")
        for fmt in formats:
            videos.append(str(write_episode_video(frames, run_dir / f"episode-{i:02d}.{fmt}", game["frame_skip"])))
    env.close()

    returns = [e["return"] for e in episodes]
    results = {"game": game["name"], "checkpoint": str(path.resolve()) if path else None, "trained_frames": trained_frames,
               "policy": policy, "episodes": episodes, "return": summary(returns), "videos": videos}
    (run_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    console = Console()
    console.print(results_table(game["name"], episodes, game["frame_skip"]))
    stats = results["return"]
    console.print(f"return: mean {stats['mean']:.2f}, std {stats['std']:.2f}, min {stats['min']:g}, max {stats['max']:g}"
                  f"  ({policy} policy, {trained_frames:,} training frames)")
    for video in videos:
        console.print(f"video: {video}")
    console.print(f"results: {run_dir / 'results.json'}")
    return results


def write_episode_video(frames: list, path: Path, frame_skip: int) -> Path:
    from a3c_cli.video import write_video

    # One picture per agent step, shown at the game's own speed; small Atari screens are doubled in
    # MP4s (cheap there), GIFs stay at the console's size to stay small.
    scale = 2 if path.suffix == ".mp4" and frames[0].shape[0] < 300 else 1
    return write_video(frames, path, fps=SCREEN_HZ / frame_skip, scale=scale)
