"""The package's layout is its architecture (issue 12): no import circles, no module over
500 lines, the core packages (geo, search, importer, exchange, curation) import nothing from
Flask or the web edge; and a new user's first commands work on a never-migrated database."""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "directory"
CORE = ("directory.geo", "directory.search", "directory.importer", "directory.exchange",
        "directory.curation")
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def _imports() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Every import of each module, lazy ones (inside functions) included:
    ``(package modules imported, top-level names of other packages imported)``."""
    modules = _modules()
    inner, outer = defaultdict(set), defaultdict(set)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.split(".")[0] == "directory":
                    for alias in node.names:
                        full = f"{node.module}.{alias.name}"
                        inner[name].add(full if full in modules else node.module)
                else:
                    outer[name].add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    (inner if alias.name.startswith("directory") else outer)[name].add(
                        alias.name if alias.name.startswith("directory")
                        else alias.name.split(".")[0])
    return inner, outer


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles():
    inner, _ = _imports()
    assert _cycles(inner) == []


def test_a_circle_is_detected():
    """The checker itself finds a circle (so the test above can fail)."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_over_500_lines():
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines())
             for name, path in _modules().items()}
    assert {n: s for n, s in sizes.items() if s > MAX_LINES} == {}


def test_core_packages_import_no_flask_and_no_web():
    inner, outer = _imports()
    offending = {}
    for name in _modules():
        if not name.startswith(CORE):
            continue
        bad = {m for m in outer[name] if m.startswith("flask")}
        bad |= {m for m in inner[name]
                if m.startswith("directory.web") or m == "directory.extensions"}
        if bad:
            offending[name] = sorted(bad)
    assert offending == {}


def test_the_folders_are_the_layers():
    folders = {p.name for p in PACKAGE.iterdir()
               if p.is_dir() and (p / "__init__.py").exists()}
    assert {"web", "geo", "importer", "exchange", "curation", "search"} <= folders
    # the web edge holds every blueprint
    for path in PACKAGE.rglob("*.py"):
        if "Blueprint(" in path.read_text(encoding="utf-8"):
            assert path.parent.name == "web", path


def test_seed_migrates_a_never_migrated_database(tmp_path, geocoder):
    """``flask seed`` on a fresh SQLite file brings the schema up to date itself (it
    stopped with 'no such table: modality')."""
    from directory import create_app
    from directory.cli import ensure_schema
    from directory.extensions import db

    app = create_app({"TESTING": True, "SECRET_KEY": "test",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/fresh.sqlite"})
    said = []
    with app.app_context():
        ensure_schema(said.append)
        tables = set(sa.inspect(db.engine).get_table_names())
        ensure_schema(said.append)  # at head: nothing more to do, nothing said
        db.session.remove()
        db.engine.dispose()
    assert {"center", "modality", "alembic_version"} <= tables
    assert len(said) == 1 and "flask db upgrade" in said[0]


@pytest.mark.parametrize("argv,expected", [
    (["/x/.venv/bin/flask", "--app", "directory", "seed", "--if-empty"], "seed"),
    (["/x/.venv/bin/flask", "--app", "directory", "run", "--port", "5000"], "run"),
    (["/usr/bin/flask", "--debug", "--app", "directory", "create-admin", "a@b.org"],
     "create-admin"),
    (["gunicorn", "directory:create_app()"], None),
])
def test_flask_command_names_the_subcommand(monkeypatch, argv, expected):
    """The command line, not a server, may start without SECRET_KEY (a throwaway key)."""
    from directory import _flask_command

    monkeypatch.setattr(sys, "argv", argv)
    assert _flask_command() == expected
