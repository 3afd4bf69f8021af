"""The SQLite read model is private to its owner: it holds robot secrets and customers' orders."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy import text

from readmodel.db import make_engine
from readmodel.migrate import upgrade


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
