"""Action links through the real path: a reminder's button, captured at the local DingTalk robot, opens the
confirmation page; confirming performs the API's Update; a link that is stale, altered, expired, or carried
to another action or workflow changes nothing.

A real dev server, a worker signing links with the settings' secret, the API over HTTP.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from config.links import LinkSigner
from config.settings import Settings
from domain import ids
from domain.notifications import LinkAction
from readmodel.migrate import upgrade
from tests.api.action_links import (
    ADDRESS_NAME,
    ADDRESS_PHONE,
    ADMIN,
    LINK_SECRET,
    MALL,
    MERCHANT,
    PUBLIC_URL,
    ROBOT_SECRET,
    Stack,
    case_status,
    open_case,
    reminder_links,
    robot,
    stack,
)
from tests.api.conftest import ServedApp
from tests.factories import merchant_body, order_body

__all__ = ["robot", "stack"]  # fixtures


def form(action: str, subject: str, text: str = "") -> dict[str, str]:
    """What the page's form posts."""
    return {"action": action, "subject": subject, "text": text}


async def test_a_reminders_approve_button_approves_the_case_once_and_its_reject_button_is_then_handled(
    stack: Stack,
) -> None:
    case_id = await open_case(stack, "links")
    workflow_id = ids.after_sale(case_id)
    links = await reminder_links(stack.robot, case_id)
    approve, reject = links["同意 Approve"], links["拒绝 Reject"]

    page = await stack.http.get(approve)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert case_id in page.text
    assert "确认同意 Approve" in page.text
    assert 'name="viewport"' in page.text
    assert ADDRESS_NAME not in page.text
    assert ADDRESS_PHONE not in page.text
    assert await case_status(stack, case_id) == "pending_review"  # opening the page does nothing

    done = await stack.http.post(approve, data=form("approve", workflow_id))
    assert done.status_code == 200, done.text
    assert "已完成 Done" in done.text
    assert await case_status(stack, case_id) in ("refunding", "completed")
    history = (await stack.call(MERCHANT, "GET", f"/v1/after-sales/{case_id}")).json()["history"]
    assert [entry["actor"] for entry in history if entry["event"] == "approved"] == ["merchant"]

    again = await stack.http.post(approve, data=form("approve", workflow_id))
    assert again.status_code == 409
    assert "Already handled" in again.text

    stale = await stack.http.get(reject)
    assert stale.status_code == 200
    assert "Already handled" in stale.text
    assert "<form" not in stale.text
    refused = await stack.http.post(reject, data=form("reject", workflow_id, "缺货"))
    assert refused.status_code == 409
    assert "Already handled" in refused.text
    after = (await stack.call(MERCHANT, "GET", f"/v1/after-sales/{case_id}")).json()
    assert after["status"] in ("refunding", "completed")
    assert after["rejection_reason"] is None
    assert [entry["event"] for entry in after["history"]].count("approved") == 1


async def test_a_link_altered_expired_or_carried_to_another_action_or_case_changes_nothing(stack: Stack) -> None:
    case_id, other_id = await open_case(stack, "guarded"), await open_case(stack, "other")
    workflow_id, other_workflow = ids.after_sale(case_id), ids.after_sale(other_id)
    signer = stack.signer()
    approve = (
        f"/a/{signer.token(workflow_id=workflow_id, action=LinkAction.APPROVE, person=f'merchant:{stack.merchant_id}')}"
    )

    tampered = approve[:-3] + ("AAA" if not approve.endswith("AAA") else "BBB")
    assert (await stack.http.get(tampered)).status_code == 403
    assert (await stack.http.post(tampered, data=form("approve", workflow_id))).status_code == 403

    # Signed 25 hours ago by the same secret: past the 24 h TTL.
    day_old = stack.signer(clock=lambda: time.time() - 25 * 3600)
    person = f"merchant:{stack.merchant_id}"
    expired = f"/a/{day_old.token(workflow_id=workflow_id, action=LinkAction.APPROVE, person=person)}"
    gone = await stack.http.post(expired, data=form("approve", workflow_id))
    assert gone.status_code == 410
    assert "expired" in gone.text

    # The approve link replayed as a rejection, and on the other case's form.
    as_reject = await stack.http.post(approve, data=form("reject", workflow_id, "缺货"))
    assert as_reject.status_code == 403
    on_other = await stack.http.post(approve, data=form("approve", other_workflow))
    assert on_other.status_code == 403

    # Another merchant's link for this case (signed by us, but not this case's merchant) shows nothing.
    foreign = f"/a/{signer.token(workflow_id=workflow_id, action=LinkAction.APPROVE, person='merchant:m-else')}"
    assert (await stack.http.get(foreign)).status_code == 403

    assert await case_status(stack, case_id) == "pending_review"
    assert await case_status(stack, other_id) == "pending_review"
    for case in (case_id, other_id):
        events = [e["event"] for e in (await stack.call(MERCHANT, "GET", f"/v1/after-sales/{case}")).json()["history"]]
        assert "approved" not in events
        assert "rejected" not in events


async def test_a_reject_link_asks_for_a_reason_and_rejects_with_it(stack: Stack) -> None:
    case_id = await open_case(stack, "reject")
    workflow_id = ids.after_sale(case_id)
    person = f"merchant:{stack.merchant_id}"
    reject = f"/a/{stack.signer().token(workflow_id=workflow_id, action=LinkAction.REJECT, person=person)}"

    page = await stack.http.get(reject)
    assert "<textarea" in page.text
    assert "拒绝理由 Reason" in page.text

    blank = await stack.http.post(reject, data=form("reject", workflow_id, ""))
    assert blank.status_code == 422
    assert await case_status(stack, case_id) == "pending_review"

    done = await stack.http.post(reject, data=form("reject", workflow_id, "商品已拆封使用"))
    assert done.status_code == 200, done.text
    case = (await stack.call(MERCHANT, "GET", f"/v1/after-sales/{case_id}")).json()
    assert case["status"] == "rejected"
    assert case["rejection_reason"] == "商品已拆封使用"


async def test_work_order_links_accept_reply_and_resolve_for_the_assignee_only(stack: Stack) -> None:
    # A work order goes to one of the merchant's agents only: this merchant gets a-1 (the stack's has none).
    agents = [{"agent_id": "a-1", "name": "小李", "mobile": "13900000011"}]
    body = merchant_body(dingtalk=(stack.robot.webhook_url, ROBOT_SECRET), agents=agents, backup_agent_id=None)
    assert (await stack.call(ADMIN, "PUT", f"/v1/merchants/{stack.merchant_id}", json=body)).status_code == 200
    work_order_id = f"W-{uuid.uuid4().hex[:8]}"
    body = {
        "work_order_id": work_order_id,
        "merchant_id": stack.merchant_id,
        "category": "quality",
        "title": "屏幕有划痕",
        "assignee_id": "a-1",
    }
    assert (await stack.call(MALL, "POST", "/v1/work-orders", json=body)).status_code == 201
    workflow_id = ids.work_order(work_order_id)
    signer = stack.signer()

    def link(action: LinkAction, person: str = "a-1") -> str:
        return f"/a/{signer.token(workflow_id=workflow_id, action=action, person=person)}"

    async def status() -> dict[str, Any]:
        return dict((await stack.call(ADMIN, "GET", f"/v1/work-orders/{work_order_id}")).json())

    not_theirs = link(LinkAction.ACCEPT, person="a-2")
    assert "Already handled" in (await stack.http.get(not_theirs)).text
    assert (await stack.http.post(not_theirs, data=form("accept", workflow_id))).status_code == 409
    assert (await status())["status"] == "assigned"

    accept = link(LinkAction.ACCEPT)
    page = await stack.http.get(accept)
    assert "屏幕有划痕" in page.text
    assert "确认接单 Accept" in page.text
    assert (await stack.http.post(accept, data=form("accept", workflow_id))).status_code == 200
    assert (await status())["status"] == "in_progress"

    reply = link(LinkAction.REPLY)
    assert (await stack.http.post(reply, data=form("reply", workflow_id, ""))).status_code == 422
    assert (await stack.http.post(reply, data=form("reply", workflow_id, "您好，已安排换货"))).status_code == 200
    first = (await status())["first_response_at"]
    assert first is not None
    # The reply link was for the first response: used, it is handled, and posts no second message.
    second = await stack.http.post(reply, data=form("reply", workflow_id, "再说一次"))
    assert second.status_code == 409
    assert [e["event"] for e in (await status())["history"]].count("replied") <= 1

    resolve = link(LinkAction.RESOLVE)
    done = await stack.http.post(resolve, data=form("resolve", workflow_id, "已换新"))
    assert done.status_code == 200, done.text
    resolved = await status()
    assert resolved["status"] == "resolved"
    assert resolved["resolution"] == "已换新"


async def test_an_order_link_only_shows_the_order(stack: Stack) -> None:
    order = order_body(paid_at=datetime.now(UTC).isoformat(), merchant_id=stack.merchant_id)
    assert (await stack.call(MALL, "POST", "/v1/orders", json=order)).status_code == 201
    workflow_id = ids.order(order["order_id"])
    person = f"merchant:{stack.merchant_id}"
    view = f"/a/{stack.signer().token(workflow_id=workflow_id, action=LinkAction.OPEN, person=person)}"

    page = await stack.http.get(view)
    assert page.status_code == 200
    assert order["order_id"] in page.text
    assert "awaiting_shipment" in page.text
    assert "<form" not in page.text
    assert ADDRESS_NAME not in page.text
    assert (await stack.http.post(view, data=form("open", workflow_id))).status_code == 403


async def test_links_are_off_without_a_secret(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'off.db'}"
    upgrade(url)
    settings = Settings(database_url=url, task_queue=f"off-{uuid.uuid4()}", api_keys={ADMIN: "admin"})
    token = LinkSigner(LINK_SECRET, ttl=timedelta(hours=1), public_url=PUBLIC_URL).token(
        workflow_id="aftersale-x", action=LinkAction.APPROVE, person="merchant:m"
    )
    async with (
        ServedApp(create_app(settings, client=dev_env.client)) as served,
        httpx.AsyncClient(base_url=served.url) as http,
    ):
        assert (await http.get(f"/a/{token}")).status_code == 404
