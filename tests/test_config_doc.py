"""One source of truth for the config: each key's type, default and description live in the schemas of
a3c_cli/config/schema.py; docs/configuration.md is generated from them (and conf/), and must be current."""

import dataclasses
import difflib
import re
from pathlib import Path

import pytest
from conftest import config
from hydra import compose, initialize_config_dir

from a3c_cli.config import schema
from a3c_cli.config.compose import job_config
from a3c_cli.config.doc import DOC, TABLES, comments, description, main
from a3c_cli.config.schema import CONFIG_DIR, plain

SCHEMAS = [c for c in vars(schema).values() if dataclasses.is_dataclass(c) and c.__module__ == schema.__name__]


def test_the_configuration_page_is_current(capsys):
    main([])
    generated = capsys.readouterr().out
    committed = DOC.read_text(encoding="utf-8") if DOC.is_file() else ""
    if committed != generated:
        diff = difflib.unified_diff(
            committed.splitlines(), generated.splitlines(), "committed", "generated", lineterm=""
        )
        pytest.fail(
            "docs/configuration.md is stale: run `python -m a3c_cli.config.doc --write` and commit it\n"
            + "\n".join(list(diff)[:40])
        )


def test_every_schema_has_a_table():
    assert {c.__name__ for c in SCHEMAS} == {t[1].__name__ for t in TABLES}


@pytest.mark.parametrize("cls", SCHEMAS, ids=lambda c: c.__name__)
def test_every_key_has_one_description_written_once(cls):
    """The trailing comment of the field's line; a subclass that only changes a default inherits it."""
    for f in dataclasses.fields(cls):
        where = f"{cls.__name__}.{f.name}"
        assert description(cls, f.name), f"{where}: write its description as a trailing # comment on its line"
        assert len(description(cls, f.name)) <= 110, f"{where}: keep its description to one short line"
        written = [k.__name__ for k in cls.__mro__ if comments().get((k.__name__, f.name))]
        assert len(written) == 1, f"{where}: described in {', '.join(written)}; keep one"


def typed(values: dict) -> list:
    """Keys in order, with values and their types (1 == 1.0 and True == 1 would hide a change)."""
    return [(k, v, type(v).__name__) for k, v in values.items() if not isinstance(v, dict)]


TRAIN = {
    "workers": 2,
    "envs_per_worker": 8,
    "pin_workers": True,
    "seed": 0,
    "max_frames": 500000,
    "max_minutes": None,
    "rollout_steps": 20,
    "gamma": 0.99,
    "gae_lambda": 1.0,
    "entropy_coef": 0.01,
    "entropy_target": None,
    "value_coef": 0.5,
    "max_grad_norm": 40.0,
    "eval_interval": 100000,
    "eval_episodes": 3,
    "log_interval": 10.0,
    "progress": True,
    "checkpoints_dir": "checkpoints",
    "resume": None,
}
OPTIM = {
    "adam": {
        "name": "adam",
        "lr": 5e-4,
        "eps": 1e-8,
        "weight_decay": 0.0,
        "shared": True,
        "beta1": 0.9,
        "beta2": 0.999,
        "amsgrad": False,
    },
    "rmsprop": {
        "name": "rmsprop",
        "lr": 7e-4,
        "eps": 1e-5,
        "weight_decay": 0.0,
        "shared": True,
        "alpha": 0.99,
        "momentum": 0.0,
        "centered": False,
    },
}
# record: YAML's false in conf/test.yaml, which composes to the string "False" (read case-blind)
TEST = {
    "checkpoint": None,
    "checkpoints_dir": "checkpoints",
    "episodes": 3,
    "sample": None,
    "random": False,
    "render": False,
    "record": "False",
    "lstm_size": None,
    "seed": 0,
}


@pytest.mark.parametrize("optim", ["adam", "rmsprop"])
def test_the_schema_defaults_compose_as_before(optim):
    """The YAML no longer restates the schema: the composed values, their types and order stay the same
    (as records keep them: plain dicts)."""
    cfg = plain(config(f"optim={optim}", "workers=2"))
    assert list(cfg)[:3] == ["game", "optim", "model"] and typed(cfg) == typed(TRAIN)
    assert typed(cfg["optim"]) == typed(OPTIM[optim])
    assert typed(cfg["model"]) == typed({"frame_size": 42, "channels": 32, "torso": "small", "lstm_size": 256,
                                         "recurrent": True})
    many = config(f"optim={optim}", "workers=16")
    assert (many.envs_per_worker, many.optim.lr) == (1, {"adam": 1.25e-4, "rmsprop": 8.75e-5}[optim])


def test_the_test_config_composes_as_before():
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = plain(job_config(compose("test"), "test"))
    assert list(cfg)[0] == "game" and typed(cfg) == typed(TEST)


# -- the hand-written key tables of the other pages --------------------------------------------------------------

DOCS = DOC.parent


def table_keys(text: str, heading: str) -> list[str]:
    """The keys of the first table under a Markdown heading: every `name` in its rows' first cell."""
    after = re.split(rf"^{re.escape(heading)}$", text, maxsplit=1, flags=re.M)
    section = re.split(r"^#+ ", after[-1], maxsplit=1, flags=re.M)[0] if len(after) == 2 else ""
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]  # after the head and its rule
    return [key for row in rows for key in re.findall(r"`([^`]+)`", row.split("|")[1])]


def table_errors(listed: list[str], documented: set[str], prefix: str = "") -> list[str]:
    """What a table gets wrong against the keys it documents: keys it lists that do not exist, keys it leaves out."""
    names = [k.removeprefix(prefix) for k in listed]
    unknown = [f"`{prefix}{k}` is listed but is no key" for k in names if k not in documented]
    missing = [f"`{prefix}{k}` is missing" for k in sorted(documented - set(names))]
    return unknown + missing


def bench_learn_keys() -> set[str]:
    from a3c_cli.bench.suite import SETTINGS  # `a3c bench learn`'s settings, and dir=, the suite's folder

    return set(SETTINGS) | {"dir"}


def keys_of(cls: type):
    return lambda: {f.name for f in dataclasses.fields(cls)}


KEY_TABLES = [  # (page, the heading above its table, the keys it documents, their prefix in the table)
    ("playing.md", "# Playing a trained agent: `a3c test`", keys_of(schema.TestConfig), ""),
    ("distributed.md", "## Settings", keys_of(schema.DistributedConfig), "distributed."),
    ("benchmarking.md", "## Learning: `a3c bench learn`", bench_learn_keys, ""),
]


@pytest.mark.parametrize("page, heading, keys, prefix", KEY_TABLES, ids=[t[0] for t in KEY_TABLES])
def test_a_hand_written_key_table_lists_every_key_and_no_other(page, heading, keys, prefix):
    listed = table_keys((DOCS / page).read_text(encoding="utf-8"), heading)
    assert listed, f"docs/{page}: no key table under {heading!r}"
    errors = table_errors(listed, keys(), prefix)
    assert not errors, f"docs/{page}, the table under {heading!r}: " + "; ".join(errors)


def test_the_key_table_check_finds_a_wrong_and_a_missing_key():
    text = "# Page\n\n| key | meaning |\n|---|---|\n| `a`, `b` | two |\n| `typo` | gone |\n\n## Next\n\n| `c` | x |\n"
    assert table_keys(text, "# Page") == ["a", "b", "typo"]
    assert table_errors(["x.a", "x.typo"], {"a", "b"}, "x.") == ["`x.typo` is listed but is no key", "`x.b` is missing"]


def test_the_tests_page_gives_every_test_file_one_line():
    """docs/tests.md lists the files, one line each (`- `test_x.py`: what it checks`), in order, and no other."""
    listed = re.findall(r"^- `(test_\w+\.py)`:", (DOCS / "tests.md").read_text(encoding="utf-8"), flags=re.M)
    assert listed == sorted(p.name for p in Path(__file__).parent.glob("test_*.py"))
