"""Stage 4 — featurize: add the derived, row-wise features (gitml.core.features) to each split.

Serving applies the same functions to each request, so training and serving share this code.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gitml.core.features import apply
from gitml.io.files import write_parquet


def run(names: list[str], inputs: dict[str, pd.DataFrame], out_dir: Path) -> dict[str, Path]:
    paths = {}
    for split_name, df in inputs.items():
        paths[split_name] = write_parquet(out_dir / f"{split_name}.parquet", apply(df, names))
    return paths
