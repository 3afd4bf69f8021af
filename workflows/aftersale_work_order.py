"""An after-sales case's platform work order: opened for a dispute or a lapsed review, closed when settled.

The case opens the work order as a child (parent-close ABANDON), linked both ways; the work order's decision
comes back by :meth:`~workflows.aftersale_decisions.CaseDecisions.work_order_decided`, and a case settled
without it tells the work order, which closes as moot.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from domain import ids
    from domain.cases import Action
    from domain.notifications import Audience, Template
    from domain.orders import Actor
    from domain.work_orders import CaseSettled, OpenWorkOrder, Priority, WorkOrderCategory, WorkOrderInput
    from workflows import search_attributes as sa
    from workflows.aftersale_decisions import CaseDecisions
    from workflows.effects import notification_key, tell_workflow
    from workflows.work_order import WorkOrderWorkflow

# Why a case opens a platform work order: (category, title). Titles name the case, never the customer.
WORK_ORDER_PURPOSES = {
    "appeal": (WorkOrderCategory.SERVICE, "售后申诉 after-sales appeal"),
    "receipt_refused": (WorkOrderCategory.QUALITY, "退货拒收争议 refused return"),
    "review_lapsed": (WorkOrderCategory.SERVICE, "商家超时未审核 review lapsed"),
}
WORK_ORDER_ATTEMPTS = 3  # ids taken by the mall's own work orders are skipped, up to this many


class CaseWorkOrder(CaseDecisions):
    """The case's platform work order."""

    async def _dispute(self, purpose: str, reason: str) -> None:
        """A disputed case: the platform's group hears of it at once, and a platform work order decides it."""
        self._s.applied.forget(Action.RESOLVE_DISPUTE)  # a new dispute: the last one's decision is no answer
        key = notification_key("dispute", f"dispute_{self._journal.revision}")
        self._tell(key, Template.CASE_DISPUTED, (Audience.PLATFORM,), reason=reason)
        merchant_said = f"the merchant: {self._s.rejection_reason}" if purpose == "appeal" else f"refused: {reason}"
        await self._open_work_order(purpose, merchant_said)

    async def _open_work_order(self, purpose: str, merchant_said: str) -> None:
        """Opens a platform work order for this case (a child, parent-close ABANDON), linked both ways.

        Unassigned, so the platform's customer-service group is prompted after ``AFTERSALES_WO_ASSIGN``
        (30 min); round the clock, since the platform's desk, not the merchant's, answers it. The title and
        description carry the case's ids and the merchant's words, never the customer's.
        """
        request = self._input.request
        category, title = WORK_ORDER_PURPOSES[purpose]
        description = (
            f"{purpose}: case {request.case_id} ({request.kind.value}, {self._amount()} cents) "
            f"of order {request.order_id}; {merchant_said}"
        )[:4000]
        for _ in range(WORK_ORDER_ATTEMPTS):
            self._s.work_orders += 1
            work_order_id = ids.case_work_order(request.case_id, self._s.work_orders)
            opened = OpenWorkOrder(
                work_order_id=work_order_id,
                merchant_id=self._input.merchant_id,
                category=category,
                priority=Priority.NORMAL,
                title=f"{title} {request.case_id}",
                description=description,
                order_id=request.order_id,
                case_id=request.case_id,
                customer_id=self._input.customer_id,
            )
            # Linked before the start returns, so an Update answered meanwhile already shows it.
            self._s.work_order_id, self._s.work_order_open = work_order_id, True
            try:
                await workflow.start_child_workflow(
                    WorkOrderWorkflow.run,
                    WorkOrderInput(
                        request=opened,
                        policy=self._input.policy,
                        board_url=self._input.board_url,
                        settles_case=True,
                        callbacks=self._input.callbacks,  # the mall hears of the work order as of its case
                    ),
                    id=ids.work_order(work_order_id),
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    parent_close_policy=ParentClosePolicy.ABANDON,
                    search_attributes=sa.initial_work_order_attributes(
                        merchant_id=self._input.merchant_id,
                        order_id=request.order_id,
                        status="unassigned",
                        priority=Priority.NORMAL.value,
                        assignee_id=None,
                    ),
                    static_summary=f"Platform work order of case {request.case_id} ({purpose})",
                )
            except WorkflowAlreadyStartedError:
                self._s.work_order_id, self._s.work_order_open = None, False
                continue  # the mall uses this id for a work order of its own: the next number
            self._changed("work_order_opened", Actor.SYSTEM, detail=work_order_id)
            return
        self._changed("work_order_failed", Actor.SYSTEM, detail=f"no free work order id for {purpose}")

    def _settle_work_order(self, actor: Actor, outcome: str, reason: str = "") -> None:
        """The case was settled without its work order's decision: the work order closes as settled."""
        if not self._s.work_order_open or self._s.work_order_id is None:
            return
        self._s.work_order_open = False
        settled = CaseSettled(case_id=self._input.request.case_id, status=outcome, actor=actor, reason=reason)
        self._journal.in_background(
            tell_workflow(ids.work_order(self._s.work_order_id), WorkOrderWorkflow.case_settled, settled)
        )
