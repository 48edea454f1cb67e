"""House rule 1: data flows one way. Each module of fedi imports only modules listed before it in LAYERS."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

# lowest first: a module may import any module above it in this list, never one below
LAYERS = [
    "errors", "lru", "negotiation", "schemas", "structured_fields", "sanitize", "webvtt", "retry", "urls", "config",
    "talks",
    "keys",
    "store",
    # pure protocol: builders, readers, signatures
    "talk_objects", "objects", "preview", "discovery", "actors", "signatures",
    # the one way out, and who signed what came in
    "netguard", "client", "verify",
    # handlers and workers
    "inbox", "board", "jobs", "interactions", "quotes", "publish", "delivery",
    # HTTP and the command line
    "pages", "context", "routes", "inbox_routes", "app", "workers", "commands", "cli",
]
PACKAGE = ROOT / "fedi"


def imports_of(path: Path) -> set[str]:
    """The fedi modules (first component below ``fedi``) that a file imports, relative or absolute."""
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - (node.level - 1)])
                names = [*base, *node.module.split(".")] if node.module else None
                if names is None:  # from . import x, y
                    found.update(f"{'.'.join(base)}.{a.name}".split(".")[1] for a in node.names if len(base) == 1)
                    if len(base) > 1:
                        found.add(base[1])
                elif len(names) > 1:
                    found.add(names[1])
            elif node.module and node.module.startswith("fedi."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("fedi."))
    return found


def module_of(path: Path) -> str:
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


def test_every_module_is_placed() -> None:
    """A new module must be given its place in the layers (and so in the architecture)."""
    modules = {module_of(p) for p in PACKAGE.rglob("*.py")} - {"__init__"}
    assert modules == set(LAYERS), (modules - set(LAYERS), set(LAYERS) - modules)


def test_imports_only_point_down() -> None:
    """No module imports one that sits above it in the flow config → store → protocol → HTTP → CLI."""
    rank = {name: i for i, name in enumerate(LAYERS)}
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        me = module_of(path)
        if me == "__init__":
            continue
        for dep in imports_of(path) - {me, "__version__"}:
            if rank[dep] >= rank[me]:
                wrong.append(f"{path.relative_to(ROOT)} imports {dep}")
    assert not wrong, wrong


def test_the_checker_sees_imports() -> None:
    """The walker finds relative, nested-package and absolute imports (so the rule cannot pass vacuously)."""
    assert {"client", "verify", "store", "urls"} <= imports_of(PACKAGE / "jobs.py")
    assert "errors" in imports_of(PACKAGE / "store" / "sqlite.py")
    assert {"workers", "commands"} <= imports_of(PACKAGE / "cli.py")
