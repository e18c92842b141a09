"""Choices of the registry commands' options, in a module light enough for the CLI to import at
start-up (Typer reads them to validate the option and list the choices in --help)."""

from __future__ import annotations

from enum import StrEnum


class Bump(StrEnum):
    """Which SemVer part `gitml promote` raises for the new version (`--bump`)."""

    major = "major"
    minor = "minor"
    patch = "patch"
