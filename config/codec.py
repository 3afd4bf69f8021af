"""Every payload the product hands Temporal is encrypted: customers' names, phones and addresses never sit in
Temporal's database or its Web UI in clear.

:class:`EncryptionCodec` seals each payload (workflow inputs, Update arguments, results, memos, activity
inputs, failure details) with AES-256-GCM. The key id travels in the payload's metadata, so keys rotate: the
first key of ``AFTERSALES_CODEC_KEYS`` encrypts, the others only decrypt what was written with them. A payload
that is not encrypted (written before encryption was switched on, or a saved test history) is passed through
as it is, so running workflows survive the upgrade.

Search attributes are not payloads a codec sees; they carry ids, statuses and times only.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12
KEY_BYTES = 32


class CodecKeyError(ValueError):
    """``AFTERSALES_CODEC_KEYS`` cannot be read, or a payload names a key this process does not have."""


def parse_keys(text: str) -> dict[str, bytes]:
    """``id:base64key,id2:base64key2`` → ``{id: key}`` in the written order (the first one encrypts).

    Each key is 32 random bytes in standard base64 (``aftersales codec-key`` prints a new one). Ids are
    short names without ``:`` or ``,``, e.g. the month the key was made: ``2026-11``.
    """
    keys: dict[str, bytes] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key_id, sep, encoded = item.strip().partition(":")
        if not sep or not key_id or not encoded:
            raise CodecKeyError("AFTERSALES_CODEC_KEYS items are id:base64key, comma-separated")
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error as error:
            raise CodecKeyError(f"codec key {key_id!r} is not base64") from error
        if len(key) != KEY_BYTES:
            raise CodecKeyError(f"codec key {key_id!r} has {len(key)} bytes, not {KEY_BYTES}")
        if key_id in keys:
            raise CodecKeyError(f"codec key id {key_id!r} appears twice")
        keys[key_id] = key
    if not keys:
        raise CodecKeyError("AFTERSALES_CODEC_KEYS is empty: set at least one id:base64key (aftersales codec-key)")
    return keys


def new_key(key_id: str) -> str:
    """A fresh ``id:base64key`` item for ``AFTERSALES_CODEC_KEYS``."""
    if not key_id or any(c in key_id for c in ":, "):
        raise CodecKeyError(f"a codec key id is a short name without ':', ',' or spaces, not {key_id!r}")
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over each whole payload (metadata and data), the key id in the clear metadata.

    Args:
        keys: key id → 32-byte key; the first encrypts, every one decrypts.
    """

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        if not keys:
            raise CodecKeyError("the codec needs at least one key")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.current = next(iter(keys))

    @classmethod
    def from_setting(cls, text: str) -> EncryptionCodec:
        """The codec of an ``AFTERSALES_CODEC_KEYS`` value."""
        return cls(parse_keys(text))

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Each payload sealed with the current key."""
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Each encrypted payload opened with the key it names; others as they are."""
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        """``payload`` sealed with the current key."""
        nonce = os.urandom(NONCE_BYTES)
        # The key id is authenticated too, so a payload cannot be relabelled to another key.
        sealed = self._ciphers[self.current].encrypt(nonce, payload.SerializeToString(), self.current.encode())
        return Payload(metadata={"encoding": ENCODING, KEY_ID: self.current.encode()}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        """``payload`` opened, or as it is when it is not encrypted.

        Raises:
            CodecKeyError: it names a key this process does not have, or it was tampered with.
        """
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID, b"").decode()
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise CodecKeyError(f"payload encrypted with key {key_id!r}, which AFTERSALES_CODEC_KEYS does not hold")
        data = payload.data
        try:
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], key_id.encode())
        except InvalidTag as error:
            raise CodecKeyError(f"payload under key {key_id!r} does not authenticate") from error
        return Payload.FromString(plain)
