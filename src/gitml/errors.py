"""Errors a user can act on. The CLI prints their message (no traceback) and exits with the code
`gitml.cli.app.exit_code` gives each kind (docs/design.md, "Exit codes")."""

from __future__ import annotations


class GitmlError(Exception):
    """Base class: a problem with the user's input or surroundings, not a bug in gitml."""


class ConfigError(GitmlError):
    """params.yaml (or another config file, or an option) is invalid."""


class DataError(GitmlError):
    """A data file cannot be read or breaks the data contract; a check failed."""


class UnavailableError(GitmlError):
    """Something outside gitml failed or is missing: a database, a DVC or git command, a port."""
