"""The `gitml` command. Thin: parse, call the code that does the work, print, exit with a code.

One module per command group, each adding its commands to the root app (`gitml.cli.app`);
`gitml --help` lists them in the same groups: Pipeline, Review, Registry, Serve, Monitor, Scale.
"""

from __future__ import annotations

from gitml.cli.app import app

# Importing a group's module adds its commands; `--help` shows the groups in this order.
# isort: off
from gitml.cli import pipeline, project, review, registry, serve, simulate  # noqa: F401
from gitml.cli import keys, monitor, canary, scale  # noqa: F401
# isort: on

__all__ = ["app", "main"]


def main() -> None:
    app(prog_name="gitml")
