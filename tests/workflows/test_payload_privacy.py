"""What Temporal stores of a watch and its case: no customer's name, phone or address in clear."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from tests.conftest import CODEC
from tests.payloads import decrypted, stored_bytes
from tests.workflows.cases import delivered_order, open_case
from workflows.aftersale import REQUEST_MEMO, AfterSaleWorkflow

NEW_ADDRESS = {"name": "李四海", "phone": "13911112222", "address": "北京市朝阳区建国路 88 号"}
CLEAR = ["13800138000", "王小明", "世纪大道", "13911112222", "李四海", "建国路"]


async def test_histories_and_memos_hold_no_customer_details_in_clear(
    ts_env: WorkflowEnvironment, client: Client, settings: Settings, merchant_id: str
) -> None:
    order = await delivered_order(client, settings, merchant_id, await ts_env.get_current_time())
    case = await open_case(
        client, settings, order, "exchange", [{"line_id": "L1", "quantity": 1}], new_address=NEW_ADDRESS
    )
    assert (await case.query(AfterSaleWorkflow.state)).status  # the worker reads what it wrote

    for handle in (order, case):
        history = await handle.fetch_history()
        stored = stored_bytes(history)
        assert b"binary/encrypted" in stored
        for text in CLEAR:
            assert text.encode() not in stored, f"{text} in clear in {handle.id}"
        # The holder of the keys reads it all back: the check above looked where the details are.
        opened = stored_bytes(await decrypted(history, CODEC))
        assert any(text.encode() in opened for text in CLEAR)

    memo = await (await case.describe()).memo()
    assert set(memo) == {REQUEST_MEMO}
    assert not any(text in str(memo) for text in CLEAR)
