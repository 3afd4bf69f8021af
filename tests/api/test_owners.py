"""The API's memory of who owns a workflow: bounded, forgetting, and only for ids whose owner never changes."""

from __future__ import annotations

import time

from api.owners import Owners


def test_an_owner_told_is_remembered_for_workflows_whose_owner_never_changes() -> None:
    memory = Owners()
    memory.remember("order-O1", "m-acme")
    memory.remember("aftersale-C1", "m-acme")
    memory.remember("chat-X1", "m-acme")  # a conversation id may start a new watch later: not kept
    assert (memory.get("order-O1"), memory.get("aftersale-C1"), memory.get("chat-X1")) == ("m-acme", "m-acme", None)
    assert memory.get("order-O2") is None  # a missing workflow is never guessed


def test_the_least_recently_used_owner_goes_first_when_full() -> None:
    memory = Owners(size=2)
    memory.remember("order-O1", "m-1")
    memory.remember("order-O2", "m-2")
    assert memory.get("order-O1") == "m-1"  # used: O2 is now the oldest
    memory.remember("order-O3", "m-3")
    assert (memory.get("order-O1"), memory.get("order-O2"), memory.get("order-O3")) == ("m-1", None, "m-3")


def test_an_owner_is_forgotten_after_its_time() -> None:
    memory = Owners(ttl=0.05)
    memory.remember("order-O1", "m-1")
    assert memory.get("order-O1") == "m-1"
    time.sleep(0.06)
    assert memory.get("order-O1") is None
