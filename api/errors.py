"""RFC 9457 problem details: every error the API answers, in one place."""

from __future__ import annotations

import traceback
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from temporalio.client import RPCTimeoutOrCancelledError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"

# code → (status, title). The codes are the contract (API.md); business refusals raised by workflow
# validators carry the same codes as their ApplicationError type.
CODES: dict[str, tuple[int, str]] = {
    "validation_error": (422, "The request is not valid"),
    "not_found": (404, "Not found"),
    "duplicate": (409, "Already exists with a different body"),
    "invalid_state": (409, "Not allowed in the current state"),
    "window_closed": (409, "The after-sales window is closed"),
    "quantity_exceeds": (409, "More than what is left to claim"),
    "unauthorized": (401, "Missing or unknown API key"),
    "forbidden": (403, "This key may not do that"),
    "method_not_allowed": (405, "Method not allowed"),
    "payload_too_large": (413, "The request body is too large"),
    "unsupported_media_type": (415, "The request body must be JSON"),
    "unavailable": (503, "A service behind the API is unavailable"),
    "outcome_unknown": (503, "The request may have been accepted"),
    "internal_error": (500, "Internal error"),
}


# Temporal's answers to an Update on a workflow that has ended, or that ended while the Update waited for it.
CLOSED = ("workflow execution already completed", "workflow update was aborted by closing workflow")
# A server-side failure of an Update the workflow had accepted but not finished when it ended.
ACCEPTED_UPDATE_CLOSED = "AcceptedUpdateCompletedWorkflow"
ENDED = "its workflow has ended; nothing can change it"
# The one answer for a missing id and for another merchant's: the body must not tell them apart, so it does
# not name the id either (``instance`` is the request's path, the same for both).
NOT_FOUND = "no such resource"
# Temporal's refusal of a query (or an Update) for a task queue no worker has polled lately.
NO_POLLER = "no poller seen"
RETRY_AFTER = "1"  # seconds; what every 503 suggests: Temporal's limits and timeouts clear in moments


def workflow_closed(error: RPCError) -> bool:
    """Whether Temporal refused a call because its workflow has ended, also while the call raced the end."""
    return error.status is RPCStatusCode.NOT_FOUND and any(text in error.message for text in CLOSED)


class Problem(Exception):
    """An error answered as problem+json with a machine-readable ``code``."""

    def __init__(self, code: str, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.extensions = extensions


def problem_response(code: str, detail: str, instance: str | None = None, **extensions: Any) -> JSONResponse:
    """The problem+json response for ``code``."""
    status, title = CODES.get(code, CODES["internal_error"])
    body: dict[str, Any] = {
        "type": f"https://aftersales.dev/problems/{code.replace('_', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    body.update(extensions)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 503:
        headers = {"Retry-After": RETRY_AFTER}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def refusal_of(error: WorkflowUpdateFailedError) -> Problem:
    """The problem a workflow's refusal of an Update stands for."""
    cause = error.cause
    if isinstance(cause, ApplicationError) and cause.type == "validation_error":
        # Like every 422, with ``errors``: a validator tells what is wrong, not where, so the body as a whole.
        return Problem(
            cause.type, cause.message, errors=[{"loc": ["body"], "msg": cause.message, "type": "value_error"}]
        )
    if isinstance(cause, ApplicationError) and cause.type in CODES:
        return Problem(cause.type, cause.message)
    if isinstance(cause, ApplicationError) and cause.type == ACCEPTED_UPDATE_CLOSED:
        return Problem("invalid_state", ENDED)
    log.error("update_failed", error=str(cause))
    return Problem("internal_error", "the action failed")


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on the request's path (RFC 9110: a 405 names them in ``Allow``).

    Starlette names only the first route whose path matches, and FastAPI nests included routers; asking the
    router, method by method, finds all of them (``GET`` and ``PUT /v1/merchants/{id}``).
    """
    routes = request.app.router.routes
    found = [
        method
        for method in METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]
    # HEAD is answered wherever GET is (api.head).
    return [method for method in METHODS if method in found or (method == "HEAD" and "GET" in found)]


def rpc_problem(request: Request, error: RPCError) -> Problem:
    """The problem a refusal or a fault of Temporal stands for, told as truthfully as the API knows it."""
    if workflow_closed(error):
        return Problem("invalid_state", ENDED)
    if error.status is RPCStatusCode.NOT_FOUND:
        return Problem("not_found", NOT_FOUND)
    if error.status is RPCStatusCode.RESOURCE_EXHAUSTED:
        # One of Temporal's limits (Updates in flight on one workflow, queries buffered for it, calls per
        # second): the call was turned away before it was admitted.
        return Problem("unavailable", "Temporal is at one of its limits; nothing was accepted; retry shortly")
    if error.status is RPCStatusCode.UNAVAILABLE:
        return Problem("unavailable", "Temporal is unreachable; nothing was accepted; retry the call")
    if error.status is RPCStatusCode.FAILED_PRECONDITION and NO_POLLER in error.message:
        # No worker has polled the workflow's task queue lately (the workers are down): the server refused
        # the call before admitting it, a query or an Update alike.
        return Problem("unavailable", "Temporal's workers are not running; nothing was accepted; retry shortly")
    if error.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
        return timed_out(request)
    return Problem("internal_error", "Temporal refused the call")


def timed_out(request: Request) -> Problem:
    """The problem of a call Temporal took but did not answer in time (see :mod:`api.bounded`)."""
    # Temporal took the call, but no worker answered in time (a query, or an Update waiting for a
    # worker): a read changed nothing, a write may yet be applied once a worker is back.
    if request.method in ("GET", "HEAD"):
        return Problem("unavailable", "Temporal's workers did not answer in time; nothing changed; retry the call")
    if _creates(request):
        return Problem(
            "outcome_unknown",
            "Temporal's workers did not answer in time: the request may have been accepted; "
            "retrying the same request is safe",
        )
    return Problem(
        "outcome_unknown",
        "Temporal's workers did not answer in time: the action may have been applied; "
        "read the resource before repeating it",
    )


def _creates(request: Request) -> bool:
    """Whether the request creates a resource: a POST to a collection, naming the new id in its body.

    Creates are idempotent by that id (API.md, Conventions), so repeating one is always safe; an action on
    an existing resource (a POST to a path with its id) need not be.
    """
    route = request.scope.get("route")
    return request.method == "POST" and "{" not in getattr(route, "path", "{")


def unhandled(request: Request, error: BaseException) -> JSONResponse:
    """The 500 for an error no handler knows, logged by its type and where it was raised.

    Not by its message, arguments or locals: those may hold customer data.
    """
    frames = traceback.extract_tb(error.__traceback__)
    at = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "unknown"
    log.error("unhandled_error", error_type=type(error).__name__, at=at)
    return problem_response("internal_error", "internal error", request.url.path)


def install(app: FastAPI) -> None:
    """Registers the handlers that turn every error into problem+json."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, error: Problem) -> JSONResponse:
        return problem_response(error.code, error.detail, request.url.path, **error.extensions)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
            for e in error.errors()  # no input echo: it may hold phone numbers
        ]
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
        return problem_response("validation_error", detail, request.url.path, errors=errors)

    @app.exception_handler(WorkflowUpdateFailedError)
    async def _refused(request: Request, error: WorkflowUpdateFailedError) -> JSONResponse:
        problem = refusal_of(error)
        return problem_response(problem.code, problem.detail, request.url.path, **problem.extensions)

    @app.exception_handler(RPCError)
    async def _rpc(request: Request, error: RPCError) -> JSONResponse:
        problem = rpc_problem(request, error)
        if problem.code == "internal_error":
            log.error("temporal_error", status=error.status.name, error=error.message)
        return problem_response(problem.code, problem.detail, request.url.path)

    @app.exception_handler(RPCTimeoutOrCancelledError)
    async def _timed_out(request: Request, error: RPCTimeoutOrCancelledError) -> JSONResponse:
        # An Update past its deadline: admitted or not, it may yet be applied once a worker is back.
        problem = timed_out(request)
        return problem_response(problem.code, problem.detail, request.url.path)

    @app.exception_handler(RuntimeError)
    async def _runtime(request: Request, error: RuntimeError) -> JSONResponse:
        # A lazily connected Temporal client reports an unreachable server this way.
        if str(error).startswith("Failed client connect"):
            return problem_response("unavailable", "Temporal is unreachable; nothing was accepted", request.url.path)
        return unhandled(request, error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        return unhandled(request, error)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}.get(
            error.status_code, "validation_error"
        )
        response = problem_response(code, str(error.detail), request.url.path)
        if error.status_code == 405:
            response.headers["Allow"] = ", ".join(allowed_methods(request))
        return response

    @app.exception_handler(OperationalError)
    async def _database(request: Request, error: OperationalError) -> JSONResponse:
        log.error("database_unreachable", error=str(error.orig))
        return problem_response("unavailable", "the database is unreachable; nothing was accepted", request.url.path)
