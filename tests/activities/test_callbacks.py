"""Callbacks to the mall over real HTTP: the Standard Webhooks wire format, rotation, what is retried."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
from datetime import UTC, datetime

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.callbacks import PERMANENT, Callbacks, signers
from domain.callbacks import CallbackEvent
from tests.peers.callbacks import CallbackReceiver

OLD = "whsec_" + base64.b64encode(b"old-secret-of-the-mall-32-bytes!").decode()
NEW = "whsec_" + base64.b64encode(b"new-secret-of-the-mall-32-bytes!").decode()


@pytest.fixture(scope="module")
def callback_secret() -> str:
    """The secret this module's mall receiver verifies signatures with."""
    return OLD


def an_event(number: int = 1) -> CallbackEvent:
    return CallbackEvent(
        id=f"order-O1:{number}",
        type="order.shipped",
        occurred_at=datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
        data={"order_id": "O1", "merchant_id": "m-acme", "status": "shipped", "note": "顺丰"},
    )


async def deliver(http: httpx.AsyncClient, url: str, secrets: str, event: CallbackEvent) -> None:
    await ActivityEnvironment().run(Callbacks(http=http, url=url, secrets=secrets).deliver, event)


async def test_an_event_arrives_as_a_signed_standard_webhook_with_the_documented_body(
    http: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    event = an_event()
    before = int(time.time())

    await deliver(http, receiver.url, OLD, event)

    [delivery] = receiver.deliveries
    assert delivery["event"] == {
        "id": "order-O1:1",
        "type": "order.shipped",
        "occurred_at": "2026-03-01T08:00:00Z",
        "data": {"order_id": "O1", "merchant_id": "m-acme", "status": "shipped", "note": "顺丰"},
    }
    headers = delivery["headers"]
    assert headers["webhook-id"] == "order-O1:1"
    assert headers["content-type"] == "application/json"
    assert before <= int(headers["webhook-timestamp"]) <= int(time.time())
    # The spec by hand: v1, base64(HMAC-SHA256(secret bytes, "{id}.{timestamp}.{body}")).
    key = base64.b64decode(OLD.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.{event.body()}".encode()
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"


async def test_every_secret_signs_so_a_receiver_with_either_accepts_during_a_rotation(
    http: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    with CallbackReceiver(secret=NEW) as rotated:
        await deliver(http, receiver.url, f"{OLD},{NEW}", an_event(1))
        await deliver(http, rotated.url, f"{OLD}, {NEW}", an_event(2))

        assert [m["id"] for m in receiver.messages] == ["order-O1:1"]
        assert [m["id"] for m in rotated.messages] == ["order-O1:2"]
        signatures = rotated.deliveries[0]["headers"]["webhook-signature"].split(" ")
        assert len(signatures) == 2
        assert all(signature.startswith("v1,") for signature in signatures)


async def test_a_signature_with_a_secret_the_receiver_does_not_hold_is_refused_for_good(
    http: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    with pytest.raises(ApplicationError) as refused:
        await deliver(http, receiver.url, NEW, an_event())

    assert refused.value.type == PERMANENT
    assert refused.value.non_retryable
    assert receiver.messages == []
    assert "bad signature" in receiver.rejected[0][0]


@pytest.mark.parametrize("status", [400, 404, 410, 422])
async def test_a_4xx_answer_is_permanent(http: httpx.AsyncClient, receiver: CallbackReceiver, status: int) -> None:
    receiver.refuse_all(status)

    with pytest.raises(ApplicationError) as refused:
        await deliver(http, receiver.url, OLD, an_event())

    assert refused.value.type == PERMANENT
    assert refused.value.non_retryable
    assert str(status) in str(refused.value)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
async def test_a_5xx_a_timeout_or_a_throttle_is_retried(
    http: httpx.AsyncClient, receiver: CallbackReceiver, status: int
) -> None:
    receiver.refuse_all(status)

    with pytest.raises(ApplicationError) as failed:
        await deliver(http, receiver.url, OLD, an_event())

    assert not failed.value.non_retryable
    assert failed.value.type != PERMANENT


async def test_a_receiver_that_is_not_listening_is_retried(http: httpx.AsyncClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: the connection is refused

        with pytest.raises(httpx.ConnectError):
            await deliver(http, f"http://127.0.0.1:{port}/events", OLD, an_event())


async def test_the_same_event_delivered_twice_carries_the_same_id_and_is_processed_once(
    http: httpx.AsyncClient, receiver: CallbackReceiver
) -> None:
    receiver.process_then_fail(1)

    with pytest.raises(ApplicationError):
        await deliver(http, receiver.url, OLD, an_event())
    await deliver(http, receiver.url, OLD, an_event())

    assert [d["id"] for d in receiver.deliveries] == ["order-O1:1", "order-O1:1"]
    assert len(receiver.messages) == 1


def test_a_secret_that_is_not_base64_or_missing_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="no secret"):
        signers(" , ")
    with pytest.raises(ValueError, match="whsec_"):
        signers("whsec_not*base64!")
    assert len(signers(f"{OLD},{NEW}")) == 2


def test_the_body_is_the_json_the_signature_covers() -> None:
    event = an_event()
    assert json.loads(event.body()) == event.model_dump(mode="json")
