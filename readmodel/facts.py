"""Writes of the SLA fact table: append-only, insert-or-ignore by key on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from domain.facts import Fact
from readmodel.db import session_scope
from readmodel.tables import SlaFact


def record_facts(engine: Engine, facts: Sequence[Fact]) -> int:
    """Adds the facts not recorded yet; a replayed or retried projection adds nothing.

    A projection carries every fact of its workflow's history, so the keys already there are read first
    (one indexed query) and only the new ones are inserted; two projections racing on the same workflow
    both insert with ``ON CONFLICT DO NOTHING``, so neither fails and no fact is written twice.

    Returns:
        How many facts were new.
    """
    if not facts:
        return 0
    workflow_ids = {fact.workflow_id for fact in facts}
    with session_scope(engine) as session:
        known = set(
            session.execute(select(col(SlaFact.key)).where(col(SlaFact.workflow_id).in_(workflow_ids))).scalars()
        )
        rows = [_row(fact) for fact in facts if fact.key not in known]
        if not rows:
            return 0
        insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        statement = insert(SlaFact).values(rows).on_conflict_do_nothing(index_elements=["key"])
        # RETURNING names the rows inserted: both databases' rowcount is unreliable for this statement.
        return len(session.execute(statement.returning(col(SlaFact.key))).all())


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
