"""Every construction of a TrainerOpsError (or subclass) in src/, found with `ast`: the reason it
raises, its class, and where. Shared by the error-table test; no imports of the server needed."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "trainer_ops"
BASE = "TrainerOpsError"


@dataclass(frozen=True)
class Site:
    reason: str
    cls: str
    where: str  # path:line
    fault: bool | str | None  # the `fault=` keyword: a literal, None when absent, COMPUTED otherwise


COMPUTED = "computed"


@cache  # src/ is parsed once per process: each of the ~170 parametrised tests asks
def _trees() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(), str(path)) for path in sorted(SRC.rglob("*.py"))}


def error_classes(trees: dict[Path, ast.Module]) -> set[str]:
    """TrainerOpsError and every class deriving from it, by name, across src/."""
    names = {BASE}
    grew = True
    while grew:
        grew = False
        for tree in trees.values():
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.name not in names:
                    bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
                    if bases & names:
                        names.add(node.name)
                        grew = True
    return names


def _literal_tables(tree: ast.Module) -> dict[str, list[str]]:
    """Module-level `NAME = {key: "literal", ...}`: a reason looked up in one is one of its values."""
    tables: dict[str, list[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Dict):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            values = [v.value for v in node.value.values if isinstance(v, ast.Constant)]
            if len(values) == len(node.value.values) and all(isinstance(v, str) for v in values):
                for target in targets:
                    if isinstance(target, ast.Name):
                        tables[target.id] = [str(v) for v in values]
    return tables


def _reasons(arg: ast.expr | None, tables: dict[str, list[str]], where: str) -> list[str]:
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return [arg.value]
    if isinstance(arg, ast.Subscript) and isinstance(arg.value, ast.Name) and arg.value.id in tables:
        return tables[arg.value.id]
    shown = ast.unparse(arg) if arg is not None else "nothing"
    raise AssertionError(f"{where}: the reason {shown} is neither a literal nor a lookup in a literal table")


def _fault(call: ast.Call) -> bool | str | None:
    given = next((k.value for k in call.keywords if k.arg == "fault"), None)
    if given is None:
        return None
    if isinstance(given, ast.Constant) and isinstance(given.value, bool):
        return given.value
    return COMPUTED


def sites() -> list[Site]:
    trees = _trees()
    classes = error_classes(trees)
    found = []
    for path, tree in trees.items():
        tables = _literal_tables(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            if name not in classes:
                continue
            where = f"{path.relative_to(SRC.parent)}:{node.lineno}"
            first = (
                node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "code"), None)
            )
            fault = _fault(node)
            found += [Site(reason, name, where, fault) for reason in _reasons(first, tables, where)]
    return found


@cache
def class_modules() -> dict[str, str]:
    """Each error class defined in src/: its dotted module, to import it."""
    trees = _trees()
    classes = error_classes(trees)
    found: dict[str, str] = {}
    for path, tree in trees.items():
        module = ".".join(path.relative_to(SRC.parent).with_suffix("").parts)
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and node.name in classes:
                assert node.name not in found, f"two error classes named {node.name}"
                found[node.name] = module
    return found
