"""Each message kind's own SMS template: the code set for it, and just the variables its template takes.

Aliyun SMS is a real local server (tests/peers/sms.py) that knows the approved templates and their
variables, and refuses a request whose TemplateParam does not match them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings, SmsBackend
from domain.notifications import SPECS, Template
from tests.peers.sms import SmsPeer
from tests.waiting import until
from tests.workflows.work_orders import open_work_order
from workflows.work_order import WorkOrderWorkflow

MINUTE = timedelta(minutes=1)
AGENT_1 = "13900000011"
PLATFORM = "13700000000"
NOT_ACCEPTED, ESCALATED, GENERIC = "SMS_480010001", "SMS_480010002", "SMS_480000000"


@pytest.fixture(scope="module")
def sms() -> Iterator[SmsPeer]:
    """Aliyun with the generic template and the two kinds' own, registered with their variables."""
    templates = {
        NOT_ACCEPTED: SPECS[Template.WORK_ORDER_NOT_ACCEPTED].sms_variables,
        ESCALATED: SPECS[Template.WORK_ORDER_ESCALATED].sms_variables,
    }
    with SmsPeer(
        access_key_id="LTAI5tKinds", access_key_secret="kinds-secret", template_code=GENERIC, templates=templates
    ) as peer:
        yield peer


@pytest.fixture
def settings(settings: Settings, sms: SmsPeer) -> Settings:
    return settings.model_copy(
        update={
            "sms_backend": SmsBackend.ALIYUN,
            "sms_endpoint": sms.endpoint,
            "sms_access_key_id": sms.access_key_id,
            "sms_access_key_secret": sms.access_key_secret,
            "sms_sign_name": sms.sign_name,
            "sms_template_code": GENERIC,
            "sms_templates": {
                Template.WORK_ORDER_NOT_ACCEPTED.value: NOT_ACCEPTED,
                Template.WORK_ORDER_ESCALATED.value: ESCALATED,
            },
        }
    )


def texts(sms: SmsPeer, work_order_id: str, clock: str) -> list[dict[str, Any]]:
    """The SMS about one clock of the work order, with their TemplateParam decoded."""
    return [
        {**m, "TemplateParam": json.loads(m["TemplateParam"])}
        for m in sms.messages
        if f"{work_order_id}:{clock}:" in m["OutId"]
    ]


async def test_an_accept_overdue_sms_and_a_platform_ops_escalation_sms_carry_their_own_templates(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str, sms: SmsPeer
) -> None:
    handle = await open_work_order(client, settings, merchant_id, assignee_id="a-1", priority="urgent")
    wo = (await handle.query(WorkOrderWorkflow.state)).work_order_id
    workflow_id = handle.id

    await ts_env.sleep(31 * MINUTE)  # the accept clock's breach: the assignee is texted
    await until(lambda: len(texts(sms, workflow_id, "accept")) == 1)
    [accept] = texts(sms, workflow_id, "accept")
    assert accept["PhoneNumbers"] == AGENT_1
    assert accept["TemplateCode"] == NOT_ACCEPTED
    assert accept["TemplateParam"] == {"work_order_id": wo}

    # By then the first response is twice its 15 minutes late: platform operations were texted at 30.
    await until(lambda: len(texts(sms, workflow_id, "first_response")) == 1)
    [escalated] = texts(sms, workflow_id, "first_response")
    assert escalated["PhoneNumbers"] == PLATFORM
    assert escalated["TemplateCode"] == ESCALATED
    assert escalated["TemplateParam"] == {"work_order_id": wo, "task": "首次响应", "level": "2"}
    assert sms.rejected == []
