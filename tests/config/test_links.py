"""Action-link tokens: bound to a workflow, an action and a person, refused altered, aged or foreign."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer

from config.links import SALT, LinkRefused, LinkSigner
from config.settings import Settings
from domain.notifications import LinkAction

SECRET = "s" * 40
TTL = timedelta(hours=24)


def signer(*, clock: float | None = None, secret: str = SECRET, ttl: timedelta = TTL) -> LinkSigner:
    return LinkSigner(
        secret, ttl=ttl, public_url="https://aftersales.example/", clock=(lambda: clock) if clock else time.time
    )


def test_a_token_names_its_workflow_action_and_person_until_it_expires() -> None:
    token = signer().token(workflow_id="aftersale-AS-1", action=LinkAction.APPROVE, person="merchant:m-acme")

    claim = signer().check(token)

    assert (claim.workflow_id, claim.action, claim.person) == ("aftersale-AS-1", LinkAction.APPROVE, "merchant:m-acme")
    assert claim.expires_at - claim.signed_at == TTL


def test_the_url_is_the_public_address_of_the_page() -> None:
    url = signer().url(workflow_id="workorder-W1", action=LinkAction.REPLY, person="a-1")

    assert url.startswith("https://aftersales.example/a/")
    assert "/" not in url.removeprefix("https://aftersales.example/a/")


def test_a_token_older_than_the_ttl_is_refused_as_expired() -> None:
    old = signer(clock=time.time() - TTL.total_seconds() - 60).token(
        workflow_id="aftersale-AS-1", action=LinkAction.APPROVE, person="merchant:m-acme"
    )

    with pytest.raises(LinkRefused) as refused:
        signer().check(old)
    assert refused.value.expired


def test_shortening_the_ttl_shortens_the_links_already_sent() -> None:
    token = signer(clock=time.time() - 3600).token(workflow_id="order-O1", action=LinkAction.OPEN, person="merchant:m")

    signer().check(token)
    with pytest.raises(LinkRefused):
        signer(ttl=timedelta(minutes=30)).check(token)


@pytest.mark.parametrize("position", [0, 10, -1])
def test_any_altered_character_is_refused(position: int) -> None:
    token = signer().token(workflow_id="aftersale-AS-1", action=LinkAction.APPROVE, person="merchant:m-acme")
    altered = token[:position] + ("A" if token[position] != "A" else "B") + token[position + 1 :]

    with pytest.raises(LinkRefused) as refused:
        signer().check(altered[: len(token)])
    assert not refused.value.expired


def test_a_token_of_another_secret_or_another_purpose_is_refused() -> None:
    other_secret = signer(secret="t" * 40).token(workflow_id="aftersale-AS-1", action=LinkAction.APPROVE, person="p")
    # The same secret signing the same payload for another purpose (a session cookie, say).
    other_salt = URLSafeTimedSerializer(SECRET, salt="aftersales.board-session").dumps(
        {"wf": "aftersale-AS-1", "a": "approve", "p": "p"}
    )
    unknown_action = URLSafeTimedSerializer(SECRET, salt=SALT).dumps({"wf": "aftersale-AS-1", "a": "refund", "p": "p"})

    for token in (other_secret, other_salt, unknown_action):
        with pytest.raises(LinkRefused):
            signer().check(token)


def test_a_short_secret_is_refused_and_none_turns_links_off() -> None:
    with pytest.raises(ValueError, match="32"):
        Settings(link_secret="short")
    assert Settings().link_signer() is None
    assert Settings(link_secret=SECRET, link_ttl="2h").link_signer() is not None
