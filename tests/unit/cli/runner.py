"""Run the `gitml` Typer app in-process (typer.testing.CliRunner), the way a shell would."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import typer
import yaml
from typer.testing import CliRunner, Result

from gitml.cli import app
from tests.helpers import every_default

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_BOX = re.compile(r"[\u2500-\u257f]+")  # box drawing: panels and tables


def gitml(*args: str) -> Result:
    """`gitml ARGS` with a wide, colourless terminal, so help text is not cut or coloured."""
    env = {"COLUMNS": "160", "TERMINAL_WIDTH": "160", "NO_COLOR": "1", "FORCE_COLOR": None}
    return CliRunner().invoke(app, list(args), prog_name="gitml", env=env)


def flat(text: str) -> str:
    """Help or error text as one line: rich's boxes and wrapping (and any colour) taken out."""
    return " ".join(_BOX.sub(" ", _ANSI.sub("", text)).split())


@functools.cache
def click_app() -> Any:
    """The Click command tree Typer builds from the app (once: it takes a tenth of a second)."""
    return typer.main.get_command(app)


def commands(group: Any = None, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group of the app by its words, e.g. ("monitor", "alert")."""
    group = click_app() if group is None else group
    found = []
    for name, sub in getattr(group, "commands", {}).items():
        found.append((*prefix, name))
        found += commands(sub, (*prefix, name))
    return found


def command(words: tuple[str, ...]) -> Any:
    """The Click command behind `gitml WORDS`."""
    found = click_app()
    for word in words:
        found = found.commands[word]
    return found


def listed(help_text: str) -> dict[str, list[str]]:
    """The commands a help screen lists, by panel: {"Registry": ["promote", ...], ...}."""
    panels: dict[str, list[str]] = {}
    current = None
    for line in _ANSI.sub("", help_text).splitlines():
        head = re.match(r"^╭─ (.+?) ─", line)
        if head:
            current = None if head.group(1) in ("Options", "Arguments") else head.group(1)
            if current is not None:
                panels[current] = []
            continue
        row = re.match(r"^│ ([a-z][\w-]*) {2,}\S", line)
        if row and current is not None:
            panels[current].append(row.group(1))
    return panels


def write_params(folder: Path, **sections: Any) -> Path:
    """A valid params.yaml (every default) in FOLDER, with these sections merged in."""
    params = every_default()
    for name, values in sections.items():
        params[name] = {**params.get(name, {}), **values}
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path
