"""Which work-order messages carry which action links, under the time-skipping server: the assignee's
reminders ask for the reply and the resolution, the accept prompt's copy for the assignee asks to accept,
and what goes to a supervisor or the platform carries none. The buttons are checked by the same signer
the API checks them with, so they name the work order, the action and the assignee.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain.notifications import LinkAction
from tests.peers import dingtalk as dingtalk_wire
from tests.waiting import until
from tests.workflows.conftest import Peers
from tests.workflows.work_orders import about, open_work_order, text

MINUTE = timedelta(minutes=1)
SUPERVISOR, AGENT_1 = "13900000002", "13900000011"
PUBLIC_URL = "https://aftersales.example"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The workflow tests' settings, with action links on."""
    return settings.model_copy(update={"link_secret": SecretStr("l" * 40), "public_url": PUBLIC_URL})


def actions(settings: Settings, message: dict[str, object]) -> list[tuple[str, LinkAction, str]]:
    """(workflow id, action, person) of every button of a DingTalk message, as the API would read them."""
    signer = settings.link_signer()
    assert signer is not None
    found = []
    for _, url in dingtalk_wire.buttons(message):  # type: ignore[arg-type]
        if not url.startswith(f"{PUBLIC_URL}/a/"):
            continue  # the message's link to the API resource
        claim = signer.check(url.removeprefix(f"{PUBLIC_URL}/a/"))
        found.append((claim.workflow_id, claim.action, claim.person))
    return found


async def test_the_assignees_reminders_carry_reply_accept_and_resolve_and_the_supervisors_carry_none(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, peers: Peers
) -> None:
    handle = await open_work_order(client, settings, merchant_id, assignee_id="a-1")
    wo = (await handle.describe()).id.removeprefix("workorder-")
    robot = peers.merchant_dingtalk

    await ts_env.sleep(8 * MINUTE)  # first response at 50 %
    await until(lambda: len(about(robot, wo)) == 1)
    [reminder] = about(robot, wo)
    assert reminder["at"]["atMobiles"] == [AGENT_1]
    assert actions(settings, reminder) == [(handle.id, LinkAction.REPLY, "a-1")]

    await ts_env.sleep(23 * MINUTE)  # 31 min: first-response breach (supervisor) and the accept prompt
    await until(lambda: any("未接单" in text(m) and m["at"]["atMobiles"] == [AGENT_1] for m in about(robot, wo)))
    for message in about(robot, wo):
        mentioned = message["at"]["atMobiles"]
        if "未接单" in text(message) and mentioned == [AGENT_1]:
            assert actions(settings, message) == [(handle.id, LinkAction.ACCEPT, "a-1")]
        elif mentioned == [SUPERVISOR]:
            assert actions(settings, message) == [], text(message)

    await ts_env.sleep(12 * 60 * MINUTE)  # the 24 h resolution clock at 50 %
    await until(lambda: any("解决" in text(m) and "[解决 Resolve]" in text(m) for m in about(robot, wo)))
    resolve = next(m for m in about(robot, wo) if "[解决 Resolve]" in text(m))
    assert resolve["at"]["atMobiles"] == [AGENT_1]
    assert actions(settings, resolve) == [(handle.id, LinkAction.RESOLVE, "a-1")]
