"""The root `gitml` Typer app and what every command shares: consoles, the error handler, the
params option.

Exit codes (decided once, in `exit_code`): 0 success, 1 the data or a check failed, 2 bad
configuration or usage, 3 something needed is unavailable (a server, a database, a remote).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar, overload

import typer
from rich.console import Console
from rich.markup import escape

from gitml import __version__
from gitml.config import Params, load_params
from gitml.errors import GitmlError

out = Console()
err = Console(stderr=True)

app = typer.Typer(
    help=(
        "gitml — a reproducible ML pipeline driven by params.yaml and dvc.yaml.\n\n"
        "Run the whole pipeline with `dvc repro` (or `make repro`); each stage is also a command "
        "here (`gitml stage NAME` or `gitml NAME`), which is what dvc.yaml calls."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
stage_app = typer.Typer(help="Run one pipeline stage (what dvc.yaml calls).", no_args_is_help=True)
schema_app = typer.Typer(
    help="Draft and check the data contract (pandera schema).", no_args_is_help=True
)
app.add_typer(stage_app, name="stage", rich_help_panel="Pipeline")
app.add_typer(schema_app, name="schema", rich_help_panel="Pipeline")

F = TypeVar("F", bound=Callable[..., Any])
ParamsOpt = Annotated[Path, typer.Option("--params", "-p", help="the params file")]


def exit_code(exc: GitmlError, *, one_is_an_alarm: bool = False) -> int:
    """The exit code of every command, decided here (docs/design.md, "Exit codes"): 2 bad
    configuration or usage; 3 could not run (something outside gitml failed, or the monitor
    could not judge); 1 bad data or a failed check, except in a command whose 1 means an alarm,
    where any error is 3 so that it is never read as one."""
    from gitml.errors import ConfigError, UnavailableError
    from gitml.monitor.common import MonitorError

    if isinstance(exc, ConfigError):
        return 2
    if isinstance(exc, UnavailableError | MonitorError) or one_is_an_alarm:
        return 3
    return 1


@overload
def handle_errors(fn: F) -> F: ...
@overload
def handle_errors(*, one_is_an_alarm: bool = False) -> Callable[[F], F]: ...
def handle_errors(fn: F | None = None, *, one_is_an_alarm: bool = False) -> Any:
    """Turn a GitmlError into its message on stderr and its exit code (`exit_code`); no
    traceback. `@handle_errors`, or `@handle_errors(one_is_an_alarm=True)` for a command whose
    exit 1 means an alarm."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except GitmlError as exc:
                err.print(
                    f"[bold red]error:[/] {escape(str(exc))}",
                    markup=True,
                    highlight=False,
                    soft_wrap=True,
                )
                raise typer.Exit(exit_code(exc, one_is_an_alarm=one_is_an_alarm)) from None

        return wrapper  # type: ignore[return-value]

    return decorate if fn is None else decorate(fn)


def load(path: Path) -> Params:
    return load_params(path)


def _version(value: bool) -> None:
    if value:
        out.print(f"gitml {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version")
    ] = False,
) -> None:
    pass
