"""Where a game's ROM comes from: stable-retro's data folder, ale-py's bundled Atari ROMs, or the user.

Nothing here starts an emulator: stable-retro allows one per process, and the trainer's main
process must stay free of them so workers and later jobs of a sweep can start theirs.
"""

from __future__ import annotations

import logging
from pathlib import Path

import stable_retro as retro

from a3c_cli.errors import UsageError

log = logging.getLogger(__name__)


def system_of(game_id: str) -> str:
    """Airstriker-Genesis-v0 -> Genesis."""
    base = game_id[: -len("-v0")] if game_id.endswith("-v0") else game_id
    return base.rsplit("-", 1)[-1]


def rom_present(game_id: str) -> bool:
    try:
        retro.data.get_romfile_path(game_id)
    except FileNotFoundError:
        return False
    return True


def ale_rom_files() -> list[Path]:
    """The Atari 2600 ROMs that ship with ale-py."""
    import ale_py

    return sorted((Path(ale_py.__file__).parent / "roms").glob("*.bin"))


def import_ale_roms() -> list[str]:
    """Import every ale-py ROM whose hash stable-retro knows; return the games that were missing
    before and are present now."""
    games = [g for g in retro.data.list_games() if system_of(g) == "Atari2600"]
    missing = [g for g in games if not rom_present(g)]
    retro.data.merge(*map(str, ale_rom_files()))
    return [g for g in missing if rom_present(g)]


def ensure_rom(game_id: str) -> None:
    """Make sure the game's ROM is imported, importing ale-py's Atari ROMs if that is enough."""
    if game_id not in retro.data.list_games():
        raise UsageError(f"game.id={game_id}: stable-retro has no such game (ids look like Airstriker-Genesis-v0)")
    if rom_present(game_id):
        return
    system = system_of(game_id)
    if system == "Atari2600":
        imported = import_ale_roms()
        if imported:
            log.info("imported %d Atari 2600 ROMs shipped with ale-py into stable-retro", len(imported))
        if rom_present(game_id):
            return
    raise UsageError(
        f"the ROM of {game_id} ({system}) is not imported: import the ROM file you own with "
        f"`python -m stable_retro.import /path/to/your/roms`"
    )


def check_game(game: dict) -> None:
    """Everything about a retro game that can be checked before any emulator starts."""
    game_id = game["id"]
    ensure_rom(game_id)
    states = retro.data.list_states(game_id)
    if game["state"] is not None and game["state"] not in states:
        raise UsageError(f"game.state={game['state']}: {game_id} has the states {', '.join(states)}")
    buttons = [b for b in retro.data.EMU_INFO[system_of(game_id)]["buttons"] if b]
    for combo in [*game["actions"], game["turbo"]]:
        for button in combo:
            if button not in buttons:
                raise UsageError(f"game.actions: '{button}' is no {system_of(game_id)} button; use {', '.join(buttons)}")
