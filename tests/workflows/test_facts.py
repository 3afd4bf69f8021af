"""SLA facts written by the real projection under the time-skipping server: stamped with workflow time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from domain.cases import CaseStatus
from readmodel.kpis import supplier_kpis
from readmodel.tables import SlaFact
from tests.peers.partners import PartnersPeer
from tests.workflows.cases import open_case, outcome, paid_order
from workflows.aftersale import AfterSaleWorkflow

HOUR = timedelta(hours=1)


async def test_a_silent_merchants_breach_and_the_platforms_decision_are_facts_at_workflow_time(
    ts_env: WorkflowEnvironment,
    client: Client,
    settings: Settings,
    merchant_id: str,
    engine: Engine,
    partners: PartnersPeer,
) -> None:
    order = await paid_order(client, settings, merchant_id, await ts_env.get_current_time())
    await ts_env.sleep(HOUR)
    case = await open_case(client, settings, order, "refund_only", [{"line_id": "L1", "quantity": 1}])
    opened_at = (await case.query(AfterSaleWorkflow.state)).opened_at
    await ts_env.sleep(49 * HOUR)
    done = await outcome(case)
    assert done.status is CaseStatus.COMPLETED

    with Session(engine) as session:
        rows = session.exec(select(SlaFact).where(SlaFact.workflow_id == case.id).order_by(col(SlaFact.seq))).all()
    facts = {(row.kind, row.clock): row for row in rows}
    assert facts["clock_started", "review"].at == opened_at
    breached = facts["clock_breached", "review"]
    # The workflow's 48 h later, not when the worker wrote it: the test took seconds of wall time.
    assert breached.at == opened_at + 48 * HOUR
    assert breached.at > datetime.now(UTC) + 40 * HOUR
    assert (facts["decision", "review"].value, facts["decision", "review"].outcome) == (1.0, "approved")
    closed = facts["closed", None]
    assert closed.outcome == "resolved"
    assert closed.value is not None
    assert closed.value >= 48 * 3600

    [kpis] = supplier_kpis(engine, since=opened_at - HOUR, until=opened_at + 3 * 24 * HOUR, merchant_id=merchant_id)
    assert kpis.breaches["review"] == 1
    assert kpis.auto_decided_rate == 1.0
    assert kpis.after_sales_handling_seconds.count == 1
