"""The shape of the code that docs/architecture.md describes: the folders of a3c_cli/ are its layers
and imports point down them. Modules are cut by what they do, not to a line count: no size limit."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "a3c_cli"

# The layers, from the top down: a module may import from its own folder and from the layers below
# its own, never from a layer above it, nor from another folder of its own layer. The entry points
# at the top of a3c_cli/ stand above every folder; `conf` is the config files' package (conf/).
LAYERS = [
    {"__main__"},  # python -m a3c_cli
    {"cli"},  # `a3c <command>`: picks the command; only it exits
    {"commands", "bench"},  # `a3c test/games/roms/report`; `a3c bench`: benchmarking, beside the commands
    {"train"},  # a run's life: the trainer, the loop, its processes, the evaluator
    {"distributed"},  # ranks: join, sync, the launcher's environment
    {"agent"},  # the network, shared optimizers, shared state, the worker, episodes
    {"games", "records"},  # environments and ROMs; the run directory, metrics, checkpoints, plots, videos
    {"config"},  # schemas, composition, validation
    {"system", "conf"},  # errors and our processes; the config files
]
RANK = {folder: len(LAYERS) - i for i, layer in enumerate(LAYERS) for folder in layer}
# A module path written as a string: a command of cli.py ("module:function"), a fork server's
# preload, a Hydra _target_ in conf/. Such a string is an import too.
DOTTED = re.compile(r"a3c_cli(?:\.\w+)+(?::\w+)?")


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def layer_of(path: Path) -> str:
    """a3c_cli/games/make.py -> games; a3c_cli/cli.py -> cli."""
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


def imported(source: str) -> set[str]:
    """The folders (or top modules) of a3c_cli that a module imports, at its top or inside
    functions, or names in a string that is a module path."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"line {node.lineno}: a relative import; write it as a3c_cli.<folder>...")
        if isinstance(node, ast.ImportFrom) and node.module == "a3c_cli":  # from a3c_cli import cli
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("a3c_cli."):
            names.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            names.update(a.name.split(".")[1] for a in node.names if a.name.startswith("a3c_cli."))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and DOTTED.fullmatch(node.value):
            names.add(node.value.split(".")[1].split(":")[0])
    return names


def upward(path: Path, names: set[str]) -> list[str]:
    """The imports of `path` that go up the layers or sideways into another folder of its layer."""
    own = layer_of(path)
    return [f"{path.relative_to(PACKAGE)} imports a3c_cli.{name}" for name in sorted(names)
            if name != own and name in RANK and RANK[name] >= RANK[own]]


def test_every_module_has_a_layer():
    unplaced = {layer_of(p) for p in modules()} - set(RANK) - {"__init__"}
    assert not unplaced, f"put {sorted(unplaced)} into a folder of LAYERS (and docs/architecture.md)"


def test_imports_point_down_the_layers():
    found = [line for p in modules() if layer_of(p) in RANK for line in upward(p, imported(p.read_text()))]
    assert not found, found


def test_the_layer_test_sees_an_upward_import():
    """An import up the layers, a sideways one, one inside a function, and one by string all fail."""
    worker = PACKAGE / "agent" / "worker.py"
    assert upward(worker, {"train"}) == ["agent/worker.py imports a3c_cli.train"]
    assert upward(PACKAGE / "games" / "make.py", {"records", "system", "games"}) == [
        "games/make.py imports a3c_cli.records"]
    assert upward(PACKAGE / "records" / "plot.py", {"config", "system"}) == []
    source = 'def f():\n    from a3c_cli.train.trainer import train\nTARGET = "a3c_cli.commands.sweep:x"\n'
    assert imported(source) == {"train", "commands"}
    assert upward(worker, imported(source)) == ["agent/worker.py imports a3c_cli.commands",
                                                "agent/worker.py imports a3c_cli.train"]


def test_only_entry_points_at_the_top():
    top = {p.name for p in PACKAGE.glob("*.py")}
    assert top == {"__init__.py", "__main__.py", "cli.py"}, f"put {sorted(top)} into the folder of its layer"


def test_every_folder_says_what_it_holds_and_ships():
    """Each folder of a3c_cli/ is a package with a docstring, listed in pyproject.toml (a wheel
    leaves out a package that is not listed)."""
    packages = re.search(r"^packages = \[(.*?)\]", (REPO / "pyproject.toml").read_text(), re.M | re.S).group(1)
    listed = set(re.findall(r'"([\w.]+)"', packages))
    folders = [p.parent for p in PACKAGE.glob("*/__init__.py")]
    assert {f.name for f in folders} == set(RANK) - {"cli", "__main__", "conf"}
    for folder in folders:
        assert ast.get_docstring(ast.parse((folder / "__init__.py").read_text())), f"{folder.name}/__init__.py"
    assert {f"a3c_cli.{f.name}" for f in folders} | {"a3c_cli", "a3c_cli.conf"} == listed


def test_every_module_path_in_a_string_exists():
    """Module paths written as text (Hydra _target_s in conf/, cli.py's commands, `python -m ...` in
    the docs) name a module that exists, and a name it defines at its top."""
    texts = [*REPO.glob("conf/**/*.yaml"), *modules(), *REPO.glob("docs/*.md"), REPO / "README.md",
             *REPO.glob("benchmarks/*.md"), *REPO.glob("benchmarks/*.py"), REPO / "pyproject.toml"]
    missing = []
    for text in texts:
        for dotted in set(DOTTED.findall(written(text))):
            if not resolves(dotted.replace(":", ".")):
                missing.append(f"{text.relative_to(REPO)}: {dotted}")
    assert not missing, missing


def written(path: Path) -> str:
    """A file's text; of a module, its strings only (a3c_cli.conf.__file__ in code is no path)."""
    if path.suffix != ".py":
        return path.read_text(encoding="utf-8")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return "\n".join(n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str))


def resolves(dotted: str) -> bool:
    """a3c_cli.records.metrics.NotFileOnly: a3c_cli/records/metrics.py defines NotFileOnly."""
    parts = dotted.split(".")[1:]
    folder = PACKAGE
    for i, part in enumerate(parts):
        folder = REPO / "conf" if folder == PACKAGE and part == "conf" else folder / part
        if folder.is_dir():
            continue
        if not folder.with_suffix(".py").is_file():
            return False
        rest = parts[i + 1:]
        return not rest or rest[0] in top_names(folder.with_suffix(".py"))
    return True


def top_names(path: Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names

