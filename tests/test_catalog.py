"""`a3c games` and `a3c roms import` from the real command line."""

import re

import pytest
from conftest import GAMES, a3c

from a3c_cli.commands.catalog import game_rows


def table_row(output: str, name: str) -> str:
    """The line of the games table whose game column is name."""
    return next(line for line in output.splitlines() if re.match(rf"\s*{re.escape(name)}\s", line))


@pytest.mark.slow
def test_importing_ales_atari_roms_twice_reports_pong_both_times():
    first = a3c("roms", "import", "--atari")
    second = a3c("roms", "import", "--atari")

    assert first.returncode == 0, first.stderr
    assert "Pong-Atari2600-v0 <- " in first.stdout
    assert second.returncode == 0, second.stderr
    assert re.search(r"Pong-Atari2600-v0 <- \S+pong\.bin \(already present\)", second.stdout)
    assert re.search(r"imported 0 games, \d+ already present", second.stdout)


@pytest.mark.slow
def test_importing_only_junk_exits_1_and_names_it(tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("not a ROM")

    result = a3c("roms", "import", str(tmp_path))

    assert result.returncode == 1
    assert f"not recognised: {junk}" in result.stdout


@pytest.mark.slow
def test_importing_a_missing_path_or_nothing_is_one_line_exit_2(tmp_path):
    missing = a3c("roms", "import", str(tmp_path / "nope"))
    nothing = a3c("roms", "import")

    for result in (missing, nothing):
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert str(tmp_path / "nope") in missing.stderr
    assert "--atari" in nothing.stderr


@pytest.mark.slow
def test_games_lists_airstriker_with_its_rom_and_config_file():
    result = a3c("games", "airstriker")

    assert result.returncode == 0, result.stderr
    assert table_row(result.stdout, "Airstriker-Genesis").split() == [
        "Airstriker-Genesis",
        "Genesis",
        "present",
        "1:",
        "Level1",
        "yes",
    ]
    assert "a3c roms import PATH" in result.stdout and "a3c roms import --atari" in result.stdout


@pytest.mark.slow
def test_games_configured_lists_every_config_file_first_and_nothing_else():
    result = a3c("games", "--configured")

    assert result.returncode == 0, result.stderr
    for name in GAMES:
        assert table_row(result.stdout, name).rstrip().endswith("yes")
    assert f"{len(GAMES)} games, {len(GAMES)} with a config file" in result.stdout


@pytest.mark.slow
@pytest.mark.usefixtures("atari_roms")
def test_games_by_system_with_rom_present():
    result = a3c("games", "atari2600", "--present")

    assert result.returncode == 0, result.stderr
    assert "Pong-Atari2600" in table_row(result.stdout, "Pong-Atari2600")
    rows = [line.split() for line in result.stdout.splitlines() if "-Atari2600 " in line]
    assert rows and all(row[1:3] == ["Atari2600", "present"] for row in rows)


@pytest.mark.slow
def test_no_match_says_so_and_exits_0():
    result = a3c("games", "no-such-game-at-all")

    assert result.returncode == 0
    assert result.stdout.strip() == "no game matches 'no-such-game-at-all'"


def test_game_rows_put_configs_first_and_the_memory_task_needs_no_rom():
    rows = game_rows(None)
    configured = [row["name"] for row in rows if row["has_config"]]

    assert sorted(configured) == sorted(GAMES)
    assert [row["name"] for row in rows[: len(configured)]] == configured
    memory = next(row for row in rows if row["name"] == "memory")
    assert memory == {"id": None, "name": "memory", "system": "built-in", "rom": True, "states": [], "has_config": True}
