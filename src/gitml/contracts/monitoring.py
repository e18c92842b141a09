"""reports/monitoring/monitoring.json: what `gitml monitor` found, as one typed contract.

`gitml.monitor.analyse` returns a `MonitoringReport`; the writer (`gitml.monitor.run`), the
Markdown renderer, the CLI, `gitml monitor alert`, the model site and the benchmarks read its
fields, never keys of a dict. `MonitoringReport.parse`/`read` give a file that does not fit (an
older gitml's, a hand edit) an error naming the key. Numbers are rounded to six significant
digits as they are set (`gitml.monitor.common.significant`), so the JSON stays small and stable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from gitml.errors import DataError

Number = float | None
Metrics = dict[str, Number]  # metric name -> value (None: undefined, e.g. one class only)


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReferenceInfo(_Part):
    source: str
    version: str | None = None
    commit: str | None = None
    rows: int


class CurrentInfo(_Part):
    source: str
    rows: int
    window_start: str | None = None
    window_end: str | None = None
    model_versions: dict[str, int] = {}
    logged_unseen_rows: int | None = None
    other_versions: dict[str, int] = {}  # rows left out: predicted by another model version


class Rule(_Part):
    alpha: float
    tests: int
    p_threshold: Number
    psi_threshold: float
    missing_rate_delta: float
    max_unseen_share: float
    text: str


class FeatureDrift(_Part):
    """One model feature (or the score) against its reference."""

    name: str
    kind: str
    test: str
    statistic: Number
    p_value: Number
    psi: Number
    ref_missing_rate: Number
    cur_missing_rate: Number
    missing_p_value: Number
    unseen_share: Number
    unseen_values: list[str]
    rows: int
    bins: list[str]
    ref_shares: list[Number]
    cur_shares: list[Number]
    alarms: list[str]


class Quality(_Part):
    """Live quality on the rows with feedback, against the evaluation."""

    rows: int
    live: Metrics = {}
    evaluation: Metrics = {}
    alarms: list[str] = []


class PriorReport(_Part):
    """The share of positives estimated from the scores, and whether it is a label shift."""

    method: str
    reference: Number
    estimated: Number
    worst_input: str | None = None
    worst_input_psi: Number = None
    fits_label_shift: bool | None = None
    label_shift: bool = False


class Feedback(_Part):
    rows: int
    estimated: Metrics
    realized: Metrics
    band: Metrics


class Estimate(_Part):
    """Estimated performance before labels (CBPE), its band, the label shift and the alarms."""

    method: str
    metric: str
    threshold: float | None  # binary's decision threshold; None for multiclass and regression
    rows: int
    band_sigmas: float
    estimated: Metrics
    band: Metrics
    reference: Metrics  # the same estimate on the evaluation's test-split scores
    evaluation: Metrics  # the evaluation's realized metrics
    calibration: str
    prior: PriorReport | None = None
    feedback: Feedback | None = None
    alarms: list[str] = []


class ContractColumn(_Part):
    rows: int
    rules: list[str]
    examples: list[str]


class Contract(_Part):
    rows: int
    invalid_rows: int = 0
    share: float = 0.0
    columns: dict[str, ContractColumn] = {}


class MonitoringReport(_Part):
    generated_at: str
    reference: ReferenceInfo
    current: CurrentInfo
    status: Literal["ok", "alarm", "insufficient_data"] = "ok"
    alarm: bool = False
    causes: list[str] = []  # input drift, label shift, concept drift, live quality
    alarms: list[str] = []
    notes: list[str] = []
    rule: Rule | None = None
    features: list[FeatureDrift] = []
    prediction: FeatureDrift | None = None
    quality: Quality | None = None
    estimate: Estimate | None = None
    contract: Contract | None = None
    # canonical input name -> the user's own name where ingest renamed it (model.json's
    # original_names). Keys of the JSON (features' `name`, contract columns) stay canonical for
    # the programs that read them; the alarms and monitoring.md show the user's names.
    input_names: dict[str, str] = {}

    def shown(self, name: str) -> str:
        """A column as the user's file names it."""
        return self.input_names.get(name, name)

    def to_json(self) -> dict[str, object]:
        """The JSON written; `input_names` only when a column was renamed, so a table already
        in snake_case writes what it used to."""
        return self.model_dump(mode="json", exclude=set() if self.input_names else {"input_names"})

    @classmethod
    def parse(cls, raw: bytes, where: str) -> MonitoringReport:
        """A monitoring.json's content; DataError naming `where`, the key and the fix."""
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(p) for p in first["loc"]) or "(top)"
            raise DataError(
                f"{where}: not a monitoring report this gitml can read ({key}: "
                f"{first['msg'].lower()}); run `gitml monitor` again to rewrite it"
            ) from None

    @classmethod
    def read(cls, path: Path) -> MonitoringReport:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise DataError(f"{path}: not found; run `gitml monitor` first") from None
        return cls.parse(raw, str(path))
