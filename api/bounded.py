"""Every call the API makes to Temporal ends within ``AFTERSALES_API_TEMPORAL_TIMEOUT`` (each RPC; twice it in all).

Without a bound, an Update on a workflow whose worker is down waits for ever (the SDK polls until the
workflow answers), and a query waits as long as the server lets it. The API's client carries this
interceptor, so every route's ``execute_update``, ``query``, ``describe`` and ``start_workflow`` is bounded in
one place. A call that runs out of time raises what Temporal's own deadline raises (``RPCError``
``DEADLINE_EXCEEDED``; for an Update the SDK's ``WorkflowUpdateRPCTimeoutOrCancelledError``), which
:mod:`api.errors` answers as 503: ``unavailable`` for a read, ``outcome_unknown`` for a write.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.client import (
    Client,
    DescribeWorkflowInput,
    Interceptor,
    OutboundInterceptor,
    QueryWorkflowInput,
    SignalWorkflowInput,
    StartWorkflowInput,
    StartWorkflowUpdateInput,
    WorkflowExecutionDescription,
    WorkflowHandle,
    WorkflowUpdateHandle,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError, RPCStatusCode

T = TypeVar("T")
TIMED_OUT = "the API's deadline for Temporal's answer (AFTERSALES_API_TEMPORAL_TIMEOUT) passed"


class Bounded(Interceptor):
    """Bounds each call of the client it intercepts to ``timeout`` in all."""

    def __init__(self, timeout: timedelta) -> None:
        self.timeout = timeout

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Outbound(next, self.timeout)


def bounded(client: Client, timeout: timedelta) -> Client:
    """``client`` with every call bounded to ``timeout`` (the same connection, namespace and converter)."""
    config = client.config()
    config["interceptors"] = [*config["interceptors"], Bounded(timeout)]
    return Client(**config)


class _Outbound(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, timeout: timedelta) -> None:
        super().__init__(next)
        self.timeout = timeout

    def _input(self, input: Any) -> Any:
        # Temporal's own deadline per RPC: the server stops waiting too, and says so.
        if input.rpc_timeout is None or input.rpc_timeout > self.timeout:
            return dataclasses.replace(input, rpc_timeout=self.timeout)
        return input

    async def _within(self, call: Awaitable[T]) -> T:
        # And one deadline for the whole call, as an Update re-polls past any one RPC's deadline. Twice the
        # RPC's: the SDK retries a refusal (RESOURCE_EXHAUSTED) for up to 10 s, and that refusal, telling that
        # nothing was accepted, is the truer answer.
        try:
            async with asyncio.timeout(2 * self.timeout.total_seconds()):
                return await call
        except TimeoutError:
            raise RPCError(TIMED_OUT, RPCStatusCode.DEADLINE_EXCEEDED, b"") from None

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        return await self._within(self.next.start_workflow(self._input(input)))

    async def describe_workflow(self, input: DescribeWorkflowInput) -> WorkflowExecutionDescription:
        return await self._within(self.next.describe_workflow(self._input(input)))

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        return await self._within(self.next.query_workflow(self._input(input)))

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        return await self._within(self.next.signal_workflow(self._input(input)))

    async def start_workflow_update(self, input: StartWorkflowUpdateInput) -> WorkflowUpdateHandle[Any]:
        try:
            return await self._within(self.next.start_workflow_update(self._input(input)))
        except RPCError as error:
            if error.message != TIMED_OUT:
                raise
            raise WorkflowUpdateRPCTimeoutOrCancelledError() from error
