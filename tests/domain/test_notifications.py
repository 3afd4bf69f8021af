"""The SMS of a message kind: its own template with its variables, or the generic one with the whole text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from config.settings import Settings
from domain.notifications import SMS_VARIABLE_MAX, SPECS, Notification, Template, sms_of


def not_accepted(**params: str | int | None) -> Notification:
    return Notification(
        key="workorder-WO-1:accept:0:breach",
        merchant_id="m-1",
        template=Template.WORK_ORDER_NOT_ACCEPTED,
        params={"work_order_id": "WO-1", "title": "电水壶漏水", "assignee": "a-1", **params},
    )


def test_every_kind_has_an_sms_template_whose_variables_are_its_placeholders() -> None:
    for spec in SPECS.values():
        for name in spec.sms_variables:
            assert f"${{{name}}}" in spec.sms_template
        assert "{" not in spec.sms_template.replace("${", "")


def test_a_kind_with_its_own_code_sends_only_its_variables_and_others_use_the_generic_template() -> None:
    codes = {Template.WORK_ORDER_NOT_ACCEPTED.value: "SMS_1"}
    own = sms_of(not_accepted(), "Asia/Shanghai", codes=codes, generic="SMS_0")
    assert (own.template_code, own.params) == ("SMS_1", {"work_order_id": "WO-1"})

    generic = sms_of(not_accepted(), "Asia/Shanghai", codes={}, generic="SMS_0")
    assert generic.template_code == "SMS_0"
    assert generic.params["content"] == "工单 WO-1 已分配给您，请尽快接单"
    assert generic.params["title"] == "电水壶漏水"


def test_a_deadline_reads_in_local_time_and_a_long_value_is_cut_to_aliyuns_limit() -> None:
    appealed = Notification(
        key="k",
        merchant_id="m-1",
        template=Template.WORK_ORDER_APPEALED,
        params={"work_order_id": "WO-" + "9" * 60},
        deadline_at=datetime(2026, 3, 2, 1, 30, tzinfo=UTC),
    )
    sms = sms_of(appealed, "Asia/Shanghai", codes={Template.WORK_ORDER_APPEALED.value: "SMS_2"}, generic="")
    assert sms.params["deadline_at"] == "2026-03-02 09:30"
    assert len(sms.params["work_order_id"]) == SMS_VARIABLE_MAX
    assert sms.params["work_order_id"].endswith("…")


def test_a_link_is_never_cut() -> None:
    link = "http://board.example.com/v1/board?merchant_id=m-1&day=2026-11-26"
    digest = Notification(
        key="k", merchant_id="m-1", template=Template.DAILY_DIGEST, params={"date": "2026-11-26", "link": link}
    )
    sms = sms_of(digest, "Asia/Shanghai", codes={Template.DAILY_DIGEST.value: "SMS_3"}, generic="")
    assert sms.params["link"] == link
    assert sms.params["overdue_shipments"] == "-"


def test_sms_templates_are_read_as_json_and_an_unknown_kind_is_refused() -> None:
    settings = Settings(sms_templates='{"work_order_not_accepted": "SMS_1"}')  # type: ignore[arg-type]
    assert settings.sms_templates == {"work_order_not_accepted": "SMS_1"}
    with pytest.raises(ValidationError, match="no message kind work_order_lost"):
        Settings(sms_templates='{"work_order_lost": "SMS_1"}')  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="empty template code"):
        Settings(sms_templates={"ship_reminder": " "})
