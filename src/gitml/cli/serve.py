"""Serve commands: the HTTP service and batch prediction (simulated traffic: cli/simulate.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

import typer

from gitml import layout
from gitml.cli.app import ParamsOpt, app, err, handle_errors, load, out
from gitml.cli.serve_options import (
    CanaryShareOpt,
    FastPathOpt,
    FollowOpt,
    GithubRepoOpt,
    IntervalOpt,
    KeysOpt,
    LogDbOpt,
    MaxBodyOpt,
    ModelOpt,
    ModelSourceOpt,
    OpenMetricsOpt,
    RemoteOpt,
    StageOpt,
    TlsCertOpt,
    TlsKeyOpt,
    VersionOpt,
    WorkersOpt,
)
from gitml.serve.options import ModelSource, OnError

# `gitml serve`, `gitml predict`, `gitml simulate`: the model used by software.


def _resolve_model(
    stage: str | None,
    version: str | None,
    model: Path | None,
    params: Path,
    release: str | None = None,
) -> Any:
    from gitml.serve.resolve import resolve

    resolved = resolve(
        ".", stage=stage, version=version, model_path=model, params_path=params, release=release
    )
    err.print(
        f"model {resolved.version} from {resolved.source} "
        f"(sha256 {str(resolved.metadata.model_sha256)[:12]}…, verified; "
        + (
            f"threshold {resolved.threshold:g})"
            if resolved.metadata.task == "binary"
            else f"{resolved.metadata.task})"
        ),
        highlight=False,
        soft_wrap=True,
    )
    return resolved


@app.command("serve", rich_help_panel="Serve")
@handle_errors
def serve_cmd(
    stage: StageOpt = None,
    version: VersionOpt = None,
    model: ModelOpt = None,
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port", min=1, max=65535)] = 8000,
    log_db: LogDbOpt = "sqlite:///logs/predictions.db",
    max_body_mb: MaxBodyOpt = 10.0,
    fast_path: FastPathOpt = True,
    workers: WorkersOpt = 1,
    keys: KeysOpt = None,
    open_metrics: OpenMetricsOpt = False,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
    params: ParamsOpt = layout.PARAMS,
    follow: FollowOpt = False,
    interval: IntervalOpt = 30.0,
    remote: RemoteOpt = "origin",
    canary_share: CanaryShareOpt = None,
    model_source: ModelSourceOpt = ModelSource.dvc,
    github_repo: GithubRepoOpt = None,
) -> None:
    """Serve a model over HTTP: POST /predict, /feedback; GET /health, /ready, /metadata, /metrics.

    With no flag it serves the workspace model (models/model.skops after `dvc repro`). The model
    file's hash is checked against the one DVC/train recorded, and it is loaded with skops and an
    explicit list of trusted types; a mismatch refuses to start. Interactive docs: /docs.

    Callers send `Authorization: Bearer KEY` (`gitml keys create`); keys are required whenever
    the server listens on anything but loopback (else exit 2). `--tls-cert`/`--tls-key` serve
    HTTPS.

    With `--stage S --follow` it fetches the registry's tags every --interval seconds (and on
    SIGHUP or POST /admin/check) and swaps models between requests (docs/serving.md).
    `--model-source release` takes the model from the version's GitHub release instead of DVC.
    """
    from gitml.io.dburl import mask_url
    from gitml.logstore.logdb import check_url
    from gitml.serve.auth import Tls, check_bind
    from gitml.serve.ports import check_port

    check_url(log_db)
    access, said = check_bind(host, keys, open_metrics)
    tls = Tls.of(tls_cert, tls_key)
    release = _release_repo(model_source, github_repo, remote, stage or version)
    check_port(host, port)  # before the model: loading it takes seconds
    follow_cfg = _follow_config(stage, follow, interval, remote, canary_share, params, fast_path)
    if follow_cfg is not None:
        follow_cfg = replace(follow_cfg, release=release)
    resolved = _resolve_model(stage, version, model, params, release)
    _announce(f"{'https' if tls else 'http'}://{host}:{port}", mask_url(log_db), said, tls, host)
    max_body = int(max_body_mb * 1024 * 1024)
    run = _Listen(host, port, log_db, max_body, fast_path, access, tls, follow_cfg)
    if workers == 1:
        run.one(resolved)
    else:
        run.many(resolved, workers, stage, version, model, params, release)


@dataclass(frozen=True)
class _Listen:
    """How the server listens (checked before the model loads), for one process or several."""

    host: str
    port: int
    log_db: str
    max_body_bytes: int
    fast_path: bool
    access: Any
    tls: Any
    follow: Any

    def one(self, resolved: Any) -> None:
        from gitml.serve.app import serve

        serve(
            resolved,
            self.host,
            self.port,
            self.log_db,
            max_body_bytes=self.max_body_bytes,
            fast_path=self.fast_path,
            access=self.access,
            tls=self.tls,
            follow=self.follow,
        )

    def many(
        self,
        resolved: Any,
        workers: int,
        stage: str | None,
        version: str | None,
        model: Path | None,
        params: Path,
        release: str | None,
    ) -> None:
        """Worker processes: each resolves (and verifies) the same model again."""
        from gitml.serve import workers as multi

        multi.run(
            resolved,
            workers=workers,
            host=self.host,
            port=self.port,
            log_url=self.log_db,
            max_body_bytes=self.max_body_bytes,
            fast_path=self.fast_path,
            repo=Path(),
            stage=stage,
            version=version,
            model_path=model,
            params_path=params,
            access=self.access,
            tls=self.tls,
            follow=self.follow,
            release=release,
        )


def _release_repo(
    source: ModelSource, github_repo: str | None, remote: str, registered: str | None
) -> str | None:
    """The GitHub repository (OWNER/NAME) whose releases hold the models, for
    `--model-source release`: --github-repo, else the one the git remote's URL names."""
    if source is not ModelSource.release:
        return None
    from gitml.errors import ConfigError
    from gitml.io.git import git
    from gitml.io.github_release import check_slug, slug_of_remote

    if registered is None:
        raise ConfigError(
            "--model-source release serves a registered version: give --stage or --version"
        )
    if github_repo:
        return check_slug(github_repo)
    url = git(".", "remote", "get-url", remote, check=False) if remote else ""
    slug = slug_of_remote(url) if url else None
    if slug is None:  # the URL is not shown: it may hold a credential
        raise ConfigError(
            f"--model-source release: the git remote {remote!r} "
            f"{'names no GitHub repository' if url else 'is not there'}; give "
            "--github-repo OWNER/NAME (or GITML_GITHUB_REPO)"
        )
    return slug


def _announce(url: str, log: str, said: str, tls: Any, host: str) -> None:
    """Where the server listens, its log, who gets in, and a warning for plain HTTP off
    loopback (keys would cross the network readable)."""
    from gitml.serve.auth import is_loopback

    err.print(
        f"serving on {url} (docs /docs); prediction log {log}", highlight=False, soft_wrap=True
    )
    err.print(said, highlight=False, soft_wrap=True)
    if tls is None and not is_loopback(host):
        err.print(
            "[yellow]note:[/] plain HTTP: keys cross the network readable; use --tls-cert/"
            "--tls-key, or a reverse proxy that terminates TLS (docs/serving.md)",
            highlight=False,
            soft_wrap=True,
        )


def _follow_config(
    stage: str | None,
    follow: bool,
    interval: float,
    remote: str,
    share: float | None,
    params: Path,
    fast_path: bool,
) -> Any:
    if not follow:
        return None
    from gitml.errors import ConfigError
    from gitml.serve.follow import DEFAULT_CANARY_SHARE, FollowConfig, canary_share_from_params

    if stage is None:
        raise ConfigError("--follow follows a stage: give --stage (e.g. --stage prod)")
    if share is None:
        share = canary_share_from_params(params)
    return FollowConfig(
        repo=str(Path.cwd()),
        stage=stage,
        interval=interval,
        remote=remote or None,
        canary_share=DEFAULT_CANARY_SHARE if share is None else share,
        fast_path=fast_path,
    )


@app.command("predict", rich_help_panel="Serve")
@handle_errors
def predict_cmd(
    input_path: Annotated[Path, typer.Argument(help="rows to predict: .csv or .parquet")],
    out_path: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="output .csv or .parquet: input + the task's columns (docs/serving.md)",
        ),
    ],
    stage: StageOpt = None,
    version: VersionOpt = None,
    model: ModelOpt = None,
    on_error: Annotated[
        OnError,
        typer.Option(
            "--on-error", help="fail: stop, write nothing; skip: leave bad rows out, report them"
        ),
    ] = OnError.fail,
    chunk_rows: Annotated[int, typer.Option(help="rows per chunk (memory bound)", min=1)] = 65_536,
    fast_path: FastPathOpt = True,
    params: ParamsOpt = layout.PARAMS,
) -> None:
    """Batch predictions from a file, streamed in chunks, checked against the data contract.

    Bad rows are reported with their line number (CSV: line in the file, header = 1).
    The output appears only when the whole input went through.
    """
    from gitml.io.progress import Progress
    from gitml.serve import predict

    predict.check_paths(input_path, out_path, on_error)  # before the model: loading takes seconds
    resolved = _resolve_model(stage, version, model, params)
    markers = load(params).data.missing_markers if params.exists() else None
    total = _count_rows(input_path)
    with Progress("predict", total, unit="rows") as bar:  # off a terminal: a line every 30 s
        result = predict.run(
            resolved,
            input_path,
            out_path,
            on_error=on_error,
            missing_markers=markers,
            chunk_rows=chunk_rows,
            progress=bar.advance,
            fast_path=fast_path,
        )
    for bad in result.bad:
        err.print(f"[yellow]skipped[/] line {bad}", highlight=False, soft_wrap=True)
    if result.bad_count > len(result.bad):
        err.print(
            f"… {result.bad_count - len(result.bad)} more bad rows skipped",
            highlight=False,
            soft_wrap=True,
        )
    for col, n in sorted(result.unseen.items()):
        err.print(
            f"note: {n} row(s) with a {col} value unseen in training (accepted)",
            highlight=False,
            soft_wrap=True,
        )
    out.print(
        f"wrote {out_path}: {result.rows_out:,} of {result.rows_in:,} rows "
        f"({result.counts()}{result.bad_count:,} skipped) "
        f"in {result.seconds:.2f} s ({result.rows_per_second:,.0f} rows/s)",
        soft_wrap=True,
    )


def _count_rows(path: Path) -> int | None:
    """Rows in the input for the progress bar (Parquet: from the footer; CSV: unknown)."""
    if path.suffix.lower() in (".parquet", ".pq") and path.is_file():
        import pyarrow.parquet as pq

        try:
            return int(pq.ParquetFile(path).metadata.num_rows)
        except Exception:  # unreadable: predict.run reports it properly
            return None
    return None
