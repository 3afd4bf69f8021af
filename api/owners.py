"""Who owns a workflow, remembered by the API process: a merchant's next action on it costs no describe.

A workflow's merchant never changes and its id is never reused while Temporal keeps it (orders, cases, work
orders and pickups start with ``REJECT_DUPLICATE``; a pickup rebooked is the same case's), so once the server
has told an owner (the ``MerchantId`` search attribute of a describe) the answer holds. The memory is bounded
(least recently used first out) and each answer is forgotten after a while, so an id freed by the namespace's
retention long after is asked again. Only answers the server gave are kept, never a guess: a missing workflow
is not remembered, and a foreign merchant's id still answers exactly as a missing one does.
"""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from temporalio.client import Client, WorkflowHandle

from api.recent import Recent

FIXED_OWNER = ("order-", "aftersale-", "workorder-", "pickup-")
"""Workflow ids whose owner never changes (a conversation id may start a new watch later: not kept)."""


class Owners(Recent[str]):
    """A bounded memory of workflow id → merchant for one Temporal client (one namespace of one cluster).

    Args:
        size: the most owners kept.
        ttl: seconds an owner is kept after the server told it.
    """

    def __init__(self, size: int = 100_000, ttl: float = 3600.0) -> None:
        super().__init__(size, ttl)

    def remember(self, workflow_id: str, owner: str) -> None:
        """Keeps what the server told of ``workflow_id`` (workflows whose owner may change are not kept)."""
        if workflow_id.startswith(FIXED_OWNER):
            self.put(workflow_id, owner)


_BY_CLIENT: WeakKeyDictionary[Client, Owners] = WeakKeyDictionary()


def owners(handle: WorkflowHandle[Any, Any]) -> Owners:
    """The memory of the client ``handle`` came from (ids are only unique within one namespace)."""
    client: Client = handle._client  # the SDK keeps it private; one memory per client, never shared across
    memory = _BY_CLIENT.get(client)
    if memory is None:
        memory = _BY_CLIENT[client] = Owners()
    return memory
