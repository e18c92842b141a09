"""The model site's pure parts: replaying GTO tags into stage history, and the digests."""

from __future__ import annotations

from datetime import UTC, datetime

from gitml.review.site import digest
from gitml.review.site.gitobjects import TagRecord
from gitml.review.site.model import replay


def tag(
    name: str, commit: str, second: int, message: str = "", annotated: bool = True
) -> TagRecord:
    when = datetime.fromtimestamp(1_760_000_000 + second, UTC)
    return TagRecord(name, commit, annotated, "ci", "<ci@x>", when, message)


def test_replay_orders_events_and_a_stage_holds_the_latest_assignment() -> None:
    message = (
        "model@v0.2.0: promoted to prod\n\nPROMOTE: roc_auc 0.91; 2/2 rules pass\n\n"
        "PASS slice_floor:race=Amer Indian: x:recall: recall is 0.7\nFAIL floor:roc_auc: low"
    )
    versions, events = replay(
        [
            tag("model#prod#2", "b" * 40, 4),  # a hand-made assign: v0.1.0 is not unassigned
            tag("model@v0.1.0", "a" * 40, 1),
            tag("model#prod#1", "a" * 40, 2),
            tag("model@v0.2.0", "b" * 40, 3, message),
            tag("model@v0.3.0", "c" * 40, 5, annotated=False),  # lightweight: GTO ignores it
            tag("model@v0.4.0", "d" * 40, 6),
            tag("model@v0.4.0!", "d" * 40, 7),  # deregistered
            tag("other@v1.0.0", "e" * 40, 8),
        ]
    )
    assert sorted(versions) == ["v0.1.0", "v0.2.0"]
    assert [(e.kind, e.version) for e in events] == [
        ("registered", "v0.1.0"), ("promoted", "v0.1.0"),
        ("registered", "v0.2.0"), ("promoted", "v0.2.0"),
    ]  # fmt: skip
    assert versions["v0.2.0"].stages == ("prod",) and versions["v0.1.0"].stages == ()
    v2 = versions["v0.2.0"]
    assert v2.summary == "PROMOTE: roc_auc 0.91; 2/2 rules pass"
    assert [(r.name, r.passed) for r in v2.rules] == [
        ("slice_floor:race=Amer Indian", True),  # a name ends at the first ": "
        ("floor:roc_auc", False),
    ]


def test_rollback_and_superseded_events() -> None:
    back = "rollback: prod model@v0.2.0 -> v0.1.0\n\nreason: slow"
    versions, events = replay(
        [
            tag("model@v0.1.0", "a" * 40, 1),
            tag("model#prod#1", "a" * 40, 1),
            tag("model@v0.2.0", "b" * 40, 2),
            tag("model#prod#2", "b" * 40, 2),
            tag("model#prod!#3", "a" * 40, 2, "model@v0.1.0 leaves prod: superseded by v0.2.0"),
            tag("model#prod!#4", "b" * 40, 3, back),
            tag("model#prod#5", "a" * 40, 3, back),
        ]
    )
    assert [e.kind for e in events if e.stage] == [
        "promoted", "promoted", "superseded", "rolled back from", "rolled back to",
    ]  # fmt: skip
    assert versions["v0.1.0"].in_prod and not versions["v0.2.0"].in_prod


def test_slice_gaps_judge_only_the_gated_slices() -> None:
    def s(rows: int, auc: float, recall: float, ranked: bool = True) -> dict[str, object]:
        return {"rows": rows, "roc_auc": auc, "recall": recall, "ranked": ranked}

    slices = {
        "columns": {
            "race": {"values": {"A": s(500, 0.90, 0.70), "B": s(300, 0.80, 0.68),
                                "tiny": s(20, 0.10, 0.0), "one-class": s(900, 0.0, 0.0, False)}},
            "sex": {"values": {"F": s(500, 0.9, 0.6)}},
        }
    }  # fmt: skip
    gaps = digest.slice_gaps(slices, min_rows=100)
    assert list(gaps) == ["race"]
    assert (gaps["race"].gap, gaps["race"].metric, gaps["race"].high, gaps["race"].low) == (
        0.1, "roc_auc", "A", "B"
    )  # fmt: skip


def test_curves_are_thinned_keeping_both_ends() -> None:
    doc = {"roc": [{"fpr": i / 999, "tpr": i / 999} for i in range(1000)]}
    pts = digest.curve(doc, "roc", "fpr", "tpr")
    assert len(pts) == digest.MAX_CURVE_POINTS
    assert pts[0] == {"x": 0.0, "y": 0.0} and pts[-1] == {"x": 1.0, "y": 1.0}


def test_diffs_of_params_and_hashes() -> None:
    old = {"train": {"depth": 4, "lr": 0.1}, "seed": 1}
    new = {"train": {"depth": 6, "lr": 0.1}, "seed": 1, "extra": True}
    assert digest.param_changes(old, new) == [("extra", None, True), ("train.depth", 4, 6)]
    lock_a = {"stages": {"train": {"deps": [{"path": "data/x.parquet", "md5": "1"}],
                                   "outs": [{"path": "models/m", "md5": "a"}]}}}  # fmt: skip
    lock_b = {"stages": {"train": {"deps": [{"path": "data/x.parquet", "md5": "2"}],
                                   "outs": [{"path": "models/m", "md5": "b"}]}}}  # fmt: skip
    assert digest.hash_changes(lock_a, lock_b) == [("train", "models/m", "a", "b")]
    assert [r["kind"] for r in digest.data_hashes(lock_a)] == ["input", "output"]
