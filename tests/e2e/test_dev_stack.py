"""``make dev`` as a user runs it: the whole stack starts, keeps its state, and stops without leftovers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError

from tests.api.conftest import free_port
from tests.factories import order_body
from workers.schedules import DIGEST_SCHEDULE_ID


def _children(pid: int) -> set[int]:
    """Every descendant of ``pid`` (from /proc)."""
    found: set[int] = set()
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            children = (task / "children").read_text().split() if (task / "children").exists() else []
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    frontier.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


async def _digest_schedule_exists(temporal_port: int) -> bool:
    client = await Client.connect(f"127.0.0.1:{temporal_port}")
    try:
        await client.get_schedule_handle(DIGEST_SCHEDULE_ID).describe()
    except RPCError:
        return False
    return True


def _wait_until(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def dev_stack(workdir: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    stack = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "dev"],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        umask=0o022,  # the usual one, under which a file created without care is readable by everyone
    )
    try:
        yield stack
    finally:
        if stack.poll() is None:
            stack.kill()
            stack.wait()


@pytest.mark.timeout(420)  # two starts of the stack (90 s each at most), the demo (120 s) and two stops
def test_make_dev_runs_the_stack_keeps_its_workflows_and_stops_everything(tmp_path: Path) -> None:
    temporal_port, ui_port, api_port = free_port(), free_port(), free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("AFTERSALES_")} | {
        "AFTERSALES_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "AFTERSALES_UI_PORT": str(ui_port),
        "AFTERSALES_API_PORT": str(api_port),
        "AFTERSALES_API_HOST": "127.0.0.1",
        "AFTERSALES_DATABASE_URL": f"sqlite:///{tmp_path / 'aftersales.db'}",
        "AFTERSALES_LOG_LEVEL": "WARNING",
    }
    api = f"http://127.0.0.1:{api_port}"
    body = order_body(paid_at=datetime.now(UTC).isoformat(), merchant_id="m-demo")

    with dev_stack(tmp_path, env) as stack:
        _wait_until(lambda: httpx.get(f"{api}/readyz").status_code == 200, 90, "the API to be ready")
        keys = json.loads((tmp_path / ".temporal" / "dev-api-keys.json").read_text())
        mall = next(key for key, role in keys.items() if role == "mall")
        created = httpx.post(f"{api}/v1/orders", json=body, headers={"Authorization": f"Bearer {mall}"})
        assert created.status_code == 201, created.text
        # The dev server's file is in write-ahead-log mode (workers.stack.sqlite_pragmas: header bytes 18-19 are
        # 2 in WAL mode, 1 with the rollback journal), and its log holds the same data: as private as the file.
        state = tmp_path / ".temporal"
        assert (state / "dev.db").read_bytes()[18:20] == b"\x02\x02"
        logs = {path.name: oct(stat.S_IMODE(path.stat().st_mode)) for path in state.glob("dev.db-*")}
        assert logs == {"dev.db-wal": "0o600", "dev.db-shm": "0o600"}
        assert httpx.get(f"http://127.0.0.1:{ui_port}/").status_code == 200  # the Web UI
        ui_settings = httpx.get(f"http://127.0.0.1:{ui_port}/api/v1/settings").json()
        assert ui_settings["Codec"]["Endpoint"] == f"http://localhost:{api_port}/codec", ui_settings
        preflight = httpx.options(
            f"{api}/codec/decode",
            headers={"Origin": f"http://localhost:{ui_port}", "Access-Control-Request-Method": "POST"},
        )
        assert preflight.headers["access-control-allow-origin"] == f"http://localhost:{ui_port}"
        _wait_until(lambda: asyncio.run(_digest_schedule_exists(temporal_port)), 60, "the digest's Schedule")
        assert httpx.get(f"{api}/board").headers["location"].startswith("/board/login")

        # make demo, in another terminal and without the stack's port settings: it finds the API and the Web
        # UI where the stack serves them (.temporal/dev-stack.json), not on :8000 and :8233.
        demo_env = {
            key: value for key, value in env.items() if key not in ("AFTERSALES_API_PORT", "AFTERSALES_UI_PORT")
        }
        demo = subprocess.run(
            [sys.executable, "-m", "workers.cli", "demo"], cwd=tmp_path, env=demo_env, capture_output=True, timeout=120
        )
        printed = demo.stdout.decode()
        assert demo.returncode == 0, demo.stderr.decode()[-2000:]
        assert f"http://localhost:{ui_port}/namespaces/default/workflows" in printed  # the real Web UI port
        [cooling_off] = [line for line in printed.splitlines() if line.startswith("cooling-off refund:")]
        assert " completed, 426.00 CNY refunded with no merchant review" in cooling_off
        assert "auto_refunded_cooling_off → refund_issued" in cooling_off
        processes = _children(stack.pid)
        assert len(processes) >= 3  # Temporal, the worker and the API

        stack.send_signal(signal.SIGTERM)
        assert stack.wait(timeout=60) == 0
        banner = stack.stdout.read().decode() if stack.stdout else ""
    assert f"http://localhost:{api_port}" in banner
    # Links in messages lead to this stack's API, AFTERSALES_PUBLIC_URL being unset.
    assert f"Links in messages lead to http://localhost:{api_port} " in banner
    assert mall in banner
    assert not [pid for pid in processes if _alive(pid)], "processes left running after SIGTERM"
    # What holds secrets and customers' data is readable by its owner only.
    private = [tmp_path / ".temporal" / name for name in ("dev.db", "dev-api-keys.json")] + [tmp_path / "aftersales.db"]
    assert {path.name: oct(stat.S_IMODE(path.stat().st_mode)) for path in private} == {
        path.name: "0o600" for path in private
    }
    for path in private[:2]:
        path.chmod(0o644)  # as an earlier version left them
    # The payload key is kept, private, so the second start reads the workflows the first one encrypted.
    assert (tmp_path / ".temporal" / "dev-codec-keys").stat().st_mode & 0o777 == 0o600

    with dev_stack(tmp_path, env) as stack:
        _wait_until(lambda: httpx.get(f"{api}/readyz").status_code == 200, 90, "the API to be ready again")
        fetched = httpx.get(f"{api}/v1/orders/{body['order_id']}", headers={"Authorization": f"Bearer {mall}"})
        assert fetched.status_code == 200, fetched.text
        assert fetched.json()["status"] == "awaiting_shipment"
        stack.send_signal(signal.SIGINT)
        assert stack.wait(timeout=60) == 0
    assert [oct(stat.S_IMODE(path.stat().st_mode)) for path in private[:2]] == ["0o600", "0o600"]
