"""vulture's whitelist: names that look unused to vulture but are used where it cannot look.

vulture reads this file as Python (see [tool.vulture] in pyproject.toml); `_.name` marks `name`
as used everywhere, so every entry says who uses it. Add an entry only for a caller outside
Python code (a framework, a template, a serialised record, a standard-library hook); anything
else it reports is dead code: delete it. Never run: it is not a module of the package.
"""

# ruff: noqa
# mypy: ignore-errors

# --- pydantic models whose fields are a serialised contract, built as dicts or read from JSON
# src/gitml/serve/app.py `Prediction`: /predict's answer, documented in the OpenAPI schema; the
# route builds the answer as a dict in the same field order (a test validates real bodies).
_.probability
_.predicted_class
_.model_version
# TypedDict keys of JSON contracts, written as dict literals and read by key (which vulture
# does not see): src/gitml/registry/reproduce.py `ReproductionJson` (reports/verify.json).
_.beyond_tolerance
_.within_tolerance
_.outputs_differ
# src/gitml/registry/record.py `DecisionRecord`, `RulesFrom` (reports/promotion.json, notes).
_.rules_from
_.candidate_changes_rules
# src/gitml/serve/requests.py `ServedMetadata`: GET /metadata's body, built by keyword and
# read by clients; not every field is read back by Python code.
_.git_revision
_.training_metrics
_.prediction_log
# src/gitml/core/model_meta.py: fields of models/model.json, written by train and shown by
# /metadata and the model site; not every field is read back by Python code.
_.ece_bins
_.cv_log_loss
_.train_data_sha256
_.train_positive_rate
_.libraries
_.python
# src/gitml/monitor/report.py: fields of reports/monitoring/monitoring.json, read by its renderers
# and by whoever reads the file
_.p_threshold

# --- read by Jinja templates (src/gitml/review/site/templates/*.html)
_.registered_by
_.commit_info

# --- StrEnum members offered as an option's choices (Typer lists and parses them)
_.major  # src/gitml/registry/options.py: gitml promote --bump major
_.patch  # src/gitml/registry/options.py: gitml promote --bump patch

# --- called by another program, by name
# uvicorn's factory, named as "gitml.serve.workers:app_factory" (src/gitml/serve/workers.py)
_.app_factory

# --- attributes a library reads after we set them
_.compress_type  # zipfile.ZipInfo: the canonical skops zip (src/gitml/core/model_io.py)
_.external_attr  # zipfile.ZipInfo, idem
_.preserve_quotes  # ruamel.yaml round trip (src/gitml/project/init.py)
_.binary_location  # selenium ChromeOptions (tests/e2e/browser.py)
_.whitespace_split  # shlex.shlex (tests/integration/test_workflows.py)
_.commenters  # shlex.shlex, idem

# --- standard-library hooks overridden in subclasses (http.server, html.parser)
_.log_message
_.handle_starttag
_.protocol_version
_.do_GET
_.do_POST
_.do_PATCH
_.do_DELETE
_.do_HEAD

# --- pytest fixtures requested only for their side effect (the argument itself is unused)
_.gh_cli  # tests/workflows/conftest.py: installs `gh` before the world is built


# --- FastAPI routes on an APIRouter (pyproject's ignore_decorators lists `@app.*` only)
_.admin_check  # POST /admin/check (src/gitml/serve/follow.py)
