"""Choices of the serve commands' options, in a module light enough for the CLI to import at
start-up (Typer reads them to validate the option and list the choices in --help)."""

from __future__ import annotations

from enum import StrEnum


class OnError(StrEnum):
    """What `gitml predict` does with rows that break the data contract (`--on-error`)."""

    fail = "fail"  # stop, write nothing
    skip = "skip"  # leave them out of the output, report them


class ModelSource(StrEnum):
    """Where `gitml serve --stage/--version` gets the model file (`--model-source`)."""

    dvc = "dvc"  # the DVC cache or remote: the committed model, checked against dvc.lock
    release = "release"  # the version's GitHub release: the judged model, checked against its tag
