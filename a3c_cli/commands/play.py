"""`a3c test`: load a checkpoint, play episodes with it, show and save the scores; watch them in a
window where there is a display, or record them to MP4/GIF."""

from __future__ import annotations

import json
import logging
import os
import statistics
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from a3c_cli.agent.episodes import play_episode
from a3c_cli.agent.model import ActorCritic, trained_model
from a3c_cli.config.schema import RECORD_FORMATS, GameConfig, ModelConfig, TestConfig
from a3c_cli.games.make import PROTOCOL, make_env, prepare_game
from a3c_cli.records.checkpoint import check_same_game, load_checkpoint, trained_max_pool
from a3c_cli.records.rundir import published_best, shipped_agent
from a3c_cli.system.errors import UsageError

log = logging.getLogger("a3c")

SCREEN_HZ = 60  # the retro consoles and the Atari draw 60 frames a second


def has_display() -> bool:
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True  # macOS and Windows always have a desktop to open a window on


def checkpoint_path(cfg: TestConfig) -> Path:
    """checkpoint=, else the best model training published, else the agent a3c ships for the game."""
    if cfg.checkpoint is not None:
        return Path(cfg.checkpoint)
    default = published_best(cfg.checkpoints_dir, cfg.game.name)
    if default.exists():
        return default
    shipped = shipped_agent(cfg.game.name)
    if shipped.exists():
        return shipped
    raise UsageError(f"no checkpoint for {cfg.game.name} at {default}: train one first "
                     f"(a3c train game={cfg.game.name}) or pass checkpoint=PATH")


def shipped_protocol(checkpoint: dict) -> dict:
    """The protocol a shipped agent's score was measured under (agents shipped before it was
    recorded were judged greedily under games.make.PROTOCOL)."""
    return checkpoint["shipped"].get("protocol") or {**PROTOCOL, "policy": "greedy"}


def describe_shipped(checkpoint: dict) -> str:
    """Which shipped agent plays, and the score it was shipped with under its protocol."""
    protocol = shipped_protocol(checkpoint)
    policy = protocol["policy"]
    score = checkpoint["shipped"]["sampled_sticky" if policy == "sample" else "greedy_sticky"]
    random = checkpoint["shipped"].get("random_sticky")
    return (f"no agent of your own for {checkpoint['game']}: playing the one a3c ships, trained for "
            f"{checkpoint['counters']['frames']:,} frames by `a3c bench learn` at {checkpoint['shipped']['commit']}; "
            f"it scored {score['mean']:.1f} over {score['episodes']} games"
            + (f" (a random agent {random['mean']:.1f})" if random else "")
            + f" under this protocol, which it plays now unless told otherwise: {describe_protocol(protocol)}")


def describe_protocol(protocol: dict) -> str:
    named = {"sample": "sampled from the policy", "random": "uniformly random actions"}
    policy = named.get(protocol["policy"], "greedy")
    quiet = protocol["max_steps_without_reward"]
    ends = "whole games" if quiet is None else f"games cut after {quiet} steps without a reward"
    return (f"{policy}, sticky actions {protocol['sticky_prob']} (game.sticky_prob), "
            f"0 to {protocol['noop_max']} no-op steps first (game.noop_max), {ends} (game.max_steps_without_reward)")


def under_protocol(game: GameConfig, protocol: dict, told: list[str]) -> GameConfig:
    """The game as a shipped agent's protocol plays it, but for the keys given on the command line."""
    given = {o.split("=", 1)[0].lstrip("+~") for o in told}
    return replace(game, **{k: v for k, v in protocol.items()
                            if k != "policy" and f"game.{k}" not in given and hasattr(game, k)})  # memory: no noop_max


def check_compatible(checkpoint: dict, path: Path, game: GameConfig, lstm_size: int | None) -> None:
    """Refuse, in one line, a checkpoint that cannot play this game as configured."""
    check_same_game(checkpoint, path, game)
    trained = checkpoint["config"]["model"]["lstm_size"]
    if lstm_size is not None and lstm_size != trained:
        raise UsageError(f"{path} has an LSTM of size {trained}, not lstm_size={lstm_size}: "
                         f"drop lstm_size or pass lstm_size={trained}")


def load_agent(checkpoint: dict, path: Path):
    model = trained_model(checkpoint["config"])
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
    return {
        "mean": statistics.fmean(returns),
        "std": statistics.pstdev(returns),
        "min": min(returns),
        "max": max(returns),
    }


@dataclass
class Agent:
    """What plays: a checkpoint's model (greedy or sampling), or uniformly random actions."""

    policy: str  # greedy | sample | random
    model: ActorCritic | None = None
    path: Path | None = None
    frame_size: int = ModelConfig.frame_size
    trained_frames: int = 0


def choose_agent(cfg: TestConfig, game: GameConfig, told: list[str]) -> tuple[Agent, GameConfig]:
    """What plays, and the game as it plays it (a new config, derived here alone): the frames the
    checkpoint learned on; a shipped agent's, under its score's protocol."""
    if cfg.random:
        return Agent("random"), game
    path = checkpoint_path(cfg)
    checkpoint = load_checkpoint(path)
    check_compatible(checkpoint, path, game, cfg.lstm_size)
    if hasattr(game, "max_pool") and not any(o.startswith("game.max_pool=") for o in told):
        game = replace(game, max_pool=trained_max_pool(checkpoint["config"]))  # the frames it learned on
    protocol = None
    if checkpoint.get("shipped"):
        log.info(describe_shipped(checkpoint))
        protocol = shipped_protocol(checkpoint)
        game = under_protocol(game, protocol, told)
    return Agent(
        policy_of(cfg.sample, game, protocol),
        load_agent(checkpoint, path),
        path,
        checkpoint["config"]["model"]["frame_size"],
        checkpoint["counters"]["frames"],
    ), game


def policy_of(sample: bool | None, game: GameConfig, protocol: dict | None = None) -> str:
    """sample=true or false as told, else a shipped agent's protocol's, else the policy the game's
    evaluations use."""
    if sample is None and protocol is not None:
        sample = protocol["policy"] == "sample"
    if sample is None:
        return game.eval_policy
    return "sample" if sample else "greedy"


def video_formats(cfg: TestConfig, run_dir: Path) -> tuple[list[str], str | None]:
    """The video formats to record and the render mode: a window where asked and possible, else
    frames for the videos (an MP4 when a window was asked for and there is no display)."""
    formats = RECORD_FORMATS[str(cfg.record).lower()]
    window = cfg.render and has_display()
    if cfg.render and not window:
        log.warning("no display here (DISPLAY is not set): recording the episodes to MP4 in %s instead", run_dir)
        formats = formats or ["mp4"]
    return formats, "human" if window else ("rgb_array" if formats else None)


def play(cfg: TestConfig, run_dir: str, told: list[str] = ()) -> dict:
    """Play cfg.episodes episodes; return (and save as results.json) the scores. `told`: the
    command line's overrides, which a shipped agent's protocol leaves as given."""
    run_dir = Path(run_dir)
    agent, game = choose_agent(cfg, prepare_game(cfg.game), list(told))
    formats, render_mode = video_formats(cfg, run_dir)
    torch.manual_seed(cfg.seed)
    env = make_env(game, agent.frame_size, render_mode=render_mode, noop_starts=True)
    env.reset(seed=cfg.seed)
    env.action_space.seed(cfg.seed)
    episodes, videos = [], []
    for i in range(1, cfg.episodes + 1):
        frames = [] if formats else None
        episode = play_episode(env, agent.model, greedy=agent.policy == "greedy", frames=frames)
        episodes.append(episode)
        log.info(
            "episode %d: return %g in %d steps%s",
            i,
            episode["return"],
            episode["length"],
            " (cut by a step limit, not over)" if episode["cut"] else "",
        )
        for fmt in formats:
            videos.append(str(write_episode_video(frames, run_dir / f"episode-{i:02d}.{fmt}", game.frame_skip)))
    env.close()
    results = {
        "game": game.name,
        "checkpoint": str(agent.path.resolve()) if agent.path else None,
        "trained_frames": agent.trained_frames,
        "policy": agent.policy,
        "protocol": {key: getattr(game, key, None) for key in PROTOCOL} | {"policy": agent.policy},
        "episodes": episodes,
        "return": summary([e["return"] for e in episodes]),
        "videos": videos,
    }
    (run_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print_results(results, game.frame_skip, run_dir)
    return results


def print_results(results: dict, frame_skip: int, run_dir: Path) -> None:
    console = Console()
    console.print(results_table(results["game"], results["episodes"], frame_skip))
    stats = results["return"]
    console.print(
        f"return: mean {stats['mean']:.2f}, std {stats['std']:.2f}, min {stats['min']:g}, max {stats['max']:g}"
        f"  ({results['trained_frames']:,} training frames)"
    )
    console.print(f"played: {describe_protocol(results['protocol'])}")
    for video in results["videos"]:
        console.print(f"video: {video}")
    console.print(f"results: {run_dir / 'results.json'}")


def write_episode_video(frames: list, path: Path, frame_skip: int) -> Path:
    from a3c_cli.records.video import write_video

    # One picture per agent step, shown at the game's own speed; small Atari screens are doubled in
    # MP4s (cheap there), GIFs stay at the console's size to stay small.
    scale = 2 if path.suffix == ".mp4" and frames[0].shape[0] < 300 else 1
    return write_video(frames, path, fps=SCREEN_HZ / frame_skip, scale=scale)
