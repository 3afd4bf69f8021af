"""Writes of the SLA fact table: append-only, insert-or-ignore by key on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Connection, Table, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from domain.facts import Fact
from readmodel.tables import SlaFact

_TABLE: Table = SlaFact.__table__  # type: ignore[attr-defined]
# Compiled once and cached: an expanding IN would be rendered anew at every execution (its list's length).
_KNOWN_KEYS = select(_TABLE.c.key).where(_TABLE.c.workflow_id == bindparam("workflow_id"))


def add_facts(connection: Connection, facts: Sequence[Fact]) -> int:
    """Adds the facts not recorded yet within ``connection``'s transaction; a replayed projection adds nothing.

    A projection carries every fact of its workflow's history, so the keys already there are read first
    (one indexed query) and only the new ones are inserted; two projections racing on the same workflow
    both insert with ``ON CONFLICT DO NOTHING``, so neither fails and no fact is written twice.

    The insert is one single-row statement run with a list of rows: SQLAlchemy compiles it once and batches
    the rows into multi-row VALUES itself (its "insertmanyvalues"), where a ``.values(rows)`` statement was
    compiled anew for each number of rows.

    Returns:
        How many facts were new.
    """
    if not facts:
        return 0
    known: set[str] = set()
    for workflow_id in {fact.workflow_id for fact in facts}:  # a projection's facts are one workflow's
        known.update(connection.execute(_KNOWN_KEYS, {"workflow_id": workflow_id}).scalars())
    rows = [_row(fact) for fact in facts if fact.key not in known]
    if not rows:
        return 0
    # RETURNING names the rows inserted: psycopg's rowcount is -1 for this statement (measured), so it
    # cannot tell a fact a racing projection wrote first from a new one.
    return len(connection.execute(_insert(connection.dialect.name), rows).all())


@cache
def _insert(dialect: str) -> Insert:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(_TABLE).on_conflict_do_nothing(index_elements=["key"]).returning(_TABLE.c.key)


def _row(fact: Fact) -> dict[str, Any]:
    return {
        "key": fact.key,
        "workflow_id": fact.workflow_id,
        "seq": fact.seq,
        "process": fact.process.value,
        "merchant_id": fact.merchant_id,
        "kind": fact.kind.value,
        "clock": fact.clock,
        "at": fact.at,
        "value": fact.value,
        "outcome": fact.outcome,
        "event": fact.event,
    }
