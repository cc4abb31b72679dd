"""`a3c games` lists the games one can train on; `a3c roms import` brings in the ROMs they need.

Both are argparse commands: the CLI hands them argv and exits with the code they return; a
UsageError they raise becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import stable_retro as retro
from omegaconf import OmegaConf
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from a3c_cli.config.schema import CONFIG_DIR
from a3c_cli.games.roms import (
    NEEDS_NO_IMPORT,
    ImportReport,
    ale_rom_files,
    import_roms,
    name_of,
    rom_present,
    system_of,
)
from a3c_cli.system.errors import UsageError

IMPORT_HINT = "import ROMs: a3c roms import PATH (yours), a3c roms import --atari (ale-py's)"
STATES_SHOWN = 3  # states listed by name; the count says how many more there are


def games_command(argv: list[str]) -> int:
    """List stable-retro's games and the config files in conf/game, configured games first.

    Exit code 0, also when nothing matches ("no game matches 'xyz'"): an empty listing is an
    answer, not an error.
    """
    parser = argparse.ArgumentParser(prog="a3c games", description=games_command.__doc__.splitlines()[0])
    parser.add_argument(
        "filter", nargs="?", metavar="FILTER", help="part of a game's name or system, any case (sonic, atari2600)"
    )
    parser.add_argument("--present", action="store_true", help="only games whose ROM is present")
    parser.add_argument("--configured", action="store_true", help="only games with a config file (game=NAME)")
    args = parser.parse_args(argv)
    rows = [
        row
        for row in game_rows(args.filter)
        if (row["rom"] or not args.present) and (row["has_config"] or not args.configured)
    ]
    console = Console(highlight=False)
    if not rows:
        console.print(_nothing_found(args))
        return 0
    console.print(_games_table(rows, console.width))
    configured = sum(row["has_config"] for row in rows)
    present = sum(row["rom"] for row in rows)
    console.print(f"{_count(len(rows), 'game')}, {configured} with a config file, {present} with their ROM present")
    console.print(IMPORT_HINT)
    return 0


def _nothing_found(args: argparse.Namespace) -> str:
    """ "no game matches 'xyz'", "no game matches 'xyz' with its ROM present and a config file"."""
    wanted = [what for what, asked in (("its ROM present", args.present), ("a config file", args.configured)) if asked]
    found = "no game" + (f" matches {args.filter!r}" if args.filter else "")
    return found + (f" with {' and '.join(wanted)}" if wanted else "")


def _games_table(rows: list[dict], width: int) -> Table:
    cells = [
        (
            row["name"],
            row["system"],
            "present" if row["rom"] else "missing",
            _states_text(row["states"]),
            "yes" if row["has_config"] else "no",
        )
        for row in rows
    ]
    headers = ("game", "system", "ROM", "states", "config")
    widths = [max(len(text) for text in column) for column in zip(headers, *cells)]
    # Every column but states keeps its full width (names are what game=NAME takes); the list
    # of states gets what is left of the terminal and ends in an ellipsis when that is too little.
    states_room = max(width - sum(widths) + widths[3] - 3 * len(headers) - 1, len("states"))
    table = Table(box=box.SIMPLE_HEAD)
    for header, column_width in zip(headers, widths):
        if header == "states":
            table.add_column(header, no_wrap=True, overflow="ellipsis", max_width=states_room)
        else:
            table.add_column(header, no_wrap=True, min_width=column_width)
    for row_cells in cells:
        table.add_row(*map(escape, row_cells))
    return table


def _states_text(states: list[str]) -> str:
    """['Level1', 'Level2', 'Level3', 'Level4'] -> '4: Level1, Level2, Level3, ...'."""
    if not states:
        return "-"
    shown = ", ".join(states[:STATES_SHOWN])
    return f"{len(states)}: {shown}{', ...' if len(states) > STATES_SHOWN else ''}"


def roms_command(argv: list[str]) -> int:
    """Import ROMs into stable-retro: `a3c roms import PATH... [--atari]`.

    Exit code 0 when a ROM was imported or was already there, 1 when nothing given was recognised.
    """
    parser = argparse.ArgumentParser(prog="a3c roms", description=roms_command.__doc__.splitlines()[0])
    actions = parser.add_subparsers(dest="action", required=True, metavar="import")
    importer = actions.add_parser(
        "import",
        help="import ROM files, folders and zip files whose hash stable-retro knows",
        description="Import the ROMs among files, folders (recursively) and zip files whose hash stable-retro knows.",
    )
    importer.add_argument("paths", nargs="*", metavar="PATH", help="a ROM file, a folder or a zip file")
    importer.add_argument("--atari", action="store_true", help="the Atari 2600 ROMs that ship with ale-py")
    args = parser.parse_args(argv)
    if not args.paths and not args.atari:
        raise UsageError("import what? give ROM files or folders (a3c roms import PATH...) or --atari")
    report = import_roms(args.paths) if args.paths else ImportReport()
    _print_imported(report, unrecognised_shown=True)
    atari_report = import_roms([str(p) for p in ale_rom_files()]) if args.atari else ImportReport()
    _print_imported(atari_report, unrecognised_shown=False)  # ale-py has ROMs stable-retro never integrated
    print(_summary(report, atari_report))
    return 0 if report.imported or atari_report.imported else 1


def _print_imported(report: ImportReport, unrecognised_shown: bool) -> None:
    for rom in report.imported:
        print(f"{rom.game} <- {rom.source}{' (already present)' if rom.already_present else ''}")
    if unrecognised_shown:
        for source in report.unrecognised:
            print(f"not recognised: {source}")


def _summary(report: ImportReport, atari_report: ImportReport) -> str:
    """'imported 30 games, 2 already present, 1 file not recognised, 76 of ale-py's ROMs ...'."""
    roms = report.imported + atari_report.imported
    already = sum(rom.already_present for rom in roms)
    parts = [f"imported {_count(len(roms) - already, 'game')}", f"{already} already present"]
    if report.unrecognised:
        parts.append(f"{_count(len(report.unrecognised), 'file')} not recognised")
    if atari_report.unrecognised:
        parts.append(f"{len(atari_report.unrecognised)} of ale-py's ROMs are no stable-retro game")
    return ", ".join(parts)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def game_rows(filter: str | None = None) -> list[dict]:
    """One row per stable-retro game and per config file in conf/game that is no stable-retro game
    (memory, and generic ones such as retro or ale), configured first, then by name.

    Each row: id (stable-retro's id; None for a config that is no stable-retro game), name (the id
    without -v0: the config file's name), system (Genesis, Atari2600, ...; "built-in" for the memory
    task, "-" for other configs), rom (bool: present; a config of a backend in NEEDS_NO_IMPORT counts
    as present, any other as missing since its game is picked on the command line), states (list),
    has_config (bool). filter keeps the rows whose name or system contains it, ignoring case.
    """
    configs = {p.stem: p for p in (Path(CONFIG_DIR) / "game").glob("*.yaml")}
    games = retro.data.list_games()
    rows = [_retro_row(g, name_of(g) in configs) for g in games if _matches(filter, name_of(g), system_of(g))]
    other_configs = [configs[name] for name in set(configs) - {name_of(g) for g in games}]
    rows += [row for row in map(_config_row, other_configs) if _matches(filter, row["name"], row["system"])]
    return sorted(rows, key=lambda row: (not row["has_config"], row["name"].lower()))


def _matches(filter: str | None, name: str, system: str) -> bool:
    return filter is None or filter.lower() in name.lower() or filter.lower() in system.lower()


def _retro_row(game_id: str, has_config: bool) -> dict:
    return {
        "id": game_id,
        "name": name_of(game_id),
        "system": system_of(game_id),
        "rom": rom_present(game_id),
        "states": retro.data.list_states(game_id),
        "has_config": has_config,
    }


def _config_row(config: Path) -> dict:
    backend = _backend_of(config)
    return {
        "id": None,
        "name": config.stem,
        "system": "built-in" if backend == "memory" else "-",
        "rom": backend in NEEDS_NO_IMPORT,
        "states": [],
        "has_config": True,
    }


def _backend_of(config: Path) -> str | None:
    """The backend a game config names, from its schema in the defaults list: /schema/game/<backend>."""
    content = OmegaConf.load(config)  # read, not resolved: interpolations and ??? stay as they are
    for entry in content.get("defaults", []):
        found = re.match(r"/?schema/game/(\w+)", entry) if isinstance(entry, str) else None
        if found:
            return found.group(1)
    return content.get("backend")
