"""Errors a user can act on. The CLI prints their message (no traceback) and exits with `code`."""

from __future__ import annotations


class GitmlError(Exception):
    """Base class: a problem with the user's input, not a bug in gitml."""

    code = 1


class ConfigError(GitmlError):
    """params.yaml (or another config file) is invalid. Exit code 2, like a usage error."""

    code = 2


class DataError(GitmlError):
    """A data file cannot be read or breaks the data contract."""

    code = 1
