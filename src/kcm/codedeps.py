"""Which files of `kcm` a module runs: its own file, every `kcm` module it imports (at the top or
inside a function body), transitively, and the packages' `__init__.py` on the way. The workflow
rules use this as their code inputs, so editing any of those files reruns the rule.

Read from the source with `ast`, nothing is imported. Besides import statements, a string
literal that names a `kcm` module counts (lazy imports through importlib, `python -m kcm.x`
subprocesses). The command-line modules (`kcm.cli`, `kcm.<package>.cli`) only dispatch to the
library and are never counted as a library module's dependency.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[1]


def is_cli(module: str) -> bool:
    return module in ("kcm.cli", "kcm.__main__") or module.endswith(".cli")


def module_file(module: str, src: Path = SRC) -> Path | None:
    """The file defining `module` under `src`, or None when no such kcm module exists."""
    if not all(part.isidentifier() for part in module.split(".")):
        return None
    base = src.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _packages(module: str) -> list[str]:
    """`a.b.c` -> [`a`, `a.b`]: the packages Python initialises before `module`."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _named(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """Candidate module names one node refers to (not yet checked to exist)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:  # relative: resolved against this module's package
            package = module.split(".")
            package = package if is_package else package[:-1]
            base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        # `from a import b`: b is a submodule or a name defined in a
        return [base] + [f"{base}.{alias.name}" for alias in node.names]
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("kcm."):
        return [node.value]
    return []


@cache
def direct_imports(module: str, src: Path = SRC) -> frozenset[str]:
    """The kcm modules `module` names directly (with their parent packages), cli modules left out."""
    path = module_file(module, src)
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        for name in _named(node, module, path.name == "__init__.py"):
            if name.split(".")[0] == "kcm" and module_file(name, src) and not is_cli(name):
                found.update([name, *_packages(name)])
    found.discard(module)
    return frozenset(found)


def closure(*entries: str, src: Path = SRC) -> list[str]:
    """Sorted module names that running the `entries` may execute (themselves included)."""
    seen: set[str] = set()
    todo = [name for entry in entries for name in (entry, *_packages(entry))]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        if module_file(module, src) is None:
            raise ValueError(f"{module}: no such module under {src}")
        seen.add(module)
        todo.extend(direct_imports(module, src) - seen)
    return sorted(seen)


def code_files(*entries: str, src: Path = SRC) -> list[str]:
    """The files of `closure(*entries)`, sorted: a rule's code inputs."""
    return sorted(str(module_file(module, src)) for module in closure(*entries, src=src))
