"""Partner activities: refunds (payments), pickup bookings (logistics), shipping-insurance claims.

Every call carries an ``Idempotency-Key`` derived from the case, so a retried activity — one that timed
out after the partner acted, or whose worker died — asks the same thing again and is answered with the
first result instead of acting twice. With no endpoint configured, a built-in simulator answers and records
what it was asked in the ``partner_call`` table (what ``make dev`` uses).

Wire format (JSON over HTTP POST, ``Idempotency-Key`` header):

- payments ``{AFTERSALES_PAYMENTS_ENDPOINT}/refunds``: :class:`~domain.cases.Refund` →
  ``{"refund_id", "status": "succeeded", "provider_ref"}``
- logistics ``{AFTERSALES_LOGISTICS_ENDPOINT}/pickups``: :class:`~domain.pickups.Booking` →
  ``{"waybill_no", "carrier", "fee_cents"}``; ``/pickups/{booking_id}/cancel`` → ``{}``
- insurance ``{AFTERSALES_INSURANCE_ENDPOINT}/claims``: :class:`~domain.cases.InsuranceClaim` →
  ``{"claim_id", "status", "paid_cents"}``

A 4xx answer other than 408/409/425/429 is a refusal for good: the activity fails without retry
(type ``refused``) and the workflow takes its fallback. Anything else is retried by Temporal. A partner
must answer a key it knows with its first answer only when the body is the same, and refuse the key with
another body (422, as the IETF Idempotency-Key draft and Stripe do); the simulators do exactly that.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from config.settings import Settings
from domain.cases import InsuranceClaim, Refund, RefundReceipt
from domain.pickups import Booking, BookingCancellation, BookingConfirmation, ClaimReceipt
from readmodel.db import session_scope
from readmodel.tables import PartnerCall

log = structlog.get_logger(__name__)

REFUSED = "refused"
_RETRYABLE_4XX = {408, 409, 425, 429}
SIMULATED_PICKUP_FEE_CENTS = 1200
KEY_REUSED = "idempotency_key_reused"  # the simulators' (and a careful provider's) 422 code


class Partners:
    """The payment, logistics and insurance sides, over HTTP or simulated.

    Args:
        http: the shared HTTP client.
        engine: where the simulators record what they were asked.
        settings: the partners' endpoints (unset: simulated).
    """

    def __init__(self, *, http: httpx.AsyncClient, engine: Engine, settings: Settings) -> None:
        self._http = http
        self._engine = engine
        self._settings = settings

    @activity.defn
    async def refund(self, refund: Refund) -> RefundReceipt:
        """Refunds ``refund.amount_cents`` once; a retry with the same ``refund_id`` pays nothing more."""
        answer = await self._call(
            "payments", self._settings.payments_endpoint, "/refunds", refund.refund_id, refund, self._simulate_refund
        )
        log.info("refund_issued", refund_id=refund.refund_id, amount_cents=refund.amount_cents)
        return RefundReceipt.model_validate(answer)

    @activity.defn
    async def book_pickup(self, booking: Booking) -> BookingConfirmation:
        """Books a courier for a return; the same ``booking_id`` books once."""
        answer = await self._call(
            "logistics", self._settings.logistics_endpoint, "/pickups", booking.booking_id, booking, _simulate_booking
        )
        return BookingConfirmation.model_validate(answer)

    @activity.defn
    async def cancel_pickup(self, cancellation: BookingCancellation) -> None:
        """Drops a booking (unpaid, cancelled, or missed by the courier)."""
        path = f"/pickups/{cancellation.booking_id}/cancel"
        key = f"{cancellation.booking_id}:cancel"
        await self._call("logistics", self._settings.logistics_endpoint, path, key, cancellation, lambda _: {})

    @activity.defn
    async def claim_insurance(self, claim: InsuranceClaim) -> ClaimReceipt:
        """Claims a return's postage from the shipping insurance, once per case."""
        answer = await self._call(
            "insurance", self._settings.insurance_endpoint, "/claims", claim.claim_id, claim, _simulate_claim
        )
        return ClaimReceipt.model_validate(answer)

    async def _call(
        self,
        partner: str,
        endpoint: str | None,
        path: str,
        key: str,
        body: BaseModel,
        simulate: Any,
    ) -> dict[str, Any]:
        if endpoint is None:
            return await asyncio.to_thread(self._simulated, partner, path, key, body, simulate)
        try:
            response = await self._http.post(
                endpoint.rstrip("/") + path, json=body.model_dump(mode="json"), headers={"Idempotency-Key": key}
            )
        except httpx.HTTPError as error:
            raise ApplicationError(f"{partner} unreachable: {type(error).__name__}", type="unreachable") from error
        if 400 <= response.status_code < 500 and response.status_code not in _RETRYABLE_4XX:
            raise ApplicationError(
                f"{partner} refused {key}: {response.status_code} {response.text[:200]}",
                type=REFUSED,
                non_retryable=True,
            )
        if response.status_code >= 300:
            raise ApplicationError(f"{partner} answered {response.status_code}", type="partner_error")
        answer: dict[str, Any] = response.json() if response.content else {}
        return answer

    def _simulated(self, partner: str, path: str, key: str, body: BaseModel, simulate: Any) -> dict[str, Any]:
        """The simulator: the first call with a key acts and records; later calls get the same answer.

        It records the request without the customer's contact (:func:`recorded_request`): the read model
        keeps what answers a retry, not a pickup's name, phone and address.
        """
        call_key = f"{partner}:{key}"
        request = recorded_request(body.model_dump(mode="json"))
        with Session(self._engine) as session:
            known = session.get(PartnerCall, call_key)
            if known is not None:
                return _first_answer(partner, key, known, request)
        response: dict[str, Any] = simulate(body)
        try:
            with session_scope(self._engine) as session:
                session.add(
                    PartnerCall(
                        key=call_key,
                        partner=partner,
                        path=path,
                        request=request,
                        response=response,
                        at=datetime.now(UTC),
                    )
                )
        except IntegrityError:
            with Session(self._engine) as session:
                known = session.get(PartnerCall, call_key)
                assert known is not None
                return _first_answer(partner, key, known, request)
        log.info("partner_simulated", partner=partner, path=path, key=key)
        return response

    @staticmethod
    def _simulate_refund(refund: Refund) -> dict[str, Any]:
        return {
            "refund_id": refund.refund_id,
            "status": "succeeded",
            "provider_ref": f"SIM-{_digest(refund.refund_id)}",
        }


PII_FIELDS = frozenset({"name", "phone", "mobile", "address", "reason", "description"})
"""Fields of a partner request that may carry a customer's contact or words: never stored by a simulator."""


def recorded_request(request: dict[str, Any]) -> dict[str, Any]:
    """What a simulator stores of ``request``: its ids and amounts, each personal field ``***``, and the
    SHA-256 fingerprint of the whole request, which tells the same request again from another one."""
    canonical = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return {**_without_pii(request), "fingerprint": hashlib.sha256(canonical.encode()).hexdigest()}


def _without_pii(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: "***" if key in PII_FIELDS else _without_pii(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_pii(item) for item in value]
    return value


def _first_answer(partner: str, key: str, known: PartnerCall, request: dict[str, Any]) -> dict[str, Any]:
    """The first answer to ``key``, if this is the same request again; refused for good if it is another.

    As a payment provider does (Stripe; the IETF Idempotency-Key draft answers 422): a key names one
    request, and the same key with another body is a caller's bug that must not be answered "done".
    """
    # A row from before requests were recorded without their contact holds the whole body: compared as recorded.
    first = known.request if "fingerprint" in known.request else recorded_request(known.request)
    if first["fingerprint"] != request["fingerprint"]:
        raise ApplicationError(
            f"{partner} refused {key}: {KEY_REUSED} (the key was used before with another body)",
            type=REFUSED,
            non_retryable=True,
        )
    return dict(known.response)


def _simulate_booking(booking: Booking) -> dict[str, Any]:
    return {"waybill_no": f"SF{_digest(booking.booking_id)}", "carrier": "SF", "fee_cents": SIMULATED_PICKUP_FEE_CENTS}


def _simulate_claim(claim: InsuranceClaim) -> dict[str, Any]:
    return {"claim_id": claim.claim_id, "status": "paid", "paid_cents": claim.postage_cents or 0}


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:10].upper()
