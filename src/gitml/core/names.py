"""Column names in canonical form: the one spelling every stage, the schema and serving use."""

from __future__ import annotations

import re


def normalise_name(name: object) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")
