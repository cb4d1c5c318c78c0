"""The module import graph of bot/: no cycles, and the core never imports the Slack surface.

Every import counts, the lazy ones inside functions too: a lazy import hides a cycle from
Python's start-up, not from the design (the two modules still cannot be understood, moved
or tested apart). The core (bot/ outside bot/slack/ and bot/slack_cli.py)
runs with no Slack at all, so it may not import bot.slack.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "bot"
# The modules that stand between the core and Slack: they may import both.
SLACK_SIDE = ("bot.slack", "bot.slack_cli")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The module an `from X import ...` names, its dots resolved against the importer."""
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base[:len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def imported_modules(importer: str, path: Path, known: set[str]) -> set[str]:
    """The modules of bot/ that this file imports anywhere in it (module level or in a function)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, importer, path.name == "__init__.py")
            # `from pkg import mod` imports the module pkg.mod; `from mod import name`, mod itself.
            submodules = {f"{source}.{alias.name}" for alias in node.names} & known
            out.update(submodules or {source})
    return {m for m in out if m in known and m != importer}


def import_graph() -> dict[str, set[str]]:
    modules = package_modules()
    known = set(modules)
    return {name: imported_modules(name, path, known) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def is_slack_side(module: str) -> bool:
    return any(module == side or module.startswith(side + ".") for side in SLACK_SIDE)


def core_to_slack(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((src, dst) for src, targets in graph.items() if not is_slack_side(src)
                  for dst in targets if dst == "bot.slack" or dst.startswith("bot.slack."))


def test_the_graph_sees_lazy_and_relative_imports():
    graph = import_graph()
    assert "bot.embed" in graph["bot.pipeline"]  # lazy, inside make_scorer
    assert "bot.scoring.base" in graph["bot.scoring"]  # `from .base import ...` in a package
    assert "bot.slack.app" in graph["bot.slack_cli"]  # lazy, inside build


def test_cycles_are_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_the_core_never_imports_slack():
    assert core_to_slack(import_graph()) == []
