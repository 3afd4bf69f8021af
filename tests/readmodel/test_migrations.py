"""The Alembic migrations build exactly the schema the SQLModel tables describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlmodel import SQLModel

import readmodel.tables  # noqa: F401  (registers the tables)
from readmodel.migrate import upgrade


def test_the_migrated_schema_matches_the_models(any_engine: Engine) -> None:
    with any_engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert differences == []


def test_upgrading_an_up_to_date_database_changes_nothing(any_db_url: str, any_engine: Engine) -> None:
    before = sorted(inspect(any_engine).get_table_names())
    upgrade(any_db_url)
    assert sorted(inspect(any_engine).get_table_names()) == before
    assert {"order_watch", "merchant", "sent_notification", "alembic_version"} <= set(before)
