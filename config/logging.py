"""One logging setup for every process: structlog JSON (console on a terminal), stdlib routed through it."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# Mainland mobiles (1[3-9]x xxxx xxxx), with or without +86: keep the first three and the last four digits.
# A number standing alone, or among words in any script: not a digit run inside a longer one or inside a
# hex id, a request id or a tracking number (ASCII letters and digits on either side), nor one that is part
# of an id or a URL path (``o-13812345678``, ``/v1/orders/13812345678``: joined by ``-``, ``_`` or ``/``).
# Ids are the caller's own names for orders and cases, and the logs must find them as written; the API never
# takes a customer's mobile in a path (they travel in bodies, which are not logged). A mobile in a query
# string (``?mobile=…``) or in free text is masked.
_MOBILE = re.compile(r"(?<![0-9A-Za-z_/-])(\+?(?:86)?1[3-9]\d)\d{4}(\d{4})(?![0-9A-Za-z_/-])")
_SECRET_KEYS = ("secret", "token", "password", "authorization", "api_key", "sign")
# Correlation ids are kept as they are, whatever digits they hold: rewritten, they would find nothing.
_VERBATIM_KEYS = frozenset({"request_id"})


def mask_sensitive(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Masks phone numbers in every string but request ids, and hides values of secret-looking keys."""
    event.pop("color_message", None)  # uvicorn's ANSI duplicate of the message
    for key, value in list(event.items()):
        if any(word in key.lower() for word in _SECRET_KEYS):
            event[key] = "***"
        elif isinstance(value, str) and key not in _VERBATIM_KEYS:
            event[key] = _MOBILE.sub(r"\1****\2", value)
    return event


def configure_logging(*, level: str = "INFO", fmt: str = "auto") -> None:
    """Configures structlog and the standard library's logging (Temporal, uvicorn) alike.

    Args:
        level: the lowest level logged.
        fmt: ``json``, ``console``, or ``auto`` (console on a terminal, JSON otherwise).
    """
    console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        mask_sensitive,
    ]
    renderer: Any = structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "temporalio"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
