"""Choices of the serve commands' options, in a module light enough for the CLI to import at
start-up (Typer reads them to validate the option and list the choices in --help)."""

from __future__ import annotations

from enum import StrEnum


class OnError(StrEnum):
    """What `gitml predict` does with rows that break the data contract (`--on-error`)."""

    fail = "fail"  # stop, write nothing
    skip = "skip"  # leave them out of the output, report them
