"""Tables for the multiclass and regression tests, as ingest stores them (the target as text):
scikit-learn's load_diabetes and load_wine, and a generated table with string class names, a
categorical column and missing values."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.datasets import load_diabetes, load_wine

from gitml.config import DataConfig
from gitml.core.tasks import Task

REGRESSION = DataConfig(source="diabetes.csv", target="progression", task=Task.REGRESSION)
MULTICLASS = DataConfig(source="wine.csv", target="cultivar", task=Task.MULTICLASS)
ANIMALS = DataConfig(source="animals.csv", target="animal", task=Task.MULTICLASS)


def diabetes() -> pd.DataFrame:
    bunch = load_diabetes(as_frame=True, scaled=False)
    df = bunch.frame.rename(columns={"target": "progression"})
    df["progression"] = df["progression"].map(str)  # ingest keeps the target as text
    return df


def wine() -> pd.DataFrame:
    bunch = load_wine(as_frame=True)
    df = bunch.frame.rename(columns={"target": "cultivar"})
    names = {0: "barolo", 1: "grignolino", 2: "barbera"}
    df["cultivar"] = df["cultivar"].map(names)
    return df


def animals(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """Three string classes predicted from a number and a categorical, both with gaps."""
    rng = np.random.default_rng(seed)
    habitat = rng.choice(["sea", "land", "air"], size=n)
    weight = rng.normal(5, 1, size=n) + (habitat == "sea") * 3
    animal = np.where(habitat == "air", "bird", np.where(habitat == "sea", "fish", "dog"))
    flip = rng.random(n) < 0.15  # some noise, so no feature is a copy of the target
    animal = np.where(flip, rng.choice(["bird", "fish", "dog"], size=n), animal)
    df = pd.DataFrame({"weight": weight, "habitat": habitat, "animal": animal})
    df.loc[rng.random(n) < 0.05, "weight"] = np.nan
    df.loc[rng.random(n) < 0.05, "habitat"] = np.nan
    return df
