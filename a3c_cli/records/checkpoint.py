"""Checkpoints: plain dicts of tensors and builtins, written atomically, loaded with weights_only.

A checkpoint holds the model and optimizer state, the run's counters and entropy bonus weight, the
resolved config (which names the game and its action set) and the evaluation that scored these
weights.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch

from a3c_cli.config.schema import GameConfig, TrainConfig, plain
from a3c_cli.records.files import atomic_path
from a3c_cli.system.errors import UsageError

FORMAT = "a3c-checkpoint"
VERSION = 2  # 2: the model standardizes each frame; a version-1 model read frames / 255


def make_checkpoint(model, optimizer, counters: dict, cfg: TrainConfig, evaluation: dict | None,
                    best_return: float | None, entropy_coef: float) -> dict:
    config = plain(cfg)  # builtins only: weights_only loads them, and every version's reader reads them
    return {
        "format": FORMAT,
        "version": VERSION,
        "game": config["game"]["name"],
        "actions": config["game"]["actions"],
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "counters": dict(counters),
        "entropy_coef": entropy_coef,  # the entropy bonus's weight then (it adapts with entropy_target)
        "evaluation": evaluation,
        "best_return": best_return,
        "config": config,
    }


def save_checkpoint(checkpoint: dict, path: str | Path) -> None:
    """Written to a temporary file, fsynced, then renamed over `path`: a reader sees the old
    checkpoint or the new one, never half of one, whenever the writer dies."""
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)  # in memory first: on a full disk, torch's own writer fails
    with atomic_path(path, durable=True) as tmp:  # with a RuntimeError; a plain write says ENOSPC
        tmp.write_bytes(buffer.getbuffer())


def check_same_game(checkpoint: dict, path: Path, game: GameConfig) -> None:
    """Refuse, in one line, a checkpoint of another game or action set than `game` (whose
    `actions` may still be [] before the emulator is asked, game=retro or ale: compared then)."""
    if checkpoint["game"] != game.name:
        raise UsageError(f"{path} was trained on {checkpoint['game']}, not {game.name}: "
                         f"pass game={checkpoint['game']}, or the checkpoint of a {game.name} run")
    actions = plain(game.actions)  # lists, as the checkpoint keeps them
    if actions and checkpoint["actions"] != actions:
        raise UsageError(
            f"{path} was trained with {len(checkpoint['actions'])} actions {checkpoint['actions']}; "
            f"game.actions here are {len(actions)}: {actions}: use the action set it was trained with"
        )


def trained_max_pool(config: dict) -> bool:
    """Whether a checkpoint's weights learned on the max of each skip's last two frames (its config,
    a plain dict): weights from before game.max_pool existed saw the skip's last frame."""
    return config["game"].get("max_pool", False)


def load_checkpoint(path: str | Path) -> dict:
    """Load safely (no code runs from the file); raise UsageError for anything but our format."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"checkpoint {path} does not exist: train first, or give the path of a .pt file")
    try:
        with warnings.catch_warnings():  # a damaged file also draws torch's pickle-protocol warnings
            warnings.simplefilter("ignore")
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only runs no code: whatever it raises, the file is bad
        # (random bytes raise UnpicklingError, IndexError, KeyError, UnicodeDecodeError, ...)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"checkpoint {path} is damaged or not an a3c checkpoint ({first})") from exc
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise UsageError(f"checkpoint {path} is not an a3c checkpoint")
    if checkpoint.get("version") != VERSION:  # its weights expect other inputs: it would play blind
        raise UsageError(
            f"checkpoint {path} was written by an older a3c (format version {checkpoint.get('version')}, "
            f"this one reads {VERSION}), whose model saw frames differently: train it again"
        )
    return checkpoint
