"""Which model to serve, and proof that it is the one that was recorded.

Three sources, one result (`ResolvedModel`):

- the workspace (no flag): models/model.skops + models/model.json as `dvc repro` left them;
- `--model PATH`: a model file with its metadata beside it (PATH with suffix .json);
- `--stage prod` / `--version vX.Y.Z`: the GTO tag's commit; the model file at that commit
  through DVC (cache or remote), checked against the md5 dvc.lock recorded at that commit, then
  against the sha256 train wrote into model.json; the schema file at that commit, checked
  against model.json's schema_sha256. With `release` (`--model-source release --github-repo
  OWNER/NAME`) the model file and its model.json come from the version's GitHub release instead,
  where the tag's sha256 is the authority (gitml.serve.release says why); the schema, the
  metrics and the example row still come from the version's commit.

Only then is the file loaded, with skops and the explicit allowlist in gitml.core.model_io.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

from gitml import layout
from gitml.config import load_params
from gitml.core.model_io import load_model
from gitml.core.model_meta import ModelMeta
from gitml.core.schema import load as load_schema
from gitml.errors import ConfigError, DataError
from gitml.io.git import dvc_reader, git, locked_md5, read_git_file
from gitml.registry import versions as registry
from gitml.serve.requests import ColumnSpec, column_specs, example_row

WORKSPACE = "workspace"
DvcRead = Callable[[str | Path], bytes]  # gitml.io.git.dvc_reader's: a file at one revision


@dataclass
class ResolvedModel:
    model: Pipeline
    metadata: ModelMeta
    specs: tuple[ColumnSpec, ...]
    # "v0.2.0" (also for a file whose sha256 that version's tag records), "workspace", or the path
    version: str
    source: str  # human-readable: where it came from
    revision: str | None  # git commit, when known
    metrics: dict[str, Any] | None = None
    schema_yaml: str = ""
    example: dict[str, Any] = field(default_factory=dict)
    known_categories: dict[str, frozenset[str]] = field(default_factory=dict)
    # the target's class names (the schema's isin) -> 0/1, for POST /feedback's label
    class_labels: dict[str, int] = field(default_factory=dict)

    @property
    def threshold(self) -> float:
        return self.metadata.binary_threshold

    @property
    def derived(self) -> list[str]:
        return list(self.metadata.derived_features)

    @property
    def own_names(self) -> dict[str, str]:
        """Canonical input name -> the user's own name, where ingest renamed it."""
        return {s.name: s.original for s in self.specs if s.original}

    @property
    def own_example(self) -> dict[str, Any]:
        """The example row in the user's own column names (requests accept either)."""
        return {self.own_names.get(k, k): v for k, v in self.example.items()}

    @property
    def feature_order(self) -> list[str]:
        return [str(c) for c in self.model.feature_names_in_]


def resolve(
    repo: Path | str = ".",
    *,
    stage: str | None = None,
    version: str | None = None,
    model_path: Path | None = None,
    params_path: Path = layout.PARAMS,
    release: str | None = None,
) -> ResolvedModel:
    """Find, verify and load the model; GitmlError with what to do when any step fails.
    `release`: the GitHub repository (OWNER/NAME) whose release assets hold the model."""
    repo = Path(repo)
    if sum(x is not None for x in (stage, version, model_path)) > 1:
        raise ConfigError("give at most one of --stage, --version and --model")
    if stage is not None or version is not None:
        return _from_registry(repo, stage, version, release)
    if release is not None:
        raise ConfigError(
            "--model-source release serves a registered version: give --stage or --version"
        )
    path = model_path if model_path is not None else repo / layout.MODEL
    meta_path = path.with_suffix(".json")
    metadata = _metadata(meta_path.read_bytes() if meta_path.is_file() else None, str(meta_path))
    schema_file = repo / load_params(repo / params_path).validate_.schema_file
    schema_text = _read_text(schema_file)
    model = load_model(path, expected_sha256=metadata.model_sha256)
    name = WORKSPACE if model_path is None else _file_version(repo, metadata, model_path)
    revision = git(repo, "rev-parse", "HEAD", check=False) or None
    train = repo / layout.SPLIT_DIR / "train.parquet"
    example = _example(train.read_bytes() if train.is_file() else None)
    return _finish(model, metadata, schema_text, name, str(path), revision, example, repo, None)


def _file_version(repo: Path, metadata: ModelMeta, path: Path) -> str:
    """A model file served by path answers as the version whose tag records its sha256 (what
    deploy serves), else as its path."""
    from gitml.registry.servable import version_with_sha256

    return version_with_sha256(repo, metadata.model_sha256) or str(path)


def _from_registry(
    repo: Path, stage: str | None, version: str | None, release: str | None
) -> ResolvedModel:
    if stage is not None:
        found = registry.find_stage(repo, stage)
        if found is None:
            raise DataError(
                f"no model version is in stage {stage!r} yet (see `gto show`); serve the "
                "workspace model (no flag) or a --version"
            )
    else:
        assert version is not None
        found = registry.find_version(repo, version)
    rev = found.commit
    with dvc_reader(repo, rev) as dvc:  # one DVC repository open for every file
        if release is not None:
            from gitml.serve.release import model_from_release, release_tag

            raw, meta_raw = model_from_release(repo, found, release)
            meta_where = f"{layout.MODEL_META.name} of release {release_tag(found.version)}"
        else:
            raw = _committed_model(repo, found, dvc)
            meta_raw, meta_where = (
                _read_at(repo, rev, layout.MODEL_META, dvc),
                f"{layout.MODEL_META}@{rev[:10]}",
            )
        metadata = _metadata(meta_raw, meta_where)
        params_text = read_git_file(repo, rev, layout.PARAMS).decode()
        import yaml

        schema_rel = (
            (yaml.safe_load(params_text) or {})
            .get("validate", {})
            .get("schema_file", "schema/adult.schema.yaml")
        )
        schema_text = read_git_file(repo, rev, schema_rel).decode()
        try:
            train_bytes: bytes | None = dvc(layout.SPLIT_DIR / "train.parquet")
        except DataError:
            train_bytes = None
        metrics_raw = _try_read_at(repo, rev, layout.METRICS, dvc)
    with tempfile.TemporaryDirectory(prefix="gitml-serve-") as tmp:
        path = Path(tmp) / "model.skops"
        path.write_bytes(raw)
        model = load_model(path, expected_sha256=metadata.model_sha256)
    metrics = json.loads(metrics_raw) if metrics_raw else None
    src = f"{found.artifact}@{found.version}" + (f" (stage {stage})" if stage else "")
    src += f" from the GitHub release of {release}" if release else ""
    return _finish(
        model, metadata, schema_text, found.version, src, rev, _example(train_bytes), None, metrics
    )


def _committed_model(repo: Path, found: registry.ModelVersion, dvc: DvcRead) -> bytes:
    """The model file at the version's commit through DVC, checked against dvc.lock's md5."""
    rev = found.commit
    raw = dvc(layout.MODEL)
    recorded = locked_md5(repo, rev, layout.MODEL)
    if recorded is None:
        raise DataError(f"dvc.lock at {rev[:10]} records no hash for {layout.MODEL}; cannot verify")
    actual = hashlib.md5(raw).hexdigest()  # DVC's content hash (md5), not a security hash here
    if actual != recorded:
        raise DataError(
            f"{layout.MODEL} at {found.version} ({rev[:10]}): md5 {actual[:12]}… does not match "
            f"dvc.lock's {recorded[:12]}…; refusing to serve a model that differs from the "
            "recorded one (run `dvc pull`, or check the DVC remote)"
        )
    return raw


def _finish(
    model: Pipeline,
    metadata: ModelMeta,
    schema_text: str,
    version: str,
    source: str,
    revision: str | None,
    example: dict[str, Any] | None,
    repo: Path | None,
    metrics: dict[str, Any] | None,
) -> ResolvedModel:
    expected_schema = metadata.schema_sha256
    actual_schema = hashlib.sha256(schema_text.encode()).hexdigest()
    if expected_schema and actual_schema != expected_schema:
        raise DataError(
            f"the schema file differs from the one model {version} was trained with "
            f"(sha256 {actual_schema[:12]}… vs {expected_schema[:12]}…); requests would be "
            "checked against the wrong contract. Run `dvc repro` or serve a matching version."
        )
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        fh.write(schema_text)
    try:
        schema = load_schema(fh.name)
    finally:
        Path(fh.name).unlink()
    target = metadata.target or ""
    specs = column_specs(schema, {target})
    needed = set(model.feature_names_in_) - set(metadata.derived_features)
    missing = sorted(needed - {s.name for s in specs})
    if missing:
        raise DataError(f"model {version} needs columns {missing} that the schema does not define")
    own = metadata.original_names  # the user's own column names, where ingest renamed them
    specs = tuple(replace(s, original=own.get(s.name)) for s in specs if s.name in needed)
    if metrics is None and repo is not None:
        path = repo / layout.METRICS
        metrics = json.loads(path.read_text()) if path.is_file() else None
    resolved = ResolvedModel(
        model, metadata, specs, version, source, revision, metrics, schema_text
    )
    row = {k: v for k, v in (example or {}).items() if k in needed}
    resolved.example = row if len(row) == len(specs) else example_row(specs)
    resolved.known_categories = known_categories(model)
    resolved.class_labels = _class_labels(schema, target, metadata.positive_class)
    return resolved


def _class_labels(schema: Any, target: str, positive: object) -> dict[str, int]:
    """{class name: 0 or 1} from the target's allowed values when they are two, one of them the
    positive class (`yes` -> 1, `no` -> 0); else {} (feedback then takes 0/1 only)."""
    from gitml.core import labels

    column = schema.columns.get(target)
    allowed = [
        str(v)
        for check in getattr(column, "checks", None) or []
        if check.name == "isin"
        for v in check.statistics.get("allowed_values", [])
    ]
    if positive is None or len(allowed) != 2:
        return {}
    found = {v: int(labels.matches(v, positive)) for v in allowed}  # type: ignore[arg-type]
    return found if sorted(found.values()) == [0, 1] else {}


def known_categories(model: Pipeline) -> dict[str, frozenset[str]]:
    """Categories each column's fitted encoder saw in training (column -> values)."""
    out: dict[str, frozenset[str]] = {}
    pre = model.steps[0][1]
    for _, trans, cols in getattr(pre, "transformers_", []):
        encoders = [trans] + [s for _, s in getattr(trans, "steps", [])]
        for enc in encoders:
            cats = getattr(enc, "categories_", None)
            if cats is not None and isinstance(cols, list | tuple) and len(cols) == len(cats):
                for col, values in zip(cols, cats, strict=True):
                    out[str(col)] = frozenset(str(v) for v in values if isinstance(v, str))
    return out


def _metadata(raw: bytes | None, where: str) -> ModelMeta:
    if raw is None:
        raise DataError(f"{where}: model metadata not found; run `dvc repro` (or `dvc pull`)")
    return ModelMeta.parse(raw, where)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        raise ConfigError(f"{path}: schema file not found (validate.schema_file)") from None


def _read_at(repo: Path, rev: str, path: Path, dvc: DvcRead) -> bytes:
    """A pipeline output at a revision: from git when committed (cache: false), else DVC."""
    try:
        return read_git_file(repo, rev, path)
    except DataError:
        return dvc(path)


def _try_read_at(repo: Path, rev: str, path: Path, dvc: DvcRead) -> bytes | None:
    try:
        return _read_at(repo, rev, path, dvc)
    except DataError:
        return None


def _example(parquet: bytes | None) -> dict[str, Any] | None:
    if parquet is None:
        return None
    import io

    row = pd.read_parquet(io.BytesIO(parquet)).head(1)
    if row.empty:
        return None
    # Through JSON: plain Python numbers and None for missing values, as a client would send.
    records: list[dict[str, Any]] = json.loads(row.to_json(orient="records"))
    return records[0]
