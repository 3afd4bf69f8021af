"""The payload codec: AES-GCM per payload, the key id in the clear, old keys still read, plain payloads pass."""

from __future__ import annotations

import base64

import pytest
from temporalio.api.common.v1 import Payload

from config.codec import ENCODING, KEY_ID, CodecKeyError, EncryptionCodec, new_key, parse_keys

ADDRESS = '{"name":"王小明","phone":"13800138000","address":"上海市浦东新区世纪大道 100 号"}'.encode()


def plain(data: bytes = ADDRESS) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=data)


async def test_a_payload_is_sealed_with_the_current_key_and_opens_again() -> None:
    codec = EncryptionCodec.from_setting(f"{new_key('2026-11')},{new_key('2026-05')}")
    [sealed] = await codec.encode([plain()])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID] == b"2026-11"
    assert b"13800138000" not in sealed.SerializeToString()
    assert "王小明".encode() not in sealed.SerializeToString()
    assert await codec.decode([sealed]) == [plain()]


async def test_sealing_twice_gives_different_bytes() -> None:
    codec = EncryptionCodec.from_setting(new_key("k"))
    first, second = await codec.encode([plain(), plain()])
    assert first.data != second.data  # a fresh nonce each time: equal inputs do not show as equal


async def test_after_a_rotation_payloads_sealed_with_the_old_key_still_open() -> None:
    old = new_key("2026-05")
    before = EncryptionCodec.from_setting(old)
    [sealed_before] = await before.encode([plain()])

    after = EncryptionCodec.from_setting(f"{new_key('2026-11')},{old}")
    [sealed_after] = await after.encode([plain()])
    assert sealed_after.metadata[KEY_ID] == b"2026-11"
    assert await after.decode([sealed_before, sealed_after]) == [plain(), plain()]


async def test_a_payload_under_a_key_this_process_lacks_is_refused_by_name() -> None:
    [sealed] = await EncryptionCodec.from_setting(new_key("retired")).encode([plain()])
    with pytest.raises(CodecKeyError, match="retired"):
        await EncryptionCodec.from_setting(new_key("current")).decode([sealed])


async def test_a_payload_relabelled_or_altered_does_not_open() -> None:
    keys = parse_keys(f"{new_key('a')},{new_key('b')}")
    codec = EncryptionCodec(keys)
    [sealed] = await codec.encode([plain()])
    altered = Payload()
    altered.CopyFrom(sealed)
    altered.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(CodecKeyError):
        codec.decrypt(altered)
    # The same key under another id: the key id is authenticated too.
    relabelled = EncryptionCodec({"b": keys["a"], "a": keys["b"]})
    with pytest.raises(CodecKeyError):
        relabelled.decrypt(sealed)


async def test_a_payload_written_before_encryption_passes_through() -> None:
    """Histories of workflows started before the codec (and saved test histories) stay readable."""
    codec = EncryptionCodec.from_setting(new_key("k"))
    assert await codec.decode([plain()]) == [plain()]


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("", "empty"),
        ("k", "id:base64key"),
        ("k:not base64!", "not base64"),
        (f"k:{base64.b64encode(b'short').decode()}", "5 bytes"),
        (f"{new_key('k')},{new_key('k')}", "twice"),
    ],
)
def test_an_unreadable_key_setting_is_refused_with_what_is_wrong(setting: str, problem: str) -> None:
    with pytest.raises(CodecKeyError, match=problem):
        parse_keys(setting)


def test_a_key_id_cannot_contain_the_separators() -> None:
    with pytest.raises(CodecKeyError):
        new_key("a:b")
