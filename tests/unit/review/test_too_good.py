"""The PR report's ⚠️ lines: newly flagged features and evaluate's warnings."""

from __future__ import annotations

from gitml.review.compare import too_good


def validation(*flags: str, allow: tuple[str, ...] = ()) -> dict[str, object]:
    found = [{"column": c, "kind": "dominant", "why": f"{c} is too good"} for c in flags]
    return {"leakage": {"flags": [], "allowed_flags": found, "allow": list(allow)}}


def test_a_newly_flagged_feature_gets_a_warning_an_old_one_does_not() -> None:
    lines = too_good(validation("a"), validation("a", "b", allow=("a", "b")), None)
    assert lines == ["⚠️ newly dominant feature `b` (in validate.leakage.allow): b is too good"]


def test_evaluate_warnings_are_passed_on() -> None:
    checks = {"warnings": ["⚠️ test ROC-AUC 0.9990 > 0.99"]}
    assert too_good(None, {"leakage": {"checked": False}}, checks) == checks["warnings"]
    assert too_good(None, None, None) == []
