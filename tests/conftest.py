"""Shared fixtures: real Temporal servers (time-skipping and dev), both databases, partner peers."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from config.codec import EncryptionCodec, new_key
from config.temporal import data_converter
from readmodel.db import make_engine
from readmodel.migrate import upgrade
from tests.peers.callbacks import CallbackReceiver
from workflows import search_attributes

BIN = Path(sys.executable).parent
# The tests' payload keys: a fresh current key, and an older one that only decrypts (a rotation).
CODEC_KEYS = f"{new_key('test-current')},{new_key('test-old')}"
CODEC = EncryptionCodec.from_setting(CODEC_KEYS)
DATA_CONVERTER = data_converter(CODEC)
POSTGRES_ADMIN_URL = os.environ.get("AFTERSALES_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _binary(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: install the dev extras (make install)")
    return str(path)


@pytest.fixture
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server of the test's own: a 72 h deadline passes in milliseconds.

    One per test: the server keeps a single clock for all its workflows and, in some sequences (a child
    workflow's parent terminated, an activity failed, an Update refused), stops it for good, which would
    stall every test after the one that did it.
    """
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=DATA_CONVERTER, test_server_existing_path=_binary("temporal-test-server")
    )
    # A workflow that upserts an unregistered search attribute would hang.
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={
                key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in search_attributes.ALL
            },
        )
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """A real Temporal dev server (the one ``make dev`` runs), with the search attributes registered."""
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=_binary("temporal"),
        search_attributes=search_attributes.ALL,
    )
    yield env
    await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    """A task queue of the test's own, so workers of other tests never take its tasks."""
    return f"tq-{uuid.uuid4()}"


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite database file."""
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'aftersales.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    """A migrated PostgreSQL database of this session's own, dropped at the end."""
    name = f"aftersales_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:
        pytest.fail(f"PostgreSQL at {POSTGRES_ADMIN_URL} is needed for the database tests: {error}")
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request: pytest.FixtureRequest) -> str:
    """Each database the product supports, in turn."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def any_engine(any_db_url: str) -> Iterator[Engine]:
    engine = make_engine(any_db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def engine(sqlite_url: str) -> Iterator[Engine]:
    """The SQLite read model the workflow and API tests share."""
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def callback_receiver_service(callback_secret: str) -> Iterator[CallbackReceiver]:
    """The mall's callback receiver, one per module: each module that uses it names its ``callback_secret``."""
    with CallbackReceiver(secret=callback_secret) as peer:
        yield peer


@pytest.fixture
def receiver(callback_receiver_service: CallbackReceiver) -> CallbackReceiver:
    """The mall's callback receiver, with nothing received yet."""
    callback_receiver_service.reset()
    return callback_receiver_service
