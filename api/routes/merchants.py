"""Merchants: the platform's configuration of contacts, robots, agents and clock overrides."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import structlog
from fastapi import APIRouter
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from api.deps import CallerDep, ClientDep, EngineDep, Role, SettingsDep, allow
from api.errors import NOT_FOUND, Problem
from config.settings import Settings
from domain.calendar_change import CalendarChange, CalendarUpdate, revision
from domain.merchants import MerchantConfig, MerchantView
from domain.orders import Id
from domain.policy import PolicyError, check_ladders, with_overrides
from readmodel.merchants import calendar_of, get_merchant, put_merchant
from readmodel.tables import Merchant
from workflows.calendar_change import CalendarChangeWorkflow, workflow_id

log = structlog.get_logger(__name__)

MASKED = "***"
ROBOTS = ("dingtalk", "wecom")

router = APIRouter(prefix="/v1/merchants", tags=["merchants"])


_WORD = re.compile(r"[A-Za-z][A-Za-z_.-]{0,31}")  # a path segment that names something (``robot``, ``cgi-bin``)


def _masked_segment(segment: str) -> str:
    """A path segment as GET shows it: a word stays; anything else (a token, an id) and the value of every
    matrix parameter (``;access_token=…``) is ``***``."""
    name, *params = segment.split(";")
    shown = name if not name or _WORD.fullmatch(name) else MASKED
    return ";".join([shown, *(f"{param.partition('=')[0]}={MASKED}" for param in params)])


def masked_webhook(url: str) -> str:
    """A robot's webhook with its credentials hidden, each written as ``***``: every query value (DingTalk's
    ``access_token``, WeCom's ``key``), a password in the URL, every path segment that is not a plain word
    and every matrix parameter's value (a token in the path), and a fragment (refused today, masked if an
    older configuration holds one). Scheme, host and port stay, so an admin sees where it points."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:{MASKED}@{netloc.rpartition('@')[2]}"
    path = "/".join(_masked_segment(segment) for segment in parts.path.split("/"))
    query = urlencode([(name, MASKED) for name, _ in parse_qsl(parts.query, keep_blank_values=True)], safe="*")
    fragment = MASKED if parts.fragment else ""
    return urlunsplit(parts._replace(netloc=netloc, path=path, query=query, fragment=fragment))


def _check(config: MerchantConfig, settings: Settings) -> None:
    """Refuses what a merchant's configuration cannot be, given the platform's settings.

    A robot's webhook is https: the platform posts to it with the merchant's customers' order ids, and an
    admin's typo or a pasted internal address (``http://127.0.0.1:6379``) must not become a request from
    inside. AFTERSALES_ALLOW_INSECURE_WEBHOOKS lets the dev stack and the tests use local http robots.
    Reminder ladders are checked against the policy in force, the platform's defaults with the overrides.
    """
    for robot in ROBOTS:
        robot_config = getattr(config, robot)
        if robot_config and robot_config.webhook_url.scheme != "https" and not settings.allow_insecure_webhooks:
            raise Problem("validation_error", f"{robot}.webhook_url: a robot's webhook must be https")
    try:
        check_ladders(with_overrides(settings.policy(), config.policy), config.policy)
    except PolicyError as error:
        raise Problem("validation_error", f"policy.{error}") from None


def _view(merchant: Merchant) -> MerchantView:
    robots: dict[str, Any] = {}
    for robot in ROBOTS:
        config = dict(getattr(merchant, robot) or {}) or None
        if config:
            config["webhook_url"] = masked_webhook(config["webhook_url"])  # a robot's token gives its group away
            if config.get("secret"):
                config["secret"] = MASKED  # a signing secret is written, never read back
        robots[robot] = config
    return MerchantView.model_validate({**merchant.model_dump(exclude={"updated_at", *ROBOTS}), **robots})


def _keep_stored(values: dict[str, Any], stored: Merchant | None) -> None:
    """Puts the stored credentials back where ``values`` has what GET showed of them (``***``).

    A webhook with ``***`` that is not the stored one masked is refused: stored as sent, it would reach no
    robot, and no other stored token may be spliced into a new URL.
    """
    for robot in ROBOTS:
        config = values.get(robot)
        if not config:
            continue
        kept: dict[str, Any] = (getattr(stored, robot, None) or {}) if stored else {}
        if MASKED in config["webhook_url"]:
            if not kept or masked_webhook(kept["webhook_url"]) != config["webhook_url"]:
                raise Problem(
                    "validation_error",
                    f"{robot}.webhook_url: send the whole webhook; {MASKED} stands only for the stored one",
                )
            config["webhook_url"] = kept["webhook_url"]
        if config.get("secret") == MASKED:
            config["secret"] = kept.get("secret")


@router.put("/{merchant_id}", response_model=MerchantView, dependencies=[allow(Role.ADMIN)])
async def put(
    merchant_id: Id, config: MerchantConfig, engine: EngineDep, client: ClientDep, settings: SettingsDep
) -> MerchantView:
    """Creates or replaces a merchant. Overrides apply to processes started afterwards; a changed
    ``calendar`` also re-times the merchant's running work orders (in the background, by a workflow).

    Robots' credentials read back masked (``***``); sent back so, a webhook or DingTalk ``secret`` keeps the
    stored one.
    """
    _check(config, settings)
    values = config.model_dump(mode="json")
    stored = await asyncio.to_thread(get_merchant, engine, merchant_id=merchant_id)
    if any(MASKED in str(values.get(robot)) for robot in ROBOTS):
        _keep_stored(values, stored)
    merchant = await asyncio.to_thread(put_merchant, engine, merchant_id=merchant_id, values=values)
    changed = (stored.calendar if stored else None) != merchant.calendar
    if changed or merchant.calendar is not None:
        await _retime(client, settings, merchant, changed=changed)
    return _view(merchant)


async def _retime(client: Client, settings: Settings, merchant: Merchant, *, changed: bool) -> None:
    """Starts the fan-out that gives the merchant's running processes its calendar, resolved now.

    Stored first, fanned out after: a PUT that failed in between is retried with the same calendar, which
    then is no change, so an unchanged calendar starts its fan-out too unless one for it (id: merchant and
    calendar fingerprint) ever ran — a retry never fans out twice. A changed calendar always starts one
    (A → B → A must reach the work orders again); one still running for the same calendar is joined.
    """
    calendar = calendar_of(merchant, today=datetime.now(UTC).date())
    update = CalendarUpdate.of(calendar, revision(merchant.updated_at))
    fanout_id = workflow_id(merchant.merchant_id, update.fingerprint)
    try:
        await client.start_workflow(
            CalendarChangeWorkflow.run,
            CalendarChange(merchant_id=merchant.merchant_id, update=update),
            id=fanout_id,
            task_queue=settings.task_queue,
            id_reuse_policy=(
                WorkflowIDReusePolicy.ALLOW_DUPLICATE if changed else WorkflowIDReusePolicy.REJECT_DUPLICATE
            ),
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=f"Calendar of {merchant.merchant_id} for its running work orders",
        )
    except WorkflowAlreadyStartedError:
        return  # this calendar was fanned out before
    log.info("calendar_fanout_started", merchant_id=merchant.merchant_id, workflow_id=fanout_id, changed=changed)


@router.get("/{merchant_id}", response_model=MerchantView, dependencies=[allow(Role.ADMIN, Role.MERCHANT)])
async def get(merchant_id: str, engine: EngineDep, caller: CallerDep) -> MerchantView:
    """A merchant's configuration, robots' credentials masked (a merchant key sees only its own)."""
    merchant = await asyncio.to_thread(get_merchant, engine, merchant_id=merchant_id)
    if merchant is None or not caller.sees(merchant_id):
        raise Problem("not_found", NOT_FOUND)
    return _view(merchant)
