"""Three tables that are not Adult, for `gitml init` + `dvc repro`.

Small and seeded: each pipeline run stays in seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer

WORDS = [
    *("late", "delivery", "great", "service", "refund", "asked", "support"),
    *("call", "again", "price", "too", "high", "happy"),
]


def breast_cancer_frame() -> pd.DataFrame:
    """scikit-learn's bundled table as a user has it: 569 rows, 30 numeric columns with spaced
    headers (`mean radius`), a `Patient ID` and a yes/no target (`malignant`)."""
    frame = load_breast_cancer(as_frame=True).frame
    ids = np.random.default_rng(0).permutation(len(frame)) + 84_000
    malignant = np.where(frame.pop("target") == 0, "yes", "no")  # sklearn: 0 is malignant
    return pd.concat(
        [pd.DataFrame({"Patient ID": ids}), frame, pd.DataFrame({"malignant": malignant})],
        axis=1,
    )


def breast_cancer(folder: Path) -> Path:
    path = folder / "breast_cancer.csv"
    breast_cancer_frame().to_csv(path, index=False)
    return path


def leaky(n: int = 800, seed: int = 0) -> pd.DataFrame:
    """An id, free text, a 0/1 target with real signal, a 40%-missing numeric column, a noisy
    copy of the target and a column missing whenever the target is 0."""
    rng = np.random.default_rng(seed)
    tenure = rng.gamma(2.0, 12.0, n).round(1)
    plan = rng.choice(["basic", "plus", "pro"], n)
    gender = rng.choice(["F", "M"], n)
    logit = -0.04 * tenure + np.where(plan == "basic", 0.8, -0.3) + rng.normal(0, 1.0, n)
    churned = (logit > np.quantile(logit, 0.65)).astype(int)
    income = rng.normal(50_000, 12_000, n).round(0)
    income[rng.random(n) < 0.4] = np.nan
    notes = [" ".join(rng.choice(WORDS, rng.integers(4, 9))) for _ in range(n)]
    refund_score = (churned + rng.normal(0, 0.12, n)).round(3)  # recorded after churn
    cancel_fee = np.where(churned == 1, rng.uniform(5, 50, n).round(2), np.nan)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:06d}" for i in rng.permutation(n)],
            "tenure_months": tenure,
            "plan": plan,
            "gender": gender,
            "income": income,
            "notes": notes,
            "refund_score": refund_score,
            "cancel_fee": cancel_fee,
            "churned": churned,
        }
    )


def leaky_csv(folder: Path) -> Path:
    path = folder / "customers.csv"
    leaky().to_csv(path, index=False)
    return path


def loans_tsv(folder: Path, n: int = 600, seed: int = 1) -> Path:
    """A tab-separated file with a string target and `NA` for missing values."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 75, n).astype(float)
    debt = rng.lognormal(8, 1, n).round(0)
    region = rng.choice(["north", "south", "east", "west"], n)
    sex = rng.choice(["female", "male"], n)
    logit = 0.03 * (age - 45) - 0.0001 * (debt - 3000) + np.where(region == "north", 0.5, 0.0)
    outcome = np.where(logit + rng.normal(0, 1, n) > 0, "approved", "declined")
    frame = pd.DataFrame(
        {"age": age, "debt": debt, "region": region, "sex": sex, "outcome": outcome}
    )
    frame.loc[rng.random(n) < 0.08, "debt"] = np.nan
    frame.loc[rng.random(n) < 0.05, "region"] = np.nan
    path = folder / "loans.tsv"
    frame.to_csv(path, sep="\t", index=False, na_rep="NA")
    return path
