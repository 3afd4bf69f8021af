"""Cases this API process has just accepted, whose workflow may still be starting: a call on one waits for it.

``POST /v1/after-sales`` answers 201 as soon as the order's watch has accepted the request; the watch starts the
case's workflow in the background, milliseconds later (a child start, see :mod:`workflows.order_cases`). A call
on the case right after the 201 (the merchant approving at once, the mall reading it back) can reach Temporal
before that start and find no workflow. So the process remembers each case it accepted for a while, and a call
on one that Temporal answers NOT_FOUND is asked again, for at most :data:`START_WAIT`, before it becomes a 404.

Only cases accepted here wait: any other missing id is a 404 at once, so an unknown id costs one round trip as
before and a missing case still answers a merchant key exactly as fast as another merchant's does (no timing
tells them apart). Another API process does not know of the case: behind a load balancer a call right after the
201 that reaches another replica within the start's milliseconds can still be a 404 (a retry finds the case).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode, ServiceClient

from api.errors import workflow_closed
from api.recent import Recent

T = TypeVar("T")

START_WAIT = 2.0
"""Seconds a call on a case accepted here waits for its workflow to exist (a start takes milliseconds; under load,
the server's transfer queue may take longer)."""
REMEMBERED = 60.0  # seconds a case is remembered after its 201: far longer than any start takes
SIZE = 10_000  # cases remembered at most (oldest out first): more than a minute of intake


class Starting(Recent[bool]):
    """The cases one client's API process accepted lately (workflow id → accepted)."""

    def __init__(self) -> None:
        super().__init__(SIZE, REMEMBERED)

    def accepted(self, workflow_id: str) -> None:
        """Notes a case answered 201 here, whose workflow its order is starting."""
        self.put(workflow_id, True)

    def pending(self, workflow_id: str) -> bool:
        """Whether ``workflow_id`` was accepted here lately and not seen started since."""
        return self.get(workflow_id) is not None

    def seen(self, workflow_id: str) -> None:
        """Its workflow answered: it has started, nothing to wait for any more."""
        self.forget(workflow_id)


_BY_CONNECTION: WeakKeyDictionary[ServiceClient, dict[str, Starting]] = WeakKeyDictionary()


def starting(handle: WorkflowHandle[Any, Any]) -> Starting:
    """The memory of the Temporal connection and namespace ``handle`` came from (ids are unique within one).

    Kept per connection, not per client: every client made on one connection (the API's bounded client and
    the one it wraps, :mod:`api.bounded`) reaches the same server and sees the same workflows.
    """
    client: Client = handle._client  # the SDK keeps it private, as api.owners reads it
    by_namespace = _BY_CONNECTION.setdefault(client.service_client, {})
    memory = by_namespace.get(client.namespace)
    if memory is None:
        memory = by_namespace[client.namespace] = Starting()
    return memory


async def once_started(handle: WorkflowHandle[Any, Any], call: Callable[[], Awaitable[T]]) -> T:
    """``call()`` on the workflow of ``handle``; if it is a case accepted here that has not started yet, again.

    Temporal's NOT_FOUND for a workflow that does not exist (not one that has ended) is retried every few tens of
    milliseconds for up to :data:`START_WAIT`; a call refused that way was not admitted, so asking again is safe
    for an Update too. Anything else, or the wait over, is raised as it came.
    """
    memory = starting(handle)
    give_up = time.monotonic() + START_WAIT
    pause = 0.02
    while True:
        try:
            result = await call()
        except RPCError as error:
            missing = error.status is RPCStatusCode.NOT_FOUND and not workflow_closed(error)
            if not missing or not memory.pending(handle.id) or time.monotonic() >= give_up:
                raise
        else:
            memory.seen(handle.id)
            return result
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.2)
