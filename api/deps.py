"""Dependencies of the routes: settings, the Temporal client, the database, and who is calling."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Engine
from temporalio.client import Client, WorkflowHandle

from api.errors import NOT_FOUND, Problem
from api.owners import owners
from config.settings import Settings
from domain.orders import Id
from workflows import search_attributes as sa


class Role(StrEnum):
    """What a key may do (API.md, Conventions)."""

    MALL = "mall"
    MERCHANT = "merchant"
    ADMIN = "admin"


@dataclass(frozen=True)
class Caller:
    """Who is calling: a role, and for a merchant key the one merchant it acts for."""

    role: Role
    merchant_id: str | None = None

    def sees(self, merchant_id: str) -> bool:
        """Whether this caller may see resources of ``merchant_id`` (others are a 404, never a leak)."""
        return self.role is not Role.MERCHANT or self.merchant_id == merchant_id


class InvalidKeysError(ValueError):
    """``AFTERSALES_API_KEYS`` gives a key a role the API does not know: the API refuses to start."""


_MERCHANT_ID: TypeAdapter[str] = TypeAdapter(Id)


def parse_role(value: str) -> Caller:
    """``mall`` | ``admin`` | ``merchant:<id>`` → a caller.

    Raises:
        InvalidKeysError: for anything else, notably ``merchant`` without an id, which would act for no
            merchant and yet, unscoped, list every merchant's orders.
    """
    role, colon, merchant_id = value.partition(":")
    if role == Role.MERCHANT:
        try:
            return Caller(Role.MERCHANT, _MERCHANT_ID.validate_python(merchant_id))
        except ValidationError:
            raise InvalidKeysError(f'role "{value}" names no valid merchant: write "merchant:<merchant_id>"') from None
    if colon or role not in (Role.MALL, Role.ADMIN):
        raise InvalidKeysError(f'unknown role "{value}": use "mall", "admin" or "merchant:<merchant_id>"')
    return Caller(Role(role))


def settings_of(request: Request) -> Settings:
    """The settings of the app serving ``request`` (for code outside the dependencies)."""
    settings: Settings = request.app.state.settings
    return settings


def engine_of(request: Request) -> Engine:
    """The read model's engine of the app serving ``request`` (for code outside the dependencies)."""
    engine: Engine = request.app.state.engine
    return engine


async def get_settings(request: Request) -> Settings:
    return settings_of(request)


async def get_client(request: Request) -> Client:
    client: Client = request.app.state.client
    return client


async def get_engine(request: Request) -> Engine:
    return engine_of(request)


_bearer = HTTPBearer(auto_error=False, description="An API key from AFTERSALES_API_KEYS")

# The dependencies are coroutines although none of them waits for anything: FastAPI runs a plain function
# dependency in its thread pool, a thread hop per dependency and request (12 % of the API's samples while
# shipments were posted, README: Performance).


async def get_caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Caller:
    """The caller behind the bearer key; 401 without a known key."""
    bearer = credentials is not None and credentials.scheme.lower() == "bearer"
    return authenticate(request.app.state.callers, credentials.credentials if credentials and bearer else None)


def authenticate(keys: Mapping[str, Caller], token: str | None) -> Caller:
    """The caller whose API key is ``token``; 401 ``unauthorized`` without a token or with an unknown one."""
    if not token:
        raise Problem("unauthorized", "send Authorization: Bearer <API key>")
    for key, caller in keys.items():
        if hmac.compare_digest(key.encode(), token.encode()):
            return caller
    raise Problem("unauthorized", "unknown API key")


async def metrics_reader(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Admits a scrape of ``/metrics``: anyone while AFTERSALES_METRICS_KEY is unset (the counters then name
    no merchant), only that key once it is set; 401 otherwise."""
    settings: Settings = request.app.state.settings
    if settings.metrics_key is None:
        return
    if (
        credentials is None
        or credentials.scheme.lower() != "bearer"
        or not hmac.compare_digest(settings.metrics_key.encode(), credentials.credentials.encode())
    ):
        raise Problem("unauthorized", "send Authorization: Bearer <AFTERSALES_METRICS_KEY>")


SettingsDep = Annotated[Settings, Depends(get_settings)]
ClientDep = Annotated[Client, Depends(get_client)]
EngineDep = Annotated[Engine, Depends(get_engine)]
CallerDep = Annotated[Caller, Depends(get_caller)]


def allow(*roles: Role) -> Any:
    """A dependency that admits only callers of ``roles``; others get 403 ``forbidden``."""

    async def check(caller: CallerDep) -> Caller:
        if caller.role not in roles:
            needed = " or ".join(r.value for r in roles)
            raise Problem("forbidden", f"this needs {'an' if needed[0] in 'aeiou' else 'a'} {needed} key")
        return caller

    return Depends(check)


class _Owned(Protocol):
    @property
    def merchant_id(self) -> str: ...


State = TypeVar("State", bound=_Owned)


async def owned_state(
    handle: WorkflowHandle[Any, Any], query: Callable[[Any], State], caller: Caller, *, parents: Client | None = None
) -> State:
    """The workflow's state if ``caller`` may see it; if not, the very answer a missing workflow gets.

    For a merchant key, ownership is read first from the server alone (:func:`check_owner`), so a foreign
    id and a missing one cost the same round trip and answer alike, also while the workers are down. The
    query's own ``merchant_id`` still decides (a workflow started without the attribute is checked by it).
    ``parents``: the client to ask a child workflow's parent (a pickup's case) for its merchant.
    """
    if caller.role is Role.MERCHANT:
        await check_owner(handle, caller, parents=parents)
    state = await handle.query(query)
    if not caller.sees(state.merchant_id):
        raise Problem("not_found", NOT_FOUND)
    return state


async def may_act(
    handle: WorkflowHandle[Any, Any], query: Callable[[Any], _Owned], caller: Caller, *, parents: Client | None = None
) -> None:
    """404 unless ``caller`` may act on the workflow, answered as a missing workflow is; nothing for staff keys.

    Before an action (an Update, which answers the new state itself) the state is not needed: the server's
    ``MerchantId`` tells the owner (one describe, no worker task). Only a workflow started without the
    attribute is asked its state (``query``), as :func:`owned_state` would.
    """
    if caller.role is Role.MERCHANT:
        await owner_of(handle, query, caller, parents=parents)


async def owner_of(
    handle: WorkflowHandle[Any, Any], query: Callable[[Any], _Owned], caller: Caller, *, parents: Client | None = None
) -> str:
    """The workflow's merchant, if ``caller`` may see it (404 otherwise, as for a missing workflow).

    Told by the server's ``MerchantId`` (a describe); a workflow started without it is asked its state.
    """
    owner = await check_owner(handle, caller, parents=parents)
    if owner is None:
        owner = (await handle.query(query)).merchant_id
        if not caller.sees(owner):
            raise Problem("not_found", NOT_FOUND)
    return owner


async def check_owner(handle: WorkflowHandle[Any, Any], caller: Caller, *, parents: Client | None = None) -> str | None:
    """404 unless ``caller`` may see the workflow, told by Temporal's server alone (its ``MerchantId``).

    Asked before any query: a query needs a worker, and while the workers are down it fails (503), whereas
    a missing id is a 404 at once. Told by the workflow's search attribute, another merchant's id is a 404
    then too, and the two never differ. A pickup (no attribute of its own) is told by its case's, with ``parents``.
    Answers the owner, or None when the server does not know it (a workflow started without the attribute).
    """
    memory = owners(handle)
    owner = memory.get(handle.id)  # told before: a workflow's merchant never changes (api/owners.py)
    if owner is None:
        description = await handle.describe()
        owner = description.typed_search_attributes.get(sa.MERCHANT_ID)
        if owner is None and parents is not None and description.parent_id:  # a pickup: its case's merchant
            parent = await parents.get_workflow_handle(description.parent_id).describe()
            owner = parent.typed_search_attributes.get(sa.MERCHANT_ID)
        if owner is not None:
            memory.remember(handle.id, owner)
    if owner is not None and not caller.sees(owner):
        raise Problem("not_found", NOT_FOUND)
    return owner
