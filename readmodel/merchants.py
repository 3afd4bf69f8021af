"""Merchants: the platform's configuration of who to tell, where, and their clock overrides."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from readmodel.db import session_scope
from readmodel.tables import Merchant


def get_merchant(engine: Engine, *, merchant_id: str) -> Merchant | None:
    """The merchant ``merchant_id``, or None."""
    with Session(engine, expire_on_commit=False) as session:
        return session.get(Merchant, merchant_id)


def put_merchant(engine: Engine, *, merchant_id: str, values: dict[str, Any]) -> Merchant:
    """Creates or replaces the merchant ``merchant_id`` with ``values``."""
    with session_scope(engine) as session:
        merchant = session.get(Merchant, merchant_id)
        if merchant is None:
            merchant = Merchant(merchant_id=merchant_id, updated_at=datetime.now(UTC), **values)
        else:
            for name, value in values.items():
                setattr(merchant, name, value)
            merchant.updated_at = datetime.now(UTC)
        session.add(merchant)
        session.flush()
        session.refresh(merchant)
        return merchant
