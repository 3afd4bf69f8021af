"""The API's documentation: /docs works offline, and /openapi.json declares every error it can answer."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from api.problems import Problem
from tests.api.test_orders import assert_problem

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def _assets(html: str) -> list[str]:
    """Every script, stylesheet and icon a page loads (``src=``, ``href=`` and Swagger UI's ``url:``)."""
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)


async def test_the_docs_pages_load_everything_from_the_api_itself(api: Any) -> None:
    for page in ("/docs", "/redoc"):
        html = await api(None, "GET", page)
        assert html.status_code == 200
        assets = _assets(html.text)
        assert assets, f"{page} loads no assets: {html.text[:500]}"
        assert "cdn" not in html.text.lower()
        assert "//" not in "".join(assets), f"{page} loads from another host: {assets}"
        for asset in assets:
            served = await api(None, "GET", asset)
            assert served.status_code == 200, asset
            assert len(served.content) > 1000, asset  # the real bundle, not an empty placeholder
    docs = (await api(None, "GET", "/docs")).text
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in _assets(docs))
    assert "'/openapi.json'" in docs or '"/openapi.json"' in docs


async def test_redoc_and_its_bundle_reference_no_outside_host(api: Any) -> None:
    page = (await api(None, "GET", "/redoc")).text
    [bundle] = [asset for asset in _assets(page) if asset.endswith(".js")]
    script = (await api(None, "GET", bundle)).text
    assert "ReDoc" in script
    # What the bundle loads by itself (an image's src, a stylesheet's url()), not the links it shows.
    assert re.findall(r"""src:\s*["']https?://|url\(["']?https?://""", script) == []
    assert "cdn.redoc.ly" not in script


async def test_every_operation_declares_its_problem_answers_as_problem_json(api: Any) -> None:
    spec = (await api(None, "GET", "/openapi.json")).json()
    assert spec["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status", "detail", "code"]
    assert {"validation_error", "not_found", "duplicate", "quantity_exceeds", "unavailable"} <= set(
        spec["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]
    )
    assert "HTTPValidationError" not in spec["components"]["schemas"]  # FastAPI's 422 body is never answered
    operations = [(method, path, op) for path, item in spec["paths"].items() for method, op in item.items()]
    for method, path, operation in operations:
        declared = operation["responses"]
        expected = set()
        if path.startswith("/v1/"):
            expected = {"401", "403", "404", "422", "503"}
        if path.startswith("/v1/") and method in ("post", "put"):
            expected |= {"409", "413", "415"}
        assert expected <= declared.keys(), f"{method} {path}: {sorted(declared)}"
        for status, response in declared.items():
            if status.startswith(("4", "5")):
                assert response["content"] == {"application/problem+json": {"schema": PROBLEM_REF}}, (method, path)
    assert set(spec["paths"]["/readyz"]["get"]["responses"]) == {"200", "503"}
    assert set(spec["paths"]["/healthz"]["get"]["responses"]) == {"200"}


async def test_the_problems_the_api_answers_fit_the_declared_schema(api: Any) -> None:
    invalid = assert_problem(await api("mall", "POST", "/v1/orders", json={"order_id": "x"}), 422, "validation_error")
    missing = assert_problem(await api("admin", "GET", "/v1/orders/never-reported"), 404, "not_found")
    unknown = assert_problem(await api("nobody", "GET", "/v1/orders/never-reported"), 401, "unauthorized")
    for body in (invalid, missing, unknown):
        Problem.model_validate(body)
    assert Problem.model_validate(invalid).errors
    with pytest.raises(ValidationError):
        Problem.model_validate({"title": "no code"})


async def test_the_contract_in_the_repository_names_every_path_the_api_serves(api: Any) -> None:
    contract = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
    spec = (await api(None, "GET", "/openapi.json")).json()
    missing = [path for path in spec["paths"] if f"`{path}`" not in contract and f"{path}`" not in contract]
    assert missing == [], f"served but not in docs/api.md: {missing}"
    assert "docs/api.md" in (Path(__file__).parents[2] / "README.md").read_text()
