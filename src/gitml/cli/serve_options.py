"""The options of `gitml serve`, `predict` and `smoke-test` that take more than a line, so
each command's signature fits a screen (docs/design.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gitml.serve.options import ModelSource

StageOpt = Annotated[
    str | None,
    typer.Option("--stage", help="serve the version in this GTO stage, e.g. prod"),
]
VersionOpt = Annotated[
    str | None, typer.Option("--version", help="serve this registered version, e.g. v0.2.0")
]
ModelOpt = Annotated[
    Path | None,
    typer.Option(
        "--model", help="a model file (its metadata .json beside it); default: the workspace's"
    ),
]
LogDbOpt = Annotated[
    str,
    typer.Option(
        "--log-db",
        envvar="GITML_LOG_DB",
        help="prediction log database URL (SQLAlchemy): sqlite:///… or postgresql://…",
        show_envvar=True,
    ),
]


FastPathOpt = Annotated[
    bool,
    typer.Option(
        "--fast-path/--no-fast-path",
        help="score through the model compiled to numpy (checked equal to the Pipeline at "
        "load); --no-fast-path uses the scikit-learn Pipeline itself",
    ),
]


KeysOpt = Annotated[
    Path | None,
    typer.Option(
        "--keys",
        envvar="GITML_KEYS_FILE",
        show_envvar=True,
        help="the API key file (`gitml keys create`); default .gitml/keys.json. Required off "
        "loopback; on 127.0.0.1 a server without the default file is open",
    ),
]
TlsCertOpt = Annotated[
    Path | None,
    typer.Option(
        "--tls-cert", exists=True, dir_okay=False, help="serve HTTPS: the PEM certificate (chain)"
    ),
]
TlsKeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--tls-key", exists=True, dir_okay=False, help="the unencrypted PEM key of --tls-cert"
    ),
]


# serve's options that take more than a line (the command itself then fits a screen)
MaxBodyOpt = Annotated[
    float,
    typer.Option(help="largest request body accepted, in MB; a larger one gets 413", min=0.001),
]
OpenMetricsOpt = Annotated[
    bool,
    typer.Option(
        "--open-metrics",
        help="let GET /metrics and /metadata in without a key (a scraper on a private "
        "network); by default they need the admin scope",
    ),
]
FollowOpt = Annotated[
    bool,
    typer.Option(
        "--follow",
        help="with --stage: watch the registry and swap to the version the stage moves to "
        "(promotion or rollback), after the same checks as at start",
    ),
]
IntervalOpt = Annotated[
    float, typer.Option(help="--follow: seconds between registry checks", min=1.0)
]
RemoteOpt = Annotated[
    str,
    typer.Option(
        help="--follow: the git remote to fetch the registry's tags from; its URL also names "
        "the GitHub repository of --model-source release"
    ),
]
ModelSourceOpt = Annotated[
    ModelSource,
    typer.Option(
        "--model-source",
        help="with --stage/--version: dvc = the committed model from the DVC cache or remote "
        "(md5 against dvc.lock); release = the version's GitHub release model@vX.Y.Z (sha256 "
        "against its tag; token in GH_TOKEN or GITHUB_TOKEN, API at GITHUB_API_URL)",
    ),
]
GithubRepoOpt = Annotated[
    str | None,
    typer.Option(
        "--github-repo",
        envvar="GITML_GITHUB_REPO",
        show_envvar=True,
        help="--model-source release: the GitHub repository, OWNER/NAME; default: the one "
        "--remote's URL names",
    ),
]
CanaryShareOpt = Annotated[
    float | None,
    typer.Option(
        help="--follow: share of request keys sent to the version in stage `canary`, 0..1; "
        "default promotion.canary.share of params.yaml, else 0.1",
        min=0.0,
        max=1.0,
    ),
]
WorkersOpt = Annotated[
    int,
    typer.Option(
        help="worker processes (one per core); each verifies and loads the model and "
        "writes its own share of the prediction log",
        min=1,
    ),
]
