"""The ROM importer on real files (ale-py's Pong ROM, junk, folders, zips) and stable-retro's real
hashes, aimed at a copy of the Pong integration in tmp: the shared data folder is never written."""

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest
import stable_retro as retro

from a3c_cli.games.roms import ImportedRom, ale_rom_files, ensure_rom, import_ale_roms, import_roms, rom_present
from a3c_cli.system.errors import UsageError

PONG = "Pong-Atari2600-v0"
PONG_BIN = next(p for p in ale_rom_files() if p.name == "pong.bin")
JUNK = b"a shopping list, not a ROM"


@pytest.fixture
def pong_target(tmp_path) -> tuple[dict, Path]:
    """Known hashes holding Pong's real sha1 only, aimed at a copy of its integration (json, sha and
    state files, no ROM) under tmp; and the ROM file an import writes there."""
    sha1 = hashlib.sha1(PONG_BIN.read_bytes()).hexdigest()
    game, ext, data_folder = retro.data.get_known_hashes()[sha1]
    assert game == PONG
    copy = tmp_path / "data"
    shutil.copytree(Path(data_folder) / game, copy / game, ignore=shutil.ignore_patterns(f"rom{ext}"))
    return {sha1: (game, ext, str(copy))}, copy / game / f"rom{ext}"


def roms_folder(root: Path) -> Path:
    """pong.bin, and a junk file one folder down."""
    (root / "sub").mkdir(parents=True)
    shutil.copy(PONG_BIN, root / "pong.bin")
    (root / "sub" / "notes.txt").write_bytes(JUNK)
    return root


def test_a_folder_imports_pong_and_reports_the_junk(tmp_path, pong_target):
    known, rom = pong_target
    folder = roms_folder(tmp_path / "roms")

    report = import_roms([str(folder)], known_hashes=known)

    assert report.imported == [ImportedRom(PONG, str(folder / "pong.bin"), already_present=False)]
    assert report.unrecognised == [str(folder / "sub" / "notes.txt")]
    assert rom.read_bytes() == PONG_BIN.read_bytes()


def test_a_single_file_imports_and_a_second_import_finds_it_present(tmp_path, pong_target):
    known, rom = pong_target

    first = import_roms([str(PONG_BIN)], known_hashes=known)
    second = import_roms([str(PONG_BIN)], known_hashes=known)

    assert [r.already_present for r in first.imported + second.imported] == [False, True]
    assert rom.read_bytes() == PONG_BIN.read_bytes()


def test_a_zip_imports_pong_and_reports_the_junk_inside(tmp_path, pong_target):
    known, rom = pong_target
    pack = tmp_path / "pack.zip"
    with zipfile.ZipFile(pack, "w") as archive:
        archive.write(PONG_BIN, "atari/pong.bin")
        archive.writestr("notes.txt", JUNK)

    report = import_roms([str(pack)], known_hashes=known)

    assert report.imported == [ImportedRom(PONG, f"{pack}/atari/pong.bin", already_present=False)]
    assert report.unrecognised == [f"{pack}/notes.txt"]
    assert rom.read_bytes() == PONG_BIN.read_bytes()


def test_a_zip_in_a_zip_in_a_folder_imports_pong(tmp_path, pong_target):
    known, rom = pong_target
    inner = tmp_path / "inner.zip"
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(PONG_BIN, "pong.bin")
        archive.writestr("notes.txt", JUNK)
    (tmp_path / "downloads").mkdir()
    outer = tmp_path / "downloads" / "outer.zip"
    with zipfile.ZipFile(outer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(inner, "roms/inner.zip")

    report = import_roms([str(tmp_path / "downloads")], known_hashes=known)

    assert [r.source for r in report.imported] == [f"{outer}/roms/inner.zip/pong.bin"]
    assert report.unrecognised == [f"{outer}/roms/inner.zip/notes.txt"]
    assert rom.read_bytes() == PONG_BIN.read_bytes()


def test_a_broken_zip_is_reported_unrecognised(tmp_path, pong_target):
    known, _ = pong_target
    broken = tmp_path / "broken.zip"
    broken.write_bytes(JUNK)

    assert import_roms([str(broken)], known_hashes=known).unrecognised == [str(broken)]


def test_the_original_rom_name_of_the_metadata_is_written_too(tmp_path, pong_target):
    known, rom = pong_target
    metadata = rom.parent / "metadata.json"
    metadata.write_text(json.dumps({**json.loads(metadata.read_text()), "original_rom_name": "pong.a26"}))

    import_roms([str(PONG_BIN)], known_hashes=known)

    assert (rom.parent / "pong.a26").read_bytes() == PONG_BIN.read_bytes()


def test_a_missing_path_is_a_usage_error_and_imports_nothing(tmp_path, pong_target):
    known, rom = pong_target
    missing = tmp_path / "no-such-folder"

    with pytest.raises(UsageError, match=str(missing)) as error:
        import_roms([str(PONG_BIN), str(missing)], known_hashes=known)

    assert len(str(error.value).splitlines()) == 1
    assert not rom.exists()


def test_ale_roms_import_into_stable_retro():
    newly_present = import_ale_roms()  # the real data folder: adds only ROMs stable-retro integrates

    assert all(g.endswith("-Atari2600-v0") and rom_present(g) for g in newly_present)
    assert rom_present(PONG)


def test_a_missing_rom_names_the_import_command():
    missing = next(g for g in retro.data.list_games() if g.endswith("-Genesis-v0") and not rom_present(g))

    with pytest.raises(UsageError) as error:
        ensure_rom(missing)

    message = str(error.value)
    assert "a3c roms import /path/to/rom-or-folder" in message and missing in message
    assert len(message.splitlines()) == 1
