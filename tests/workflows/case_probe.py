"""A test-only stand-in for an after-sales case: it records what linked work orders tell it.

The after-sales workflow will implement the ``work_order_decided`` signal; until then this probe proves
the work order sends it, with the typed name and payload a case will receive.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.work_orders import WORK_ORDER_DECIDED, WorkOrderDecided


@workflow.defn
class CaseProbe:
    """Waits for one decision of a linked work order and answers it."""

    def __init__(self) -> None:
        self._decided: WorkOrderDecided | None = None

    @workflow.run
    async def run(self) -> WorkOrderDecided:
        await workflow.wait_condition(lambda: self._decided is not None)
        assert self._decided is not None
        return self._decided

    @workflow.signal(name=WORK_ORDER_DECIDED)
    def decided(self, decision: WorkOrderDecided) -> None:
        self._decided = decision
