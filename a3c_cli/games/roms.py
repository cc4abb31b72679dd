"""Where a game's ROM comes from: stable-retro's data folder, ale-py's bundled Atari ROMs, or the user.

Nothing here starts an emulator: stable-retro allows one per process, and the trainer's main
process must stay free of them so workers and later jobs of a sweep can start theirs.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import stable_retro as retro

from a3c_cli.config.schema import GameConfig
from a3c_cli.system.errors import UsageError

log = logging.getLogger(__name__)

# sha1 -> (game id, ROM extension, data folder): what retro.data.get_known_hashes() returns
KnownHashes = Mapping[str, tuple[str, str, str]]

# Backends whose configs need no import: memory draws its own frames, ale-py ships its ROMs.
NEEDS_NO_IMPORT = ("memory", "ale")


def system_of(game_id: str) -> str:
    """Airstriker-Genesis-v0 -> Genesis."""
    return name_of(game_id).rsplit("-", 1)[-1]


def name_of(game_id: str) -> str:
    """Airstriker-Genesis-v0 -> Airstriker-Genesis: the name of its config file."""
    return game_id[: -len("-v0")] if game_id.endswith("-v0") else game_id


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


@dataclass
class ImportedRom:
    game: str  # stable-retro's game id
    source: str  # the file it came from; inside a zip: archive.zip/inner/file
    already_present: bool  # the same ROM was there before: nothing was written


@dataclass
class ImportReport:
    imported: list[ImportedRom] = field(default_factory=list)
    unrecognised: list[str] = field(default_factory=list)  # files whose hash stable-retro does not know


def import_roms(paths: list[str], known_hashes: KnownHashes | None = None) -> ImportReport:
    """Import the ROMs among files, folders (walked recursively) and zip files (nested too), matched
    by stable-retro's known hashes and written as its `import_path` script does: `rom<ext>` in
    `<data folder>/<game>/`, and the `original_rom_name` of the game's metadata.json when it has one.

    A zip whose own hash is known (an Arcade set) is imported whole, without looking inside.
    known_hashes defaults to retro.data.get_known_hashes(); tests pass one aimed at a tmp folder.
    """
    for path in paths:  # all of them first, so a typo imports nothing
        if not os.path.exists(path):
            raise UsageError(f"{path}: no such file or folder")
    known = retro.data.get_known_hashes() if known_hashes is None else known_hashes
    report = ImportReport()
    for path in paths:
        for file in _files_under(path):
            with open(file, "rb") as f:
                _import_file(file, f, known, report)
    return report


def _files_under(path: str) -> list[str]:
    if not os.path.isdir(path):
        return [path]
    files = []
    for root, dirs, names in os.walk(path):
        dirs.sort()  # a stable order, for a report that reads the same every time
        files += [os.path.join(root, name) for name in sorted(names)]
    return files


def _import_file(source: str, f: BinaryIO, known: KnownHashes, report: ImportReport) -> None:
    if _import_if_known(source, f, known, report):
        return
    if not source.lower().endswith(".zip"):
        report.unrecognised.append(source)
        return
    f.seek(0)
    try:
        with zipfile.ZipFile(f) as archive:
            for entry in archive.infolist():
                if not entry.is_dir():
                    with archive.open(entry) as inner:
                        _import_file(f"{source}/{entry.filename}", inner, known, report)
    except zipfile.BadZipFile:
        report.unrecognised.append(source)


def _import_if_known(source: str, f: BinaryIO, known: KnownHashes, report: ImportReport) -> bool:
    try:
        data, sha1 = retro.data.groom_rom(os.path.basename(source), f)  # the name says .nes/.smd
    except (OSError, ValueError):  # unreadable, or bigger than any ROM
        return False
    if sha1 not in known:
        return False
    game, ext, data_folder = known[sha1]
    game_dir = Path(data_folder) / game
    already_present = not _write_if_changed(game_dir / f"rom{ext}", data)
    original_name = _original_rom_name(game_dir)
    if original_name:
        _write_if_changed(game_dir / original_name, data)
    report.imported.append(ImportedRom(game, source, already_present))
    return True


def _write_if_changed(path: Path, data: bytes) -> bool:
    """Write unless the file already holds these bytes (a running emulator may be reading it)."""
    if path.is_file() and path.read_bytes() == data:
        return False
    path.write_bytes(data)
    return True


def _original_rom_name(game_dir: Path) -> str | None:
    """The file name some cores (FBNeo) load the ROM by, from the game's metadata.json."""
    try:
        return json.loads((game_dir / "metadata.json").read_text()).get("original_rom_name")
    except (OSError, json.JSONDecodeError):
        return None


def import_ale_roms() -> list[str]:
    """Import every ale-py ROM whose hash stable-retro knows; return the games that were missing
    before and are present now."""
    games = [g for g in retro.data.list_games() if system_of(g) == "Atari2600"]
    missing = [g for g in games if not rom_present(g)]
    import_roms([str(p) for p in ale_rom_files()])
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
        f"`a3c roms import /path/to/rom-or-folder`"
    )


def check_retro_game(game: GameConfig) -> None:
    """Everything about a retro game that can be checked before any emulator starts."""
    game_id = game.id
    ensure_rom(game_id)
    states = retro.data.list_states(game_id)
    if game.state is not None and game.state not in states:
        raise UsageError(f"game.state={game.state}: {game_id} has the states {', '.join(states)}")
    scenarios = retro.data.list_scenarios(game_id)
    if game.scenario is not None and game.scenario not in scenarios:
        raise UsageError(f"game.scenario={game.scenario}: {game_id} has the scenarios {', '.join(scenarios)}")
    buttons = [b for b in retro.data.EMU_INFO[system_of(game_id)]["buttons"] if b]
    for combo in [*game.actions, game.turbo]:
        for button in combo:
            if button not in buttons:
                names = ", ".join(buttons)
                raise UsageError(f"game.actions: '{button}' is no {system_of(game_id)} button; use {names}")
    stop = getattr(game, "end_stop", None)
    if stop is not None and stop.button not in buttons:
        raise UsageError(
            f"game.end_stop.button={stop.button}: no {system_of(game_id)} button; use {', '.join(buttons)}"
        )
