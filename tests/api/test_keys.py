"""API keys: each stands for mall, admin or one merchant; a key the API cannot place stops it at start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from api.deps import Caller, InvalidKeysError, Role, parse_role
from api.main import create_app
from config.codec import new_key
from config.settings import Settings

AFTERSALES = Path(sys.executable).parent / "aftersales"


def test_roles_are_mall_admin_or_one_merchant() -> None:
    assert parse_role("mall") == Caller(Role.MALL)
    assert parse_role("admin") == Caller(Role.ADMIN)
    assert parse_role("merchant:m-acme") == Caller(Role.MERCHANT, "m-acme")


@pytest.mark.parametrize("role", ["merchant", "merchant:", "merchant: ", "merchant:a b", "Admin", "admin:x", ""])
def test_a_role_the_api_cannot_place_is_refused(role: str, sqlite_url: str) -> None:
    with pytest.raises(InvalidKeysError, match="key #2"):
        create_app(Settings(database_url=sqlite_url, api_keys={"k-mall": "mall", "k-bad": role}))


@pytest.mark.parametrize("role", ["merchant", "merchant:"])
def test_aftersales_api_refuses_to_start_with_a_merchant_key_of_no_merchant(role: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "AFTERSALES_API_KEYS": json.dumps({"k-secret-123": role}),
        "AFTERSALES_DATABASE_URL": f"sqlite:///{tmp_path / 'never.db'}",
        "AFTERSALES_LOG_FORMAT": "json",
        "AFTERSALES_CODEC_KEYS": new_key("test"),  # readable: the keys' problem is the only one
    }
    started = subprocess.run(  # noqa: S603  (our own console script)
        [str(AFTERSALES), "api"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert started.returncode == 2
    assert started.stderr.strip() == (
        f'aftersales api: AFTERSALES_API_KEYS, key #1: role "{role}" names no valid merchant: '
        'write "merchant:<merchant_id>"'
    )
    assert "k-secret-123" not in started.stderr + started.stdout
    assert not (tmp_path / "never.db").exists()  # refused before touching anything
