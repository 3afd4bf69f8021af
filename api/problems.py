"""The errors in the OpenAPI document: which problem+json answers each operation may give, declared once.

The handlers in ``api.errors`` produce the bodies; this module describes them, so that a client generated
from ``/openapi.json`` (or a fuzzer checking status codes) knows every answer the API can give. Routes do
not list their errors one by one: what an operation may answer follows from what it is (it needs a key,
it takes a body), and one function adds it to every operation, so a new route is documented as it is
written.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

from api.errors import CODES, PROBLEM_JSON

REF = "#/components/schemas/{model}"


class FieldError(BaseModel):
    """One invalid field of a 422: where it is and what is wrong (the input is never echoed)."""

    loc: list[str | int] = Field(description="the field's path, e.g. ['body', 'lines', 0, 'quantity']")
    msg: str
    type: str = Field(description="pydantic's error type, e.g. missing, greater_than_equal")


class Problem(BaseModel):
    """RFC 9457 problem details with the machine-readable ``code`` of the contract (docs/api.md)."""

    model_config = ConfigDict(extra="allow")  # extensions, e.g. /readyz's `checks`

    type: str = Field(description="a URI naming the kind of problem")
    title: str = Field(description="the kind of problem, for people")
    status: int = Field(description="the HTTP status")
    detail: str = Field(description="what went wrong in this request")
    code: str = Field(description="what went wrong, for programs (stable; see docs/api.md)")
    instance: str | None = Field(default=None, description="the request's path")
    errors: list[FieldError] | None = Field(default=None, description="each invalid field (validation_error)")


# Every status the API answers with problem+json, and what it means. 500 is not declared: it is a bug.
STATUSES: dict[int, str] = {
    401: "No API key, or an unknown one (`unauthorized`)",
    403: "This key's role may not do this (`forbidden`)",
    404: "No such resource, or one of another merchant: the two look alike (`not_found`)",
    409: "Refused in the resource's current state: `duplicate`, `invalid_state`, `window_closed`, `quantity_exceeds`",
    413: "The request body is larger than the API accepts; nothing was read",
    415: "The request body is not `application/json`",
    422: "The request is not valid (`validation_error`); `errors` lists each invalid field",
    503: "Temporal, its workers or the database did not answer (`unavailable`); nothing was accepted, retry",
}
WRITES = {"post", "put", "patch", "delete"}
FASTAPI_422 = "Validation Error"  # FastAPI's own description of the 422 it declares


def statuses(method: str, operation: dict[str, Any]) -> set[int]:
    """The problem statuses an operation may answer, from what it is.

    A key is needed (401, 403), the resource or the merchant may be unknown or foreign (404), a parameter
    or body may be invalid (422), and Temporal or the database may be down (503); a write may also be
    refused by the resource's state (409) and have a body too large (413) or not JSON (415). Statuses the
    route declares itself (e.g. /readyz's 503) keep their description and get the problem schema.
    """
    found = {int(status) for status in operation.get("responses", {}) if status.isdigit() and int(status) in STATUSES}
    if operation.get("security"):
        found |= {401, 403, 404, 422, 503}
        if method in WRITES:
            found |= {409, 413, 415}
    if operation.get("parameters") or operation.get("requestBody"):
        found.add(422)
    return found


def document(app: FastAPI) -> None:
    """Makes ``app``'s OpenAPI document declare its problem+json answers on every operation."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = generate()
        schemas: dict[str, Any] = spec.setdefault("components", {}).setdefault("schemas", {})
        problem = Problem.model_json_schema(ref_template=REF)
        schemas.update(problem.pop("$defs", {}))
        problem["properties"]["code"]["enum"] = sorted(CODES)
        schemas["Problem"] = problem
        content = {PROBLEM_JSON: {"schema": {"$ref": REF.format(model="Problem")}}}
        for path in spec.get("paths", {}).values():
            for method, operation in path.items():
                responses = operation.setdefault("responses", {})
                for status in sorted(statuses(method, operation)):
                    described = responses.get(str(status), {}).get("description", FASTAPI_422)
                    responses[str(status)] = {
                        "description": STATUSES[status] if described == FASTAPI_422 else described,
                        "content": content,
                    }
        # FastAPI's own 422 body (HTTPValidationError) is never answered: the handler turns it into a problem.
        if "HTTPValidationError" not in str(spec["paths"]):
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
