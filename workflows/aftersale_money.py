"""An after-sales case's money: the refund, paid once, and the return postage claimed from shipping insurance.

Both are partner calls with an idempotency key bound to what they pay, so no retry, worker crash or replay
pays twice; a refund refused for good leaves the merchant to refund offline, on its own clock.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.partners import REFUSED, Partners
    from domain import ids
    from domain.cases import CaseStatus, InsuranceClaim, Refund, RefundLine
    from domain.notifications import Audience, Template
    from domain.orders import Actor
    from workflows.aftersale_base import CaseBase
    from workflows.effects import notification_key, why

MONEY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=10),
    non_retryable_error_types=[REFUSED],
)


class CaseMoney(CaseBase):
    """The refund and the insurance claim."""

    async def _refund(self) -> None:
        """Refunds once: no retry, worker crash or replay can pay twice.

        The key is the case's, bound to the order, the lines and the amount: a retry asks the same refund
        under the same key, and no other refund can ever be answered with this one's result.
        """
        request = self._input.request
        prices = {line.line_id: line.unit_price_cents for line in self._input.order_lines}
        lines = [
            RefundLine(line_id=line.line_id, quantity=line.quantity, unit_price_cents=prices[line.line_id])
            for line in request.lines
        ]
        amount = self._amount()
        refund = Refund(
            refund_id=ids.partner_key("refund", request.case_id, request.order_id, lines, amount),
            order_id=request.order_id,
            case_id=request.case_id,
            merchant_id=self._input.merchant_id,
            amount_cents=amount,
            reason=request.reason,
            lines=lines,
        )
        try:
            receipt = await workflow.execute_activity_method(
                Partners.refund,
                refund,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=MONEY,
                summary=f"refund {refund.amount_cents} cents",
            )
        except ActivityError as failure:
            # Refused for good by the payment side: the merchant refunds offline, on its own clock.
            self._enter(CaseStatus.AWAITING_OFFLINE_REFUND)
            self._changed("refund_failed", Actor.SYSTEM, detail=why(failure))
            self._tell(
                notification_key("refund", "refund_failed"),
                Template.REFUND_FAILED,
                (Audience.MERCHANT,),
                deadline_at=workflow.now() + self._input.policy.offline_refund_deadline,
                amount=f"¥{refund.amount_cents / 100:.2f}",
            )
            return
        self._s.refunded_cents = refund.amount_cents
        self._changed("refund_issued", Actor.SYSTEM, detail=f"{refund.amount_cents} cents {receipt.provider_ref}")
        self._enter(CaseStatus.COMPLETED)

    async def _claim_insurance(self) -> None:
        """A returned insured line claims the return postage, once per case."""
        request = self._input.request
        insured = {line.line_id for line in self._input.order_lines if line.insured}
        line_ids = [line.line_id for line in request.lines if line.line_id in insured]
        if not line_ids or self._journal.has("insurance_claimed"):
            return
        postage = self._s.return_postage_cents or 0
        claim = InsuranceClaim(
            claim_id=ids.partner_key("insurance", request.case_id, request.order_id, line_ids, postage),
            order_id=request.order_id,
            case_id=request.case_id,
            line_ids=line_ids,
            postage_cents=postage,
        )
        try:
            receipt = await workflow.execute_activity_method(
                Partners.claim_insurance,
                claim,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=MONEY,
                summary="shipping insurance claim",
            )
        except ActivityError as failure:
            self._changed("insurance_claim_failed", Actor.SYSTEM, detail=why(failure))
            return
        self._changed("insurance_claimed", Actor.SYSTEM, detail=f"{receipt.paid_cents} cents {receipt.status}")
