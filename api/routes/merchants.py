"""Merchants: the platform's configuration of contacts, robots, agents and clock overrides."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from api.deps import CallerDep, EngineDep, Role, allow
from api.errors import Problem
from domain.merchants import MerchantConfig, MerchantView
from domain.orders import Id
from readmodel.merchants import get_merchant, put_merchant
from readmodel.tables import Merchant

MASKED = "***"

router = APIRouter(prefix="/v1/merchants", tags=["merchants"])


def _view(merchant: Merchant) -> MerchantView:
    dingtalk = dict(merchant.dingtalk) if merchant.dingtalk else None
    if dingtalk and dingtalk.get("secret"):
        dingtalk["secret"] = MASKED  # a signing secret is written, never read back
    return MerchantView.model_validate(
        {
            **merchant.model_dump(exclude={"updated_at", "dingtalk"}),
            "dingtalk": dingtalk,
        }
    )


@router.put("/{merchant_id}", response_model=MerchantView, dependencies=[allow(Role.ADMIN)])
async def put(merchant_id: Id, config: MerchantConfig, engine: EngineDep) -> MerchantView:
    """Creates or replaces a merchant. Overrides apply to processes started afterwards.

    A DingTalk ``secret`` sent back as ``***`` (what GET shows) keeps the stored secret.
    """
    values = config.model_dump(mode="json")
    if values.get("dingtalk") and values["dingtalk"].get("secret") == MASKED:
        stored = await asyncio.to_thread(get_merchant, engine, merchant_id=merchant_id)
        values["dingtalk"]["secret"] = (stored.dingtalk or {}).get("secret") if stored else None
    merchant = await asyncio.to_thread(put_merchant, engine, merchant_id=merchant_id, values=values)
    return _view(merchant)


@router.get("/{merchant_id}", response_model=MerchantView, dependencies=[allow(Role.ADMIN, Role.MERCHANT)])
async def get(merchant_id: str, engine: EngineDep, caller: CallerDep) -> MerchantView:
    """A merchant's configuration (a merchant key sees only its own)."""
    merchant = await asyncio.to_thread(get_merchant, engine, merchant_id=merchant_id)
    if merchant is None or not caller.sees(merchant_id):
        raise Problem("not_found", f"no merchant {merchant_id}")
    return _view(merchant)
