"""How every process reaches Temporal: one client setup, one data converter."""

from __future__ import annotations

import dataclasses

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec
from temporalio.runtime import Runtime

from config.codec import EncryptionCodec
from config.settings import Settings


def data_converter(codec: PayloadCodec) -> DataConverter:
    """Pydantic models as JSON, every payload through ``codec``, failure messages and traces encoded too.

    Failure messages go into the encoded attributes because a message may quote what it refused.
    """
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def codec(settings: Settings) -> EncryptionCodec:
    """The payload codec of ``AFTERSALES_CODEC_KEYS``; a missing or unreadable setting stops the process."""
    return EncryptionCodec.from_setting(settings.codec_keys.get_secret_value())


async def connect(settings: Settings, *, lazy: bool = False, runtime: Runtime | None = None) -> Client:
    """A Temporal client for the configured address and namespace, encrypting every payload.

    Args:
        settings: where Temporal is, and the codec keys.
        lazy: connect on first use, so a process can start (and report not ready) while Temporal is down.
        runtime: a runtime with telemetry (the worker's metrics), else the default one.
    """
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(codec(settings)),
        lazy=lazy,
        runtime=runtime,
    )
