"""What the API refuses before it reads a body: no key (401), not JSON (415), too large (413); and 405's Allow."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.api.test_orders import assert_problem, now_iso
from tests.factories import order_body

MIB = 1024 * 1024
JSON = {"Content-Type": "application/json"}  # copied into each call: the api fixture adds the key to it


def oversized_order() -> bytes:
    body = order_body(paid_at=now_iso())
    body["filler"] = "x" * MIB  # larger than AFTERSALES_MAX_BODY_BYTES (1 MiB by default)
    return json.dumps(body).encode()


async def test_a_body_over_the_limit_is_refused_by_its_length_before_it_is_read(api: Any) -> None:
    content = oversized_order()
    response = await api("mall", "POST", "/v1/orders", content=content, headers={**JSON})
    problem = assert_problem(response, 413, "payload_too_large")
    assert str(MIB) in problem["detail"]


async def test_a_streamed_body_over_the_limit_is_refused_once_the_limit_is_passed(api: Any) -> None:
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked transfer encoding
        for _ in range(64):
            sent.append(64 * 1024)
            yield b" " * (64 * 1024)

    response = await api("mall", "POST", "/v1/orders", content=chunks(), headers={**JSON})
    assert_problem(response, 413, "payload_too_large")


async def test_a_streamed_body_within_the_limit_is_served(api: Any) -> None:
    body = json.dumps(order_body(paid_at=now_iso())).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 100):
            yield body[start : start + 100]

    response = await api("mall", "POST", "/v1/orders", content=chunks(), headers={**JSON})
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None]
)
async def test_a_body_that_is_not_json_is_unsupported(api: Any, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    content = json.dumps(order_body(paid_at=now_iso())).encode()
    response = await api("mall", "POST", "/v1/orders", content=content, headers=headers)
    assert_problem(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/merge-patch+json"])
async def test_json_with_parameters_or_a_json_suffix_is_accepted(api: Any, content_type: str) -> None:
    content = json.dumps(order_body(paid_at=now_iso())).encode()
    response = await api("mall", "POST", "/v1/orders", content=content, headers={"Content-Type": content_type})
    assert response.status_code == 201, response.text


async def test_an_action_without_a_body_needs_no_content_type(api: Any) -> None:
    response = await api("merchant:m-acme", "POST", "/v1/after-sales/no-such-case/approve")
    assert_problem(response, 404, "not_found")


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b"{not json", JSON),
        (b'{"order_id": 1}', JSON),
        (b"order_id=1", {"Content-Type": "application/x-www-form-urlencoded"}),
        (None, JSON),  # oversized, below
    ],
)
async def test_a_request_without_a_key_is_unauthorized_whatever_its_body(
    api: Any, content: bytes | None, headers: dict[str, str]
) -> None:
    response = await api(None, "POST", "/v1/orders", content=content or oversized_order(), headers={**headers})
    assert_problem(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == "Bearer"
    unknown = await api("not-a-key", "POST", "/v1/orders", content=content or oversized_order(), headers={**headers})
    assert_problem(unknown, 401, "unauthorized")


async def test_a_known_key_with_a_broken_body_is_a_validation_error(api: Any) -> None:
    response = await api("mall", "POST", "/v1/orders", content=b"{not json", headers={**JSON})
    assert_problem(response, 422, "validation_error")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/v1/merchants/m-acme", {"GET", "HEAD", "PUT"}),
        ("PUT", "/v1/orders", {"POST"}),
        ("GET", "/v1/after-sales/c-1/approve", {"POST"}),
        ("POST", "/healthz", {"GET", "HEAD"}),
    ],
)
async def test_a_wrong_method_names_the_allowed_ones(api: Any, method: str, path: str, allowed: set[str]) -> None:
    response = await api("admin", method, path)
    assert_problem(response, 405, "method_not_allowed")
    assert set(response.headers["Allow"].split(", ")) == allowed


@pytest.mark.parametrize(
    ("role", "path"), [(None, "/healthz"), ("admin", "/v1/orders/o-nowhere"), (None, "/openapi.json")]
)
async def test_head_answers_like_get_without_a_body(api: Any, role: str | None, path: str) -> None:
    got = await api(role, "GET", path)
    head = await api(role, "HEAD", path)
    assert head.status_code == got.status_code
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["content-length"] == got.headers["content-length"]


async def test_head_where_no_get_is_answered_is_a_405(api: Any) -> None:
    head = await api("mall", "HEAD", "/v1/orders")
    assert (head.status_code, head.content, head.headers["Allow"]) == (405, b"", "POST")
