"""Reading Temporal's histories as they are stored, and as a holder of the keys reads them."""

from __future__ import annotations

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHistory

from config.codec import EncryptionCodec

_PAYLOAD = Payload.DESCRIPTOR.full_name


def stored_bytes(history: WorkflowHistory) -> bytes:
    """Every event of ``history`` as the server stores it: payload data as raw bytes, not base64."""
    return b"".join(event.SerializeToString() for event in history.events)


async def decrypted(history: WorkflowHistory, codec: EncryptionCodec) -> WorkflowHistory:
    """``history`` with every encrypted payload opened (e.g. to save a replayable history in the clear)."""
    for event in history.events:
        await _open(event, codec)
    return history


async def _open(message: Message, codec: EncryptionCodec) -> None:
    if message.DESCRIPTOR.full_name == _PAYLOAD:
        assert isinstance(message, Payload)
        message.CopyFrom(codec.decrypt(message))
        return
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        if field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].type == FieldDescriptor.TYPE_MESSAGE:
                for key in value:
                    await _open(value[key], codec)
        elif field.is_repeated:
            for item in value:
                await _open(item, codec)
        else:
            await _open(value, codec)
