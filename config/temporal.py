"""How every process reaches Temporal: one client setup, one data converter."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from config.settings import Settings


async def connect(settings: Settings, *, lazy: bool = False, runtime: Runtime | None = None) -> Client:
    """A Temporal client for the configured address and namespace.

    Args:
        settings: where Temporal is.
        lazy: connect on first use, so a process can start (and report not ready) while Temporal is down.
        runtime: a runtime with telemetry (the worker's metrics), else the default one.
    """
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        lazy=lazy,
        runtime=runtime,
    )
