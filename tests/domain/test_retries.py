"""Retries of human steps and the fingerprints that recognise them, without Temporal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from domain import ids
from domain.cases import ParcelShipment
from domain.orders import LogisticsEvent
from domain.retries import AppliedSteps, Attempt
from tests.factories import place_order

SHANGHAI = timezone(timedelta(hours=8))
PAID = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


def test_the_same_instant_with_another_offset_is_the_same_body() -> None:
    order = place_order(paid_at=PAID, order_id="O-1")
    same = order.model_copy(update={"paid_at": PAID.astimezone(SHANGHAI)})
    later = order.model_copy(update={"paid_at": PAID + timedelta(seconds=1)})
    assert ids.fingerprint(same) == ids.fingerprint(order)
    assert ids.fingerprint(later) != ids.fingerprint(order)


def test_an_action_is_a_retry_only_with_the_body_it_was_applied_with() -> None:
    applied = AppliedSteps()
    shipment = ParcelShipment(carrier="SF", tracking_no="SF1")
    assert not applied.repeats("return_shipment", shipment)  # nothing applied yet

    applied.record("return_shipment", shipment)
    applied.record("approve")
    assert applied.repeats("return_shipment", ParcelShipment(carrier="SF", tracking_no="SF1"))
    assert not applied.repeats("return_shipment", ParcelShipment(carrier="SF", tracking_no="SF2"))
    assert applied.repeats("approve")
    assert not applied.repeats("cancel")

    applied.forget("approve")
    assert not applied.repeats("approve")


def test_an_attempt_from_the_api_is_read_as_the_applied_body() -> None:
    applied = AppliedSteps()
    applied.record("logistics", LogisticsEvent(status="delivered", at=PAID))
    applied.record("confirm")
    kinds = {"logistics": LogisticsEvent}
    retry = LogisticsEvent(status="delivered", at=PAID.astimezone(SHANGHAI))
    assert applied.repeats_attempt(Attempt.of("logistics", retry), kinds)
    assert not applied.repeats_attempt(Attempt.of("logistics", LogisticsEvent(status="in_transit", at=PAID)), kinds)
    assert not applied.repeats_attempt(Attempt(action="logistics", body={"carrier": "SF"}), kinds)  # another kind
    assert applied.repeats_attempt(Attempt.of("confirm"), kinds)
    assert not applied.repeats_attempt(Attempt.of("confirm", retry), kinds)


def test_the_steps_applied_survive_serialisation_and_still_recognise_a_retry() -> None:
    applied = AppliedSteps()
    applied.record("logistics", LogisticsEvent(status="delivered", at=PAID))
    applied.record("confirm")
    carried = AppliedSteps.model_validate_json(applied.model_dump_json())  # as continue-as-new hands it over
    kinds = {"logistics": LogisticsEvent}
    retry = LogisticsEvent(status="delivered", at=PAID.astimezone(SHANGHAI))
    assert carried.repeats("logistics", retry)
    assert carried.repeats_attempt(Attempt.of("logistics", retry), kinds)
    assert not carried.repeats_attempt(Attempt.of("logistics", LogisticsEvent(status="in_transit", at=PAID)), kinds)
    assert not carried.repeats_attempt(Attempt(action="logistics", body={"carrier": "SF"}), kinds)  # another kind
    assert carried.repeats("confirm")
    assert carried.repeats_attempt(Attempt.of("confirm"), kinds)
    assert not carried.repeats_attempt(Attempt.of("confirm", retry), kinds)
    assert not carried.repeats("confirm", retry)
    carried.forget("confirm")
    assert not carried.repeats("confirm")
