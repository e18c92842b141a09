"""The README's command table is the CLI's: every command of `gitml --help`, in its groups and
in their order (issue 25: `harvest` was missing and Scale came before Monitor)."""

from __future__ import annotations

import re
from typing import Any

import click
import typer

from gitml.cli import app
from gitml.cli.pipeline import STAGES
from tests.docs.generate import ROOT


def cli_groups() -> dict[str, set[str]]:
    """Panel -> top-level command names, panels in the order `gitml --help` shows them (each
    stage's own command is covered by the README's `gitml stage NAME` / `gitml NAME` row)."""
    group: Any = typer.main.get_command(app)
    ctx = click.Context(group)
    panels: dict[str, set[str]] = {}
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        panel = getattr(command, "rich_help_panel", None) or "Commands"
        if name not in STAGES or hasattr(command, "commands"):  # `gitml tune worker`: a group
            panels.setdefault(panel, set()).add(name)
    return panels


def readme_groups() -> dict[str, set[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("| group | command | what it does |", 1)[1].split("\n\n", 1)[0]
    groups: dict[str, set[str]] = {}
    current = ""
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        current = cells[0] or current
        first = re.match(r"`gitml ([a-z-]+)", cells[1])
        assert first, line
        groups.setdefault(current, set()).add(first.group(1))
    return groups


def test_the_readme_lists_every_command_in_the_cli_s_groups_and_order() -> None:
    cli, readme = cli_groups(), readme_groups()
    assert list(readme) == list(cli)
    for panel, names in cli.items():
        assert readme[panel] == names, panel
