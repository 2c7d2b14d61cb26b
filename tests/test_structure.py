"""The package's rooms import only downward, Gradio stays in the page, and the README's map is whole.

Each room (a subpackage, or a module at the top of ``resnet_viz``) says in its docstring which other
rooms it may import ("Imports from: model, probe."); this test reads the imports with ``ast`` (no
module is imported) and holds every file to its room's line.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "resnet_viz"
MAX_TOP_LEVEL_MODULES = 12
GRADIO_ROOMS = {"ui"}  # the only room that may import gradio (or gradio_client)


def room_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def room_docstring(room: str) -> str:
    path = PACKAGE / room / "__init__.py" if (PACKAGE / room).is_dir() else PACKAGE / f"{room}.py"
    return ast.get_docstring(ast.parse(path.read_text())) or ""


def allowed_imports(room: str) -> set[str]:
    match = re.search(r"^Imports from: (.*)\.$", room_docstring(room), re.MULTILINE)
    assert match, f"the docstring of room {room!r} must say which rooms it imports ('Imports from: ...')"
    text = match.group(1).strip()
    return set() if text.startswith("nothing") else {name.strip() for name in text.split(",")}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute dotted name) of every import in ``path``; ``from . import x`` names ``pkg.x``."""
    package = ["resnet_viz", *path.relative_to(PACKAGE).parts[:-1]]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            if node.module is None or module == "resnet_viz":
                found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, module))
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))
ROOMS = sorted({room_of(p) for p in SOURCES})


@pytest.mark.parametrize("room", ROOMS)
def test_every_room_imports_only_the_rooms_its_docstring_names(room):
    allowed = allowed_imports(room)
    unknown = allowed - set(ROOMS)
    assert not unknown, f"room {room!r} names rooms that do not exist: {sorted(unknown)}"
    wrong = []
    for path in (p for p in SOURCES if room_of(p) == room):
        for line, module in imported_modules(path):
            parts = module.split(".")
            if parts[0] == "resnet_viz" and len(parts) > 1 and parts[1] != room and parts[1] not in allowed:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
            if parts[0] in ("gradio", "gradio_client") and room not in GRADIO_ROOMS:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module} (only {sorted(GRADIO_ROOMS)} may)")
    assert not wrong, f"room {room!r} may import only {sorted(allowed) or 'nothing'}:\n" + "\n".join(wrong)


def test_the_rooms_import_each_other_without_a_cycle():
    graph = {room: allowed_imports(room) for room in ROOMS}
    done: set[str] = set()

    def visit(room: str, path: tuple[str, ...]) -> None:
        assert room not in path, f"rooms import each other in a circle: {' -> '.join(path + (room,))}"
        if room not in done:
            for other in graph[room]:
                visit(other, path + (room,))
            done.add(room)

    for room in ROOMS:
        visit(room, ())


def test_the_top_level_stays_small():
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(modules) <= MAX_TOP_LEVEL_MODULES, modules


def readme_map() -> dict[str, set[str]]:
    """The README's layout block: room -> the module files it lists ("" for the top level)."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"^## Layout\n.*?^```\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert block, "README.md needs a '## Layout' section with the package map in a code block"
    listed: dict[str, set[str]] = {}
    room = None
    for line in block.group(1).splitlines():
        entry = re.match(r"^( *)(\S+)", line)
        if not entry:
            continue
        indent, name = len(entry.group(1)), entry.group(2)
        if indent == 0:
            room = "" if name == "resnet_viz/" else None
        elif room is not None and indent == 2:
            if name.endswith("/"):
                room = name[:-1]
                listed.setdefault(room, set())
            else:
                room = ""
                listed.setdefault("", set()).add(name)
        elif room is not None and indent == 4:
            listed.setdefault(room, set()).add(name)
    return listed


def test_the_readme_map_lists_every_module():
    actual: dict[str, set[str]] = {}
    for path in SOURCES:
        rel = path.relative_to(PACKAGE)
        room = rel.parts[0] if len(rel.parts) > 1 else ""
        if room and rel.name == "__init__.py":
            continue  # a room's own line in the map stands for its __init__
        actual.setdefault(room, set()).add("/".join(rel.parts[1:]) if room else rel.name)
    listed = readme_map()
    for room in sorted(set(actual) | set(listed)):
        missing, stale = actual.get(room, set()) - listed.get(room, set()), listed.get(room, set()) - actual.get(room, set())
        where = f"resnet_viz/{room}/" if room else "resnet_viz/"
        assert not missing, f"README's layout does not list {sorted(missing)} under {where}"
        assert not stale, f"README's layout lists {sorted(stale)} under {where}, which do not exist"
