"""Action links: the small pages a reminder's buttons open (``/a/{token}``).

``GET`` shows what the link is for (the case or work order, its status and deadline, no customer data)
and asks for confirmation, with a text box where the action needs words; it never acts, so a chat app
that previews the link changes nothing. ``POST`` (the page's form) performs the very Update the API route
performs, refused by the same validator: a link whose case moved on answers "already handled" and changes
nothing, and so does a second use of a used link. The token is the capability (no cookie, no login): it
names one workflow, one action and one person, and is refused when altered, expired, or posted for
another action or another workflow than the one its page showed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import structlog
from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from api.errors import refusal_of, workflow_closed
from api.idempotency import act
from config.links import LinkClaim, LinkRefused, LinkSigner
from config.settings import Settings
from domain.action_links import SPECS, LinkAction, case_pending, work_order_pending
from domain.cases import Action, CaseView, Rejection
from domain.orders import OrderView
from domain.work_orders import Accept, Reply, ReplyBy, Resolve, WorkOrderView
from workflows.aftersale import AfterSaleWorkflow
from workflows.order import OrderWorkflow
from workflows.work_order import WorkOrderWorkflow

log = structlog.get_logger(__name__)

HERE = Path(__file__).resolve().parent.parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(prefix="/a", tags=["action links"], include_in_schema=False)

CASE_ACTIONS = (LinkAction.APPROVE, LinkAction.REJECT)
WORK_ORDER_ACTIONS = (LinkAction.ACCEPT, LinkAction.REPLY, LinkAction.RESOLVE)
HEADERS = {
    # The page loads only its own stylesheet, runs no script, posts only to itself and is never framed.
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # The token is in the URL: no Referer may carry it elsewhere, no cache or index keep it.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
}


@dataclass
class Subject:
    """What a link is about, as its page shows it."""

    kind: str  # case, work_order, order
    view: CaseView | WorkOrderView | OrderView
    pending: bool


@router.get("/static/action.css")
async def stylesheet() -> FileResponse:
    """The pages' only stylesheet, served by the API itself (no CDN)."""
    return FileResponse(
        HERE / "static" / "action.css", media_type="text/css", headers={"Cache-Control": "max-age=3600"}
    )


@router.get("/{token}", response_class=HTMLResponse)
async def show(token: str, request: Request) -> HTMLResponse:
    """The confirmation page of a link (or, for an order, its status): reads, never acts."""
    settings: Settings = request.app.state.settings
    claim = _claim(request, token)
    if isinstance(claim, HTMLResponse):
        return claim
    subject = await _subject(request, claim)
    if isinstance(subject, HTMLResponse):
        return subject
    state = "view" if claim.action is LinkAction.OPEN else "confirm" if subject.pending else "handled"
    return _page(request, settings, claim, subject, state, status=200)


@router.post("/{token}", response_class=HTMLResponse)
async def confirm(
    token: str,
    request: Request,
    action: Annotated[str, Form()] = "",
    subject: Annotated[str, Form()] = "",
    text: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Performs the link's action, as the API route does, once its reader confirmed it."""
    settings: Settings = request.app.state.settings
    claim = _claim(request, token)
    if isinstance(claim, HTMLResponse):
        return claim
    # The form names what its page showed; a token carried into another page's form acts on nothing.
    if action != claim.action.value or subject != claim.workflow_id or claim.action is LinkAction.OPEN:
        log.warning("action_link_misused", workflow_id=claim.workflow_id, action=claim.action.value, posted=action)
        return _refused(request, "这个链接不能用于此操作 This link is not for that action or case.", 403)
    client: Client = request.app.state.client
    found = await _subject(request, claim)
    if isinstance(found, HTMLResponse):
        return found
    if not found.pending:
        return _page(request, settings, claim, found, "handled", status=409)
    try:
        view = await _perform(client, claim, text)
    except ValidationError as error:
        problem = "; ".join(str(detail["msg"]) for detail in error.errors())
        return _page(request, settings, claim, found, "confirm", status=422, error=problem, text=text)
    except WorkflowUpdateFailedError as error:
        refusal = refusal_of(error)
        if refusal.code == "validation_error":
            return _page(request, settings, claim, found, "confirm", status=422, error=refusal.detail, text=text)
        return await _handled(request, settings, claim, found)
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        return _refused(
            request, "操作结果未知，请稍后重新打开链接查看 The outcome is unknown; open the link again.", 503
        )
    except RPCError as error:
        if workflow_closed(error):
            return await _handled(request, settings, claim, found)
        return _unavailable(request, error)
    log.info("action_link_used", workflow_id=claim.workflow_id, action=claim.action.value, person=claim.person)
    done = Subject(kind=found.kind, view=view, pending=False)
    return _page(request, settings, claim, done, "done", status=200)


# --- what the link is about ----------------------------------------------------------------------------------


def _claim(request: Request, token: str) -> LinkClaim | HTMLResponse:
    signer: LinkSigner | None = request.app.state.settings.link_signer()
    if signer is None:
        return _refused(request, "操作链接未启用 Action links are not enabled here.", 404)
    try:
        return signer.check(token)
    except LinkRefused as refused:
        log.info("action_link_refused", expired=refused.expired)
        if refused.expired:
            return _refused(request, "链接已过期，请在商家后台处理 This link has expired; use the console.", 410)
        return _refused(request, "链接无效 This link is not valid.", 403)


async def _subject(request: Request, claim: LinkClaim) -> Subject | HTMLResponse:
    """The workflow a claim names, queried now; a refusal page if it is gone or not what the link says."""
    try:
        found = await _query(request.app.state.client, claim)
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return _refused(request, "已不存在 This case is no longer kept.", 410)
        return _unavailable(request, error)
    if found is None:
        return _refused(request, "链接无效 This link is not valid.", 403)
    return found


async def _query(client: Client, claim: LinkClaim) -> Subject | None:
    wf, action = claim.workflow_id, claim.action
    if action in CASE_ACTIONS and wf.startswith("aftersale-"):
        case: CaseView = await client.get_workflow_handle(wf).query(AfterSaleWorkflow.state)
        if not _for_merchant(claim.person, case.merchant_id):
            return None
        return Subject("case", case, case_pending(action, case.status.value))
    if action in WORK_ORDER_ACTIONS and wf.startswith("workorder-"):
        work_order: WorkOrderView = await client.get_workflow_handle(wf).query(WorkOrderWorkflow.state)
        pending = work_order_pending(
            action,
            status=work_order.status.value,
            assignee_id=work_order.assignee_id,
            person=claim.person,
            first_response=work_order.first_response_at is not None,
        )
        return Subject("work_order", work_order, pending)
    if action is LinkAction.OPEN and wf.startswith("order-"):
        order: OrderView = await client.get_workflow_handle(wf).query(OrderWorkflow.state)
        if not _for_merchant(claim.person, order.merchant_id):
            return None
        return Subject("order", order, False)
    return None


def _for_merchant(person: str, merchant_id: str) -> bool:
    return person == f"merchant:{merchant_id}"


async def _perform(client: Client, claim: LinkClaim, text: str) -> CaseView | WorkOrderView:
    """The Update the API route performs for this action, with the body it would take."""
    handle: Any = client.get_workflow_handle(claim.workflow_id)
    match claim.action:
        case LinkAction.APPROVE:
            return await _act_on_case(handle, AfterSaleWorkflow.approve, None, Action.APPROVE)
        case LinkAction.REJECT:
            return await _act_on_case(handle, AfterSaleWorkflow.reject, Rejection(reason=text), Action.REJECT)
        case LinkAction.ACCEPT:
            view: WorkOrderView = await handle.execute_update(
                WorkOrderWorkflow.accept, Accept(assignee_id=claim.person)
            )
            return view
        case LinkAction.REPLY:
            reply = Reply(by=ReplyBy.ASSIGNEE, message=text)
            return await handle.execute_update(WorkOrderWorkflow.reply, reply)  # type: ignore[no-any-return]
        case LinkAction.RESOLVE:
            resolve = Resolve(resolution=text)
            return await handle.execute_update(WorkOrderWorkflow.resolve, resolve)  # type: ignore[no-any-return]
    raise AssertionError(f"no Update for {claim.action}")


async def _act_on_case(handle: Any, update: Any, body: Any, action: Action) -> CaseView:
    """As ``POST /v1/after-sales/{id}/<action>`` does it (api/routes/cases.py)."""
    view: CaseView = await act(
        handle,
        update,
        body,
        action=action,
        already_applied=AfterSaleWorkflow.already_applied,
        state=AfterSaleWorkflow.state,
    )
    return view


async def _handled(request: Request, settings: Settings, claim: LinkClaim, found: Subject) -> HTMLResponse:
    """The validator refused: someone (or the clock) acted first. Shown as it stands now."""
    now = await _subject(request, claim)
    return _page(request, settings, claim, now if isinstance(now, Subject) else found, "handled", status=409)


# --- pages -------------------------------------------------------------------------------------------------


def _local(at: datetime | None, timezone: str) -> str:
    return at.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M") if at else "–"


def _yuan(cents: int) -> str:
    return f"¥{cents / 100:,.2f}"


templates.env.filters.update(local=_local, yuan=_yuan)


def _page(
    request: Request,
    settings: Settings,
    claim: LinkClaim,
    subject: Subject,
    state: str,
    *,
    status: int,
    error: str = "",
    text: str = "",
) -> HTMLResponse:
    context = {
        "state": state,
        "claim": claim,
        "spec": SPECS[claim.action],
        "kind": subject.kind,
        "view": subject.view,
        "timezone": settings.timezone,
        "error": error,
        "text": text,
    }
    response = templates.TemplateResponse(request, "action.html", context, status_code=status)
    response.headers.update(HEADERS)
    return response


def _refused(request: Request, message: str, status: int) -> HTMLResponse:
    response = templates.TemplateResponse(
        request, "action.html", {"state": "refused", "message": message}, status_code=status
    )
    response.headers.update(HEADERS)
    return response


def _unavailable(request: Request, error: RPCError) -> HTMLResponse:
    log.warning("action_link_unavailable", error=str(error))
    return _refused(request, "服务暂时不可用，请稍后再试 Try again in a moment.", 503)
