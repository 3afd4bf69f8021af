"""The API fuzzed from its own OpenAPI document: no request makes it fail, and every answer is documented.

Schemathesis generates requests for every operation, valid and invalid ones (wrong types, values out of
range, missing fields), and sends them over HTTP to the real API, with a real worker behind it on the dev
server. Two checks: no 5xx (``not_a_server_error``) and no status the document does not declare
(``status_code_conformance``). Each operation is called with a key its role admits, found by asking, and
half the requests name a real order and case, so they reach the workflows' validators rather than
stopping at a 404.

The fuzzed stack has a read model and a task queue of its own: fuzzed merchants (robots, clock overrides)
never reach the other tests' merchants, and no fuzzed webhook leaves this machine.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance
from temporalio.testing import WorkflowEnvironment

from api.main import create_app
from config.settings import Settings
from readmodel.migrate import upgrade
from tests.api.conftest import KEYS, ROLE_KEYS, ServedApp
from tests.api.test_orders import now_iso
from tests.factories import order_body
from workers.main import build_worker

# Requests per operation, twice that where real ids can be used: about 20 s on two cores for the whole API.
# AFTERSALES_FUZZ_EXAMPLES=500 looks harder (locally; minutes).
EXAMPLES = int(os.environ.get("AFTERSALES_FUZZ_EXAMPLES", "25"))
CHECKS = [not_a_server_error, status_code_conformance]
ROLES = ("mall", "merchant:m-acme", "admin")
# Where a fuzzed merchant's robots point: a closed local port, so a generated webhook never leaves the machine.
NOWHERE = "http://127.0.0.1:9/robot"


@pytest.fixture
async def fuzzed_url(dev_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[str]:
    """An API of its own (read model, task queue, worker) on the session's dev server."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'fuzz.db'}",
        task_queue="api-fuzz",
        api_keys=KEYS,
        public_url="http://board.test",
    )
    await asyncio.to_thread(upgrade, settings.database_url)
    async with (
        build_worker(dev_env.client, settings) as worker,
        worker,
        ServedApp(create_app(settings, client=dev_env.client)) as served,
    ):
        yield served.url


def _role_for(http: requests.Session, url: str, method: str, path: str) -> str:
    """The first role whose key the operation admits (a 403 is answered before the body is read)."""
    probe = re.sub(r"\{\w+\}", "probe", path)
    for role in ROLES:
        answer = http.request(method, url + probe, json={}, headers={"Authorization": f"Bearer {ROLE_KEYS[role]}"})
        if answer.status_code != 403:
            return role
    return ROLES[0]


def _prepared(case: Case, key: str) -> Case:
    """The generated case with a key its role admits (not a generated one, which would stop at 401), and
    a generated merchant's robots pointed at a closed local port instead of wherever Hypothesis chose."""
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {key}"}
    if isinstance(case.body, dict):
        for robot in ("dingtalk", "wecom"):
            if isinstance(case.body.get(robot), dict) and "webhook_url" in case.body[robot]:
                case.body[robot]["webhook_url"] = NOWHERE
    return case


def fuzz(spec: dict[str, Any], url: str, known: dict[str, str]) -> list[str]:
    """Runs every operation of ``spec`` against ``url``; answers what failed, one entry per operation."""
    schema = schemathesis.openapi.from_dict(spec)
    failures: list[str] = []
    with requests.Session() as http:
        for result in schema.get_all_operations():
            operation = result.ok()
            key = ROLE_KEYS[_role_for(http, url, operation.method, operation.path)]
            real = {name: known[name] for name in re.findall(r"\{(\w+)\}", operation.path) if name in known}
            strategies = [operation.as_strategy(mode) for mode in GenerationMode]
            if real:
                strategies += [operation.as_strategy(mode, path_parameters=real) for mode in GenerationMode]

            @hypothesis.settings(
                max_examples=EXAMPLES * (2 if real else 1),
                derandomize=True,  # the same requests on every run: CI fails for a reason, not by luck
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],  # no shrinking: report the first failure as found
                suppress_health_check=list(HealthCheck),
            )
            @given(case=st.one_of(strategies).map(lambda case: _prepared(case, key)))
            def run(case: Case) -> None:
                case.call_and_validate(base_url=url, session=http, checks=CHECKS)

            try:
                run()
            except Exception as error:
                failures.append(f"{operation.label}: {error}")
    return failures


@pytest.mark.timeout(60 + 6 * EXAMPLES)  # about 1 s per example on two cores, and room for a loaded machine
async def test_no_generated_request_gets_a_server_error_or_an_undocumented_status(fuzzed_url: str) -> None:
    async with httpx.AsyncClient(base_url=fuzzed_url, timeout=30) as http:
        order = order_body(paid_at=now_iso(hours_ago=1))
        mall = {"Authorization": f"Bearer {ROLE_KEYS['mall']}"}
        assert (await http.post("/v1/orders", json=order, headers=mall)).status_code == 201
        case = {
            "case_id": f"{order['order_id']}-fuzz",
            "order_id": order["order_id"],
            "kind": "refund_only",
            "lines": [{"line_id": "L2", "quantity": 1}],
            "reason": "fuzz",
        }
        assert (await http.post("/v1/after-sales", json=case, headers=mall)).status_code == 201
        spec = (await http.get("/openapi.json")).json()
    known = {"order_id": order["order_id"], "case_id": case["case_id"]}

    failures = await asyncio.to_thread(fuzz, spec, fuzzed_url, known)  # the API serves on this event loop

    assert not failures, "\n\n".join(failures)
