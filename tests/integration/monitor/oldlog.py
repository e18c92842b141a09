"""A prediction log as an older gitml wrote it, for the tests that read or upgrade one."""

from __future__ import annotations

from collections.abc import Collection

import sqlalchemy as sa

from gitml.logstore import logdb


def create_old_log(url: str, without: Collection[str]) -> sa.Table:
    """Create the predictions and feedback tables without the columns `without` (added since)
    and none of the newer tables; return the old predictions table, to insert rows into."""
    old = sa.MetaData()
    for table in (logdb.predictions, logdb.feedback):
        columns = [
            sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
            for c in table.columns
            if c.name not in without
        ]
        sa.Table(table.name, old, *columns)
    engine = sa.create_engine(url)
    old.create_all(engine)
    engine.dispose()
    return old.tables["predictions"]
