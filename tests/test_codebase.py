"""The shape of the code that docs/architecture.md describes: imports point down the layers, and
modules and functions stay small enough to read whole."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "a3c_cli"
MOST_MODULE_LINES = 300
MOST_FUNCTION_LINES = 50

# Each module may import from its own layer and the layers below it, never from one above.
LAYERS = {
    "commands": {"__main__", "cli", "compose", "catalog", "play", "sweep", "bench", "suite", "suite_report",
                 "config_doc"},
    "training and records": {"trainer", "training", "distributed", "launch", "supervisor", "run_stats", "a3c",
                             "evaluator", "episodes", "preload", "progress", "metrics", "checkpoint", "resume",
                             "rundir", "plot", "video"},
    "games, model, files": {"config", "provenance", "errors", "files", "processes", "child", "counters", "model",
                            "optim", "games", "conf", "validation"},
}
RANK = {module: rank for rank, modules in enumerate(reversed(LAYERS.values())) for module in modules}


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def name_of(path: Path) -> str:
    """a3c_cli/games/make.py -> games; a3c_cli/trainer.py -> trainer."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def imported(path: Path) -> set[str]:
    """The a3c_cli modules a file imports, at its top or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("a3c_cli."):
            names.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            names.update(a.name.split(".")[1] for a in node.names if a.name.startswith("a3c_cli."))
    return names


def test_every_module_has_a_layer():
    unplaced = {name_of(p) for p in modules()} - set(RANK) - {"__init__"}
    assert not unplaced, f"add {sorted(unplaced)} to a layer in LAYERS (and to docs/architecture.md)"


def test_imports_point_down_the_layers():
    upward = [f"{name_of(p)} imports {m}" for p in modules() if name_of(p) in RANK
              for m in imported(p) if m in RANK and RANK[m] > RANK[name_of(p)]]
    assert not upward, upward


def test_modules_and_functions_are_short():
    long_modules = [
        f"{p.name}: {n} lines" for p in modules() if (n := len(p.read_text().splitlines())) > MOST_MODULE_LINES
    ]
    long_functions = [
        f"{p.name}:{f.lineno} {f.name}: {f.end_lineno - f.lineno + 1} lines"
        for p in modules()
        for f in ast.walk(ast.parse(p.read_text()))
        if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and f.end_lineno - f.lineno + 1 > MOST_FUNCTION_LINES
    ]
    assert not long_modules and not long_functions, long_modules + long_functions
