"""``make chaos``'s counters over real paths: messages sent by the real robot adapters to the stand-ins, and
refunds paid by the real payments simulator (the whole chaos run is too slow for ``make test``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine

from activities.channels.dingtalk import DingTalkRobot
from activities.channels.limiter import RobotRateLimiter
from activities.channels.messages import Message
from activities.channels.wecom import WeComRobot
from activities.partners import Partners
from config.settings import Settings
from tests.activities.test_partners import refund
from tests.peers.server import serve
from workers.chaos_checks import delivered_twice, refund_keys_by_case, refunds_paid_twice
from workers.standins import RobotStandIns


@pytest.fixture
def robots() -> Iterator[RobotStandIns]:
    robots = RobotStandIns()
    with serve(robots.app()) as base_url:
        robots.base_url = base_url
        yield robots


async def test_a_message_a_robot_receives_again_is_counted_as_delivered_twice(robots: RobotStandIns) -> None:
    overdue, reminder = Message("订单超时", "订单 O-1 已超时"), Message("发货提醒", "订单 O-1 还有 4 小时")
    async with httpx.AsyncClient() as http:
        limiter = RobotRateLimiter()
        dingtalk = DingTalkRobot(http, robots.dingtalk_url("m-1"), None, limiter)
        wecom = WeComRobot(http, robots.wecom_url("m-1"), limiter)
        await dingtalk.send(overdue)
        await dingtalk.send(reminder)
        await wecom.send(overdue)  # the same message on another robot: not a duplicate
        assert delivered_twice(dict(robots.received)).found == 0

        await dingtalk.send(overdue)  # a retry after the robot's "ok" was lost

    check = delivered_twice(dict(robots.received))
    assert (check.found, check.among, check.ok) == (1, "4 messages", False)
    assert check.examples[0].startswith("/dingtalk/m-1:")


async def test_a_case_paid_under_a_second_refund_key_is_counted_as_paid_twice(engine: Engine, sqlite_url: str) -> None:
    once, twice = f"C-{uuid.uuid4().hex[:8]}", f"C-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient() as http:
        partners = Partners(http=http, engine=engine, settings=Settings(database_url=sqlite_url))
        await partners.refund(refund(once))
        await partners.refund(refund(once))  # a retried activity: the simulator answers, pays nothing more
        await partners.refund(refund(twice))
        await partners.refund(refund(twice, quantity=2))  # another key for the same case: paid again

    by_case = refund_keys_by_case(engine)
    assert (len(by_case[once]), len(by_case[twice])) == (1, 2)
    check = refunds_paid_twice({case: by_case[case] for case in (once, twice)})
    assert (check.found, check.among, check.examples) == (1, "3 refunds", [twice])
