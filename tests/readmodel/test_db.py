"""The SQLite read model is private to its owner (it holds robot secrets and customers' orders), and the
writers of one process take turns on it."""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from readmodel.db import make_engine, one_writer
from readmodel.migrate import upgrade
from readmodel.projection import upsert_order
from tests.factories import order_view

PAID = datetime(2026, 11, 26, 8, tzinfo=UTC)


def test_a_new_sqlite_read_model_and_its_wal_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    database = tmp_path / "aftersales.db"
    previous = os.umask(0o022)  # the usual umask, under which SQLite alone creates files readable by all
    try:
        upgrade(f"sqlite:///{database}")
        engine = make_engine(f"sqlite:///{database}")
        with engine.connect() as connection:  # an open connection keeps the -wal and -shm files
            connection.execute(text("UPDATE merchant SET name = name"))
            connection.commit()
            modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in tmp_path.iterdir()}
        engine.dispose()
    finally:
        os.umask(previous)
    assert modes == {"aftersales.db": 0o600, "aftersales.db-wal": 0o600, "aftersales.db-shm": 0o600}


def test_an_existing_read_model_keeps_the_mode_its_owner_gave_it(tmp_path: Path) -> None:
    database = tmp_path / "shared.db"
    database.touch(mode=0o640)
    database.chmod(0o640)
    make_engine(f"sqlite:///{database}").dispose()
    assert stat.S_IMODE(database.stat().st_mode) == 0o640


def test_the_projections_of_one_process_take_turns_on_sqlite_without_its_busy_sleep(tmp_path: Path) -> None:
    """Four threads projecting 50 revisions each into one SQLite file: every write lands, none waits for the
    busy handler's sleeps (a writer waits on the process's lock instead), and only SQLite needs the lock."""
    url = f"sqlite:///{tmp_path / 'turns.db'}"
    upgrade(url)
    engine = make_engine(url)
    assert one_writer(engine) is one_writer(engine)
    assert one_writer(engine) is not one_writer(make_engine(f"sqlite:///{tmp_path / 'other.db'}"))

    def project(thread: int) -> None:
        for revision in range(1, 51):
            view = order_view(f"o-{thread}", "m-1", PAID, revision=revision)
            assert upsert_order(engine, workflow_id=f"order-o-{thread}", view=view)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(project, range(4)))
    with engine.connect() as connection:
        revisions = connection.execute(text("SELECT revision FROM order_watch ORDER BY workflow_id")).scalars().all()
    assert revisions == [50, 50, 50, 50]


def test_postgresql_writers_need_no_lock_of_the_process(postgresql_url: str) -> None:
    assert isinstance(one_writer(make_engine(postgresql_url)), nullcontext)
