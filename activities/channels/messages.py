"""A notification as every robot shows it, and the byte-counting helpers the robots share."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

TRUNCATION_NOTE = "\n\n……（内容过长，已截断）"


@dataclass(frozen=True)
class Button:
    """A link a message carries: what it says and where it goes (a signed action link)."""

    title: str
    url: str


@dataclass(frozen=True)
class Message:
    """One notification as every robot shows it.

    Attributes:
        title: a short headline (DingTalk shows it in the chat list).
        text: the markdown body.
        mention_mobiles: mobiles of the group members to @mention.
        buttons: the actions its reader may take, as links.
    """

    title: str
    text: str
    mention_mobiles: tuple[str, ...] = ()
    buttons: tuple[Button, ...] = ()


def link_line(buttons: Sequence[Button]) -> str:
    """Buttons as markdown links, kept whole after the (possibly truncated) text."""
    return ("\n\n" + " | ".join(f"[{button.title}]({button.url})" for button in buttons)) if buttons else ""


def truncate_utf8(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` of UTF-8, never inside a character, with a note that it was cut.

    Partners count bytes, not characters, and a Chinese character takes three.
    """
    encoded = text.encode()
    if len(encoded) <= max_bytes:
        return text
    budget = max(max_bytes - len(TRUNCATION_NOTE.encode()), 0)
    return encoded[:budget].decode(errors="ignore").rstrip() + TRUNCATION_NOTE


def json_bytes(payload: dict[str, Any]) -> bytes:
    """``payload`` as compact UTF-8 JSON."""
    # Chinese kept as UTF-8 (3 bytes) rather than \\u escapes (6 bytes): the partners' limits count bytes.
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
