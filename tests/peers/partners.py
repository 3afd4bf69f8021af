"""The payment, logistics and insurance sides as one real local HTTP server.

Like a careful payment provider, it keys every request by its ``Idempotency-Key`` header: the first
request with a key acts (moves money, books a courier, pays a claim) and remembers its answer; a later
request with the same key and the same body gets that answer back and acts no more, and one with the same
key but another body is refused with 422 ``idempotency_key_reused`` (as Stripe and the IETF draft do). It
checks that the header matches the body's own id and that money is integer cents. A test can make it act
and then fail to answer (the provider processed the refund but the caller never heard), or refuse for good.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.peers.server import Peer

REQUIRED = {
    "/refunds": ("refund_id", {"refund_id", "order_id", "case_id", "merchant_id", "amount_cents", "currency", "lines"}),
    "/pickups": ("booking_id", {"booking_id", "case_id", "order_id", "address", "slot_start", "slot_end"}),
    "/claims": ("claim_id", {"claim_id", "order_id", "case_id", "line_ids", "postage_cents"}),
}


class PartnersPeer(Peer):
    """Payments (``/refunds``), logistics (``/pickups``) and insurance (``/claims``)."""

    def __init__(self, *, pickup_fee_cents: int = 1200) -> None:
        super().__init__()
        self.pickup_fee_cents = pickup_fee_cents
        self._answers: dict[str, dict[str, Any]] = {}
        self._asked: dict[str, dict[str, Any]] = {}  # the body each key was first used with
        self._acted: list[tuple[str, dict[str, Any]]] = []
        self._lose_answers = 0
        self.cancelled: list[str] = []

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/refunds", self._handle, methods=["POST"]),
                Route("/pickups", self._handle, methods=["POST"]),
                Route("/claims", self._handle, methods=["POST"]),
                Route("/pickups/{booking_id}/cancel", self._cancel, methods=["POST"]),
            ]
        )

    def acted(self, path: str) -> list[dict[str, Any]]:
        """What was done at ``path`` (money moved, couriers booked, claims paid), once per key."""
        with self._lock:
            return [body for where, body in self._acted if where == path]

    def act_then_fail(self, times: int = 1) -> None:
        """The next ``times`` new requests are carried out, then answered 500 as if the reply were lost."""
        with self._lock:
            self._lose_answers += times

    def refuse_next(self, code: str, times: int = 1, status: int = 422) -> None:
        """The next ``times`` requests are refused for good (nothing is done)."""
        self.can({"code": code, "message": "refused"}, times, status)

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._answers.clear()
            self._asked.clear()
            self._acted.clear()
            self._lose_answers = 0
            self.cancelled.clear()

    async def _handle(self, request: Request) -> JSONResponse:
        await self.stall()
        path = request.url.path
        body = await request.json()
        id_field, required = REQUIRED[path]
        key = request.headers.get("idempotency-key")
        problem = _check(body, key, id_field, required)
        if problem:
            self.reject(problem, body)
            return JSONResponse({"code": "bad_request", "message": problem}, status_code=400)
        canned = self.take_canned()
        if canned is not None:
            self.reject("canned", body)
            return JSONResponse(canned.answer, status_code=canned.status)
        with self._lock:
            asked = self._asked.get(f"{path}:{key}")
            if asked is not None and asked != body:
                self._rejected.append(("key reused", body))
                return JSONResponse(
                    {"code": "idempotency_key_reused", "message": "this key was used with another body"},
                    status_code=422,
                )
            known = self._answers.get(f"{path}:{key}")
            if known is None:
                known = self._answers[f"{path}:{key}"] = self._act(path, body)
                self._asked[f"{path}:{key}"] = body
                self._acted.append((path, body))
                self._messages.append(body)
                if self._lose_answers:
                    self._lose_answers -= 1
                    return JSONResponse({"code": "internal", "message": "reply lost"}, status_code=500)
        return JSONResponse(known)

    def _act(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if path == "/refunds":
            return {
                "refund_id": body["refund_id"],
                "status": "succeeded",
                "provider_ref": f"PAY-{len(self._acted) + 1}",
            }
        if path == "/pickups":
            number = len([1 for where, _ in self._acted if where == "/pickups"]) + 1
            return {"waybill_no": f"SF{number:08d}", "carrier": "SF", "fee_cents": self.pickup_fee_cents}
        return {"claim_id": body["claim_id"], "status": "paid", "paid_cents": body["postage_cents"]}

    async def _cancel(self, request: Request) -> JSONResponse:
        booking_id = request.path_params["booking_id"]
        with self._lock:
            self.cancelled.append(booking_id)
        return JSONResponse({})


def _check(body: Any, key: str | None, id_field: str, required: set[str]) -> str | None:
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    missing = required - set(body)
    if missing:
        return f"missing {sorted(missing)}"
    if not key or key != body[id_field]:
        return f"Idempotency-Key must be the {id_field}"
    for name in ("amount_cents", "postage_cents"):
        if name in body and (not isinstance(body[name], int) or body[name] < 0):
            return f"{name} must be a non-negative integer"
    if "amount_cents" in body:
        total = sum(line["quantity"] * line["unit_price_cents"] for line in body["lines"])
        if total != body["amount_cents"]:
            return "amount_cents must be the sum of the lines"
    return None
