"""dvc.yaml must match the code: the commands it calls, the paths the stages write."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import yaml

from gitml import layout
from gitml.cli import pipeline as cli
from gitml.config import Params

ROOT = Path(__file__).resolve().parents[3]
PIPELINE = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def _paths(entries: list[object]) -> set[str]:
    out = set()
    for entry in entries:
        out.add(next(iter(entry)) if isinstance(entry, dict) else str(entry))
    return out


def _outs(stage: dict[str, object]) -> set[str]:
    found: set[str] = set()
    for key in ("outs", "metrics", "plots"):
        found |= _paths(stage.get(key, []))  # type: ignore[arg-type]
    return found


def test_every_stage_calls_its_gitml_command() -> None:
    stages = {name: s for name, s in PIPELINE.items() if name != "check_params"}
    assert list(stages) == list(cli.STAGES), "dvc.yaml stages and `gitml stage` commands differ"
    for name, stage in stages.items():
        assert stage["cmd"] == f"gitml stage {name}"


def _module_files(graph: grimp.ImportGraph, module: str) -> set[str]:
    """The source files of `module` and of every gitml module it imports, directly or not."""
    files = set()
    for m in graph.find_upstream_modules(module) | {module}:
        path = Path("src", *m.split("."))
        files.add(str(path / "__init__.py") if (ROOT / path).is_dir() else f"{path}.py")
    return files


def test_each_stage_depends_on_exactly_the_code_it_runs() -> None:
    """An edit to any module a stage imports reruns it; an edit elsewhere does not."""
    graph = grimp.build_graph("gitml")
    for name, stage in PIPELINE.items():
        module = "gitml.config" if name == "check_params" else f"gitml.pipeline.{name}"
        code = {d for d in stage["deps"] if d.startswith("src/")}
        assert code == _module_files(graph, module), name


def test_only_the_headline_metrics_are_declared_as_metrics() -> None:
    """`dvc exp show` shows a column per number of every `metrics:` file: with the slices, the
    leakage AUCs and the tune summary there were about 150 and the test metrics fell out of
    view (issue 25). Those files are plain outputs; their readers go by path."""
    declared = {name: _paths(stage.get("metrics", [])) for name, stage in PIPELINE.items()}
    assert {name: paths for name, paths in declared.items() if paths} == {
        "evaluate": {layout.METRICS.as_posix()}
    }


def test_stage_outputs_are_the_layout_paths() -> None:
    expected = {
        "ingest": {layout.INGESTED, layout.COLUMN_NAMES},
        "validate": {layout.VALIDATED, layout.VALIDATION_REPORT},
        "split": {layout.SPLIT_DIR / f"{n}.parquet" for n in ("train", "test", "recent")},
        "featurize": {layout.FEATURES_DIR / f"{n}.parquet" for n in ("train", "test", "recent")},
        "tune": {layout.TUNE_DIR / f for f in ("summary.json", "trials.csv", "history.csv")},
        "train": {layout.MODEL, layout.MODEL_META},
        "evaluate": {layout.PREDICTIONS}
        | {
            layout.EVALUATE_DIR / f
            for f in (
                "metrics.json",
                "slices.json",
                "recent.json",
                "importance.csv",
                "checks.json",
                "evaluation.md",
                "plots/sklearn/roc.json",
                "plots/sklearn/precision_recall.json",
                "plots/sklearn/calibration.json",
                "plots/sklearn/confusion_matrix.json",
            )
        },
    }
    for name, paths in expected.items():
        assert _outs(PIPELINE[name]) == {str(p) for p in paths}, name


def test_each_stage_input_is_an_upstream_output() -> None:
    produced = set().union(*(_outs(s) for s in PIPELINE.values()))
    for name, stage in PIPELINE.items():
        for dep in stage.get("deps", []):
            if dep.startswith(("data/", "models/", "reports/")) and dep != "data/raw":
                assert dep in produced, f"{name} depends on {dep}, which no stage writes"


def test_tracked_params_exist() -> None:
    """A tracked key that is not in Params would make DVC watch nothing."""
    fields = Params.model_fields
    sections = {f.alias or n: f.annotation for n, f in fields.items()}
    for name, stage in PIPELINE.items():
        for key in stage.get("params", []):
            section, _, sub = key.partition(".")
            assert section in sections, f"{name}: unknown section {section}"
            if sub:
                model = sections[section]
                assert sub in model.model_fields, f"{name}: unknown key {key}"  # type: ignore[union-attr]


def test_cli_reads_only_layout_paths() -> None:
    """No stage command hard-codes a path of its own: they all come from gitml.layout."""
    trees = [ast.parse(p.read_text()) for p in (ROOT / "src/gitml/cli").glob("*.py")]
    literals = [
        n.value
        for tree in trees
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant)
        and isinstance(n.value, str)
        and n.value.startswith(("data/", "models/", "reports/"))
    ]
    assert literals == []


def test_the_schema_dep_is_the_file_params_names() -> None:
    """`gitml init` points validate.schema_file at a new file: the stages that read the schema
    must follow it (a DVC template), not a hard-coded Adult path."""
    readers = {"check_params", "validate", "train"}
    for name, stage in PIPELINE.items():
        deps = [str(d) for d in stage.get("deps", [])]
        assert not [d for d in deps if d.startswith("schema/")], name
        assert ("${validate.schema_file}" in deps) == (name in readers), name
    assert "schema_file" in yaml.safe_load((ROOT / "params.yaml").read_text())["validate"], (
        "dvc.yaml interpolates validate.schema_file: params.yaml must spell it out"
    )


def test_dvc_resolves_the_schema_dep_from_params(tmp_path: Path) -> None:
    """DVC 3 fills `${validate.schema_file}` from params.yaml: a renamed schema is tracked."""
    import shutil

    from dvc.repo import Repo

    from tests.helpers import default_params, run

    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    params = default_params()
    params["validate"]["schema_file"] = "schema/mine.schema.yaml"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    run(["git", "init", "-q"], tmp_path)
    run(["dvc", "init", "-q"], tmp_path)
    with Repo(str(tmp_path)) as repo:
        stages = {s.name: s for s in repo.index.stages}
        deps = {str(d.def_path) for d in stages["validate"].deps}
    assert "schema/mine.schema.yaml" in deps


def test_dvc_exp_run_set_param_changes_one_line_of_params_yaml(tmp_path: Path) -> None:
    """`dvc exp run -S key=value` rewrites params.yaml through ruamel (quotes, null, list
    style): params.yaml is written the way DVC writes it, so the diff is the one value set
    (it was 40 lines, issue 25)."""
    import difflib

    from dvc.utils.hydra import apply_overrides

    from tests.helpers import DEFAULT_PARAMS

    path = tmp_path / "params.yaml"
    before = DEFAULT_PARAMS.read_text(encoding="utf-8")
    path.write_text(before, encoding="utf-8")
    apply_overrides(path, ["evaluate.permutation_repeats=3"])
    changed = [
        line
        for line in difflib.unified_diff(before.splitlines(), path.read_text().splitlines(), n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert changed == ["-  permutation_repeats: 5", "+  permutation_repeats: 3"]
