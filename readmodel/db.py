"""Engines and sessions for the read model: SQLite by default, PostgreSQL in production."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, event, make_url
from sqlalchemy.engine import Dialect
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, create_engine


def make_engine(url: str) -> Engine:
    """An engine for ``url``, tuned for the database behind it."""
    if url.startswith("sqlite"):
        in_memory = url in ("sqlite://", "sqlite:///:memory:")
        if not in_memory:
            _create_private(make_url(url).database or "")
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=StaticPool if in_memory else None,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _create_private(path: str) -> None:
    """Creates the SQLite file ``path`` readable by its owner only, before anything is written to it.

    The read model holds merchants' robot secrets and customers' order data; SQLite would create the file
    with the process's umask (often world-readable). Its -wal and -shm files take the database file's mode.
    An existing file is left as its owner set it.
    """
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # WAL lets the API read while the worker's projections write.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


_WRITERS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_WRITERS_GUARD = threading.Lock()


def one_writer(engine: Engine) -> AbstractContextManager[object]:
    """Held around a write transaction: on SQLite, this process's writers take turns on a lock of its own.

    SQLite lets one writer in at a time; the others wait in its busy handler, which sleeps (1, 2, 5 … 100 ms)
    and polls, so under load they oversleep the writer before them. With 500 deadlines due at once the
    worker's four projection threads spent more time asleep there than writing (README: Performance). A
    lock hands the turn over as soon as the writer before is done. Other processes (the API) still meet
    the busy handler. PostgreSQL needs no such lock: a null context.
    """
    if engine.dialect.name != "sqlite":
        return nullcontext()
    with _WRITERS_GUARD:
        lock = _WRITERS.get(engine)
        if lock is None:
            lock = _WRITERS[engine] = threading.Lock()
    return lock


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits when the block ends without error and rolls back otherwise."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite has no time zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the read model")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
