"""Command groups that import a command's module only when that command runs (`--help` stays fast)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True)
class Lazy:
    """A command known by name and help text until it runs: then `module:attribute` is imported. The
    attribute is a `typer.Typer` (a group, or one command) or a plain command function."""

    name: str
    target: str
    help: str
    panel: str | None = None

    def load(self) -> Any:
        module, _, attribute = self.target.partition(":")
        found = getattr(importlib.import_module(module), attribute)
        if isinstance(found, typer.Typer):
            command = typer.main.get_command(found)
        else:
            one = typer.Typer()
            one.command(self.name)(found)
            command = typer.main.get_command(one)
        command.name = self.name
        if self.panel is not None:
            command.rich_help_panel = self.panel  # type: ignore[attr-defined]  # read by typer's help
        return command

    def placeholder(self) -> TyperCommand:
        """What a listing shows: the name and help, nothing imported."""
        return TyperCommand(self.name, help=self.help, rich_help_panel=self.panel)


class LazyGroup(TyperGroup):
    """A group whose `lazy` commands are imported when resolved to run (or for their own `--help`);
    listing them for the group's help imports nothing. `merge` names a Typer group (`module:attribute`)
    whose own commands are added beside, imported only when one of them is asked for."""

    lazy: tuple[Lazy, ...] = ()
    merge: str | None = None

    def _entry(self, name: str) -> Lazy | None:
        return next((entry for entry in self.lazy if entry.name == name), None)

    def _merged(self) -> Any:
        if self.merge is None:
            return None
        if not hasattr(self, "_merged_group"):
            self._merged_group = Lazy(self.name or "", self.merge, "").load()
        return self._merged_group

    def list_commands(self, ctx: Any) -> list[str]:
        names = [*super().list_commands(ctx), *(entry.name for entry in self.lazy)]
        merged = self._merged()
        if merged is not None:
            names += [name for name in merged.list_commands(ctx) if name not in names]
        return names

    def get_command(self, ctx: Any, name: str) -> Any:
        found = super().get_command(ctx, name)
        if found is not None:
            return found
        entry = self._entry(name)
        if entry is not None:
            return entry.placeholder()
        merged = self._merged()
        return merged.get_command(ctx, name) if merged is not None else None

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name, command, rest = super().resolve_command(ctx, args)
        entry = self._entry(name) if name is not None else None
        if entry is not None and name not in self.commands:
            command = entry.load()
        return name, command, rest


def lazy_group(*commands: Lazy, merge: str | None = None, base: type[TyperGroup] = LazyGroup) -> type[Any]:
    """A LazyGroup class holding `commands` (typer takes a group's class, not an instance)."""
    return type("Lazy" + base.__name__, (base,), {"lazy": commands, "merge": merge})
