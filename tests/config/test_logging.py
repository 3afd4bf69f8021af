"""Logs: JSON lines through one set of processors, phone numbers masked, secrets never written."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from config.logging import configure_logging, mask_sensitive


@pytest.fixture
def restore_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_phone_numbers_are_masked_and_secrets_hidden() -> None:
    event = mask_sensitive(
        None, "info", {"event": "sms to 13912345678", "mobile": "+8613912345678", "dingtalk_secret": "SECabc"}
    )
    assert event == {"event": "sms to 139****5678", "mobile": "+86139****5678", "dingtalk_secret": "***"}


def test_request_ids_and_digit_runs_that_are_not_mobiles_are_kept() -> None:
    kept = {
        "request_id": "13912345678",  # a caller's own correlation id, whatever it looks like
        "generated": "3f2a13912345678b0c9d4e5f6a7b8c9d",  # a uuid4 hex id with a mobile-like run inside
        "tracking": "SF13912345678 and YT1391234567801",
        "millis": "1712345678901",
        "card": "6222021391234567890",
        "not_mobile": "12345678901 and 10086100861",
    }
    assert mask_sensitive(None, "info", dict(kept)) == kept
    masked = mask_sensitive(None, "info", {"event": "致电13912345678，或 +86 13912345678 或 8613912345678"})
    assert masked["event"] == "致电139****5678，或 +86 139****5678 或 86139****5678"


def test_structlog_and_stdlib_loggers_write_the_same_json(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(level="INFO", fmt="json")
    structlog.get_logger("aftersales").info("notification_sent", mobile="13800138000", channel="dingtalk")
    logging.getLogger("temporalio.worker").warning("worker for %s polling", "13800138000")

    ours, temporal = lines(capsys.readouterr().err)
    assert ours["event"] == "notification_sent"
    assert ours["mobile"] == "138****8000"
    assert ours["level"] == "info"
    assert temporal["logger"] == "temporalio.worker"
    assert temporal["event"] == "worker for 138****8000 polling"
    assert {"timestamp", "level", "logger"} <= temporal.keys()


def test_ids_in_url_paths_are_kept_so_the_log_finds_them_and_a_mobile_in_a_query_is_masked() -> None:
    access = '127.0.0.1:5000 - "GET /v1/orders/o-13812345678 HTTP/1.1" 200'
    assert mask_sensitive(None, "info", {"event": access})["event"] == access
    for kept in ("/v1/orders/13812345678/shipment", "case_13812345678", "13812345678-return"):
        assert mask_sensitive(None, "info", {"path": kept})["path"] == kept
    query = mask_sensitive(None, "info", {"event": "GET /v1/x?mobile=13812345678 HTTP/1.1"})
    assert query["event"] == "GET /v1/x?mobile=138****5678 HTTP/1.1"
