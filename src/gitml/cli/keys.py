"""`gitml keys create | list | revoke`: the API keys `gitml serve` checks (gitml.serve.keys)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gitml.cli.app import app, err, handle_errors, out
from gitml.serve.keys import DEFAULT_KEYS_FILE, ENV, Scope

keys_app = typer.Typer(
    help="API keys of `gitml serve`: create (shown once), list, revoke. The key file holds "
    "names, scopes and salted hashes, never a key.",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys", rich_help_panel="Serve")

FileOpt = Annotated[
    Path,
    typer.Option(
        "--file",
        "-f",
        envvar=ENV,
        show_envvar=True,
        help="the key file (`gitml serve --keys` reads the same)",
    ),
]


@keys_app.command("create")
@handle_errors
def create_cmd(
    name: Annotated[str, typer.Argument(help="who uses the key; recorded in every log row")],
    scope: Annotated[
        list[Scope],
        typer.Option(
            "--scope",
            "-s",
            help="what the key may do (repeatable): predict (POST /predict), feedback "
            "(POST /feedback), admin (/metadata, /metrics, the rest)",
        ),
    ],
    file: FileOpt = DEFAULT_KEYS_FILE,
) -> None:
    """Create a key and print it once (stdout; nothing else goes there): keep it secret.

    A running server picks the new key up within a second, without a restart.
    """
    from gitml.serve.keys import create

    key, entry = create(file, name, scope)
    err.print(
        f"created key {entry.name!r} (id {entry.id}, scopes {', '.join(sorted(entry.scopes))}) "
        f"in {file}; it is shown once, here:",
        highlight=False,
        soft_wrap=True,
    )
    out.print(key, highlight=False, soft_wrap=True)


@keys_app.command("list")
@handle_errors
def list_cmd(file: FileOpt = DEFAULT_KEYS_FILE) -> None:
    """The keys in the file: name, id, scopes, when each was created (never a key)."""
    from gitml.serve.keys import load

    keys = load(file)
    if not keys:
        out.print(f"{file}: no keys", highlight=False)
        return
    width = max(len(k.name) for k in keys)
    for k in keys:
        out.print(
            f"{k.name:<{width}}  {k.id}  {k.created}  {','.join(sorted(k.scopes))}",
            highlight=False,
            soft_wrap=True,
        )


@keys_app.command("revoke")
@handle_errors
def revoke_cmd(
    name: Annotated[str, typer.Argument(help="the key's name")],
    file: FileOpt = DEFAULT_KEYS_FILE,
) -> None:
    """Remove a key: running servers refuse it within a second, without a restart."""
    from gitml.serve.keys import revoke

    gone = revoke(file, name)
    out.print(f"revoked key {gone.name!r} (id {gone.id}) in {file}", highlight=False)
