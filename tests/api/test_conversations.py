"""Conversations end to end: messages by update-with-start over real HTTP, a real worker, the dev server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, create_engine, select
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain.calendar import WEEKDAYS
from readmodel.tables import ConversationWatch
from tests.api.conftest import web_ui_query
from tests.api.test_orders import assert_problem
from tests.factories import merchant_body
from tests.waiting import wait_for

PATH = "/v1/conversations"


def chat_id() -> str:
    return f"chat-{uuid.uuid4().hex[:10]}"


async def post(api: Any, conversation_id: str, role: str = "mall", **body: Any) -> Any:
    return await api(role, "POST", f"{PATH}/{conversation_id}/messages", json={"merchant_id": "m-acme", **body})


async def conversation(api: Any, conversation_id: str) -> dict[str, Any]:
    """The conversation as the mall reads it."""
    return dict((await api("mall", "GET", f"{PATH}/{conversation_id}")).json())


async def merchant(api: Any, **overrides: Any) -> str:
    """A merchant of the test's own (agents a-1 and a-2, a-2 the backup)."""
    merchant_id = f"m-chat-{uuid.uuid4().hex[:8]}"
    put = await api("admin", "PUT", f"/v1/merchants/{merchant_id}", json=merchant_body(**overrides))
    assert put.status_code == 200, put.text
    return merchant_id


@pytest.fixture(autouse=True)
async def acme(api: Any) -> None:
    """The merchant the mall's keys act for, configured with its agents."""
    assert (await api("admin", "PUT", "/v1/merchants/m-acme", json=merchant_body())).status_code == 200


async def test_a_customer_message_starts_the_watch_at_once_and_the_agent_s_reply_records_the_first_reply(
    api: Any,
) -> None:
    conversation_id = chat_id()
    started = await post(api, conversation_id, sender="customer")
    assert started.status_code == 202, started.text
    waiting = started.json()
    assert waiting["conversation_id"] == conversation_id
    assert (waiting["merchant_id"], waiting["agent_id"], waiting["transferred"]) == ("m-acme", "a-1", False)
    assert waiting["first_reply_seconds"] is None
    assert waiting["waiting_since"] is not None
    assert waiting["status"] == "awaiting_reply"
    deadline = datetime.fromisoformat(waiting["deadline_at"]) - datetime.fromisoformat(waiting["waiting_since"])
    assert deadline.total_seconds() == 180

    replied = await post(api, conversation_id, sender="agent", agent_id="a-1")
    assert replied.status_code == 202, replied.text
    assert replied.json()["first_reply_seconds"] is not None
    assert replied.json()["waiting_since"] is None

    fetched = await api("merchant:m-acme", "GET", f"{PATH}/{conversation_id}")
    assert fetched.status_code == 200
    body = fetched.json()
    assert {"conversation_id", "merchant_id", "agent_id", "transferred", "first_reply_seconds", "waiting_since"} <= (
        body.keys()
    )
    assert body["first_reply_seconds"] == replied.json()["first_reply_seconds"]
    assert [entry["event"] for entry in body["history"]] == ["opened", "customer_waiting", "replied"]


async def test_another_merchant_s_conversation_looks_exactly_like_a_missing_one(api: Any) -> None:
    conversation_id = chat_id()
    assert (await post(api, conversation_id, sender="customer")).status_code == 202
    foreign = await api("merchant:m-other", "GET", f"{PATH}/{conversation_id}")
    missing = await api("merchant:m-other", "GET", f"{PATH}/{chat_id()}")
    assert_problem(foreign, 404, "not_found")
    assert_problem(missing, 404, "not_found")
    assert foreign.json()["detail"] == missing.json()["detail"]
    assert (await api("admin", "GET", f"{PATH}/{conversation_id}")).status_code == 200


async def test_a_retried_message_changes_nothing(api: Any) -> None:
    conversation_id = chat_id()
    await post(api, conversation_id, sender="customer", message_id="msg-1")
    await post(api, conversation_id, sender="agent", agent_id="a-1", message_id="msg-2")
    again = await post(api, conversation_id, sender="customer", message_id="msg-1")
    assert again.status_code == 202
    assert again.json()["waiting_since"] is None
    assert [entry["event"] for entry in again.json()["history"]] == ["opened", "customer_waiting", "replied"]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"sender": "agent"}, "an agent's message without its agent"),
        ({"sender": "bot"}, "an unknown sender"),
        ({"sender": "customer", "merchant_id": ""}, "no merchant"),
        ({"sender": "customer", "merchant_id": "m-nobody"}, "a merchant nobody configured"),
        ({"sender": "agent", "agent_id": "a-9"}, "an agent the merchant does not have"),
        ({"sender": "customer", "agent_id": "x" * 65}, "an absurdly long id"),
        ({"sender": "customer", "surprise": 1}, "an unknown field"),
    ],
)
async def test_bad_messages_are_422_and_start_nothing(api: Any, body: dict[str, Any], why: str) -> None:
    conversation_id = chat_id()
    assert_problem(await post(api, conversation_id, **body), 422, "validation_error")
    assert_problem(await api("mall", "GET", f"{PATH}/{conversation_id}"), 404, "not_found")


async def test_an_absurd_conversation_id_is_422(api: Any) -> None:
    assert_problem(await post(api, "x" * 65, sender="customer"), 422, "validation_error")
    assert_problem(await post(api, "a b", sender="customer"), 422, "validation_error")


async def test_a_message_naming_another_merchant_is_refused_and_changes_nothing(api: Any) -> None:
    conversation_id = chat_id()
    await post(api, conversation_id, sender="customer")
    other = await merchant(api)
    assert_problem(await post(api, conversation_id, sender="customer", merchant_id=other), 409, "invalid_state")
    assert (await api("mall", "GET", f"{PATH}/{conversation_id}")).json()["merchant_id"] == "m-acme"


async def test_only_the_mall_posts_messages(api: Any) -> None:
    assert_problem(await post(api, chat_id(), role="merchant:m-acme", sender="customer"), 403, "forbidden")


async def test_the_merchant_s_reply_time_reaches_the_workflow_and_the_transfer_the_read_model_and_web_ui(
    api: Any, dev_env: WorkflowEnvironment, api_settings: Settings
) -> None:
    merchant_id = await merchant(api, policy={"chat_reply": "1s"})
    conversation_id = chat_id()
    started = await post(api, conversation_id, sender="customer", merchant_id=merchant_id)
    assert started.status_code == 202, started.text

    # the merchant's one second passes on the dev server's real clock
    view = await wait_for(lambda: conversation(api, conversation_id), lambda view: view["transferred"])
    assert (view["transferred"], view["agent_id"]) == (True, "a-2")

    replied = await post(api, conversation_id, sender="agent", agent_id="a-2", merchant_id=merchant_id)
    assert replied.json()["first_reply_seconds"] >= 1

    engine = create_engine(api_settings.database_url)

    def projected() -> ConversationWatch | None:
        with Session(engine) as session:
            query = select(ConversationWatch).where(ConversationWatch.conversation_id == conversation_id)
            return session.exec(query).first()

    row = await wait_for(projected, lambda row: row is not None and row.first_reply_seconds is not None)
    engine.dispose()
    assert row is not None
    assert (row.merchant_id, row.transferred, row.agent_id) == (merchant_id, True, "a-2")
    assert row.first_reply_seconds == replied.json()["first_reply_seconds"]

    found = await web_ui_query(
        dev_env.client, f"MerchantId = '{merchant_id}' AND CaseKind = 'conversation' AND CaseStatus = 'open'"
    )
    assert found == [f"chat-{conversation_id}"]


async def test_a_merchant_s_new_calendar_reaches_its_waiting_conversation(
    api: Any, dev_env: WorkflowEnvironment
) -> None:
    merchant_id = await merchant(api)
    conversation_id = chat_id()
    waiting = (await post(api, conversation_id, sender="customer", merchant_id=merchant_id)).json()
    await web_ui_query(dev_env.client, f"MerchantId = '{merchant_id}' AND CaseKind = 'conversation'")

    shanghai = ZoneInfo("Asia/Shanghai")
    day = (datetime.now(UTC).astimezone(shanghai) + timedelta(days=2)).weekday()
    calendar = {"timezone": "Asia/Shanghai", "hours": {WEEKDAYS[day]: [["09:00", "18:00"]]}, "holidays": None}
    put = await api("admin", "PUT", f"/v1/merchants/{merchant_id}", json=merchant_body(calendar=calendar))
    assert put.status_code == 200, put.text

    # the fan-out lists the merchant's running processes, then updates each
    view = await wait_for(
        lambda: conversation(api, conversation_id),
        lambda view: "calendar_changed" in [entry["event"] for entry in view["history"]],
    )
    assert [entry["event"] for entry in view["history"]][-1] == "calendar_changed"
    deadline = datetime.fromisoformat(view["deadline_at"]).astimezone(shanghai)
    assert deadline.weekday() == day
    assert deadline > datetime.fromisoformat(waiting["deadline_at"])
