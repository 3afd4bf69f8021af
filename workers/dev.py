"""``make dev``: the Temporal dev server, a worker and the API on one machine, stopped together."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from config.codec import new_key, parse_keys
from config.settings import Settings
from readmodel.migrate import upgrade
from workers.stack import temporal_server_command

STATE_DIR = Path(".temporal")
STACK_FILE = "dev-stack.json"  # the ports the running stack uses (workers.demo reads them)
PRIVATE = 0o077  # the umask of what the dev stack writes: files 0600, directories 0700


def dev_keys(settings: Settings) -> dict[str, str]:
    """The API keys of the dev stack: AFTERSALES_API_KEYS if set, else keys kept in .temporal/."""
    if settings.api_keys:
        return settings.api_keys
    path = STATE_DIR / "dev-api-keys.json"
    if path.exists():
        keys: dict[str, str] = json.loads(path.read_text())
        return keys
    keys = {
        f"mall-{secrets.token_hex(8)}": "mall",
        f"admin-{secrets.token_hex(8)}": "admin",
        f"merchant-{secrets.token_hex(8)}": "merchant:m-demo",
    }
    # Created 0600 before the keys are written, so they are never readable by others, not even for a moment.
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        file.write(json.dumps(keys, indent=2))
    return keys


def dev_session_secret(settings: Settings) -> str:
    """The board's cookie-signing secret: AFTERSALES_SESSION_SECRET if set, else one kept in .temporal/."""
    if settings.session_secret:
        return settings.session_secret
    path = STATE_DIR / "dev-session-secret"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def dev_codec_keys(settings: Settings) -> str:
    """The payload keys of the dev stack: AFTERSALES_CODEC_KEYS if set, else a key kept in .temporal/.

    Kept, not made afresh, because a second ``make dev`` must read the workflows the first one wrote.
    """
    if settings.codec_keys.get_secret_value():
        return settings.codec_keys.get_secret_value()
    path = STATE_DIR / "dev-codec-keys"
    if path.exists():
        keys = path.read_text().strip()
        parse_keys(keys)  # an unreadable file stops here, not in the worker
        return keys
    keys = new_key("dev")
    # Created private, so the key is never readable by others, not even for a moment.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(keys + "\n")
    return keys


def remember_stack(settings: Settings, public_url: str) -> None:
    """Writes where this stack serves (.temporal/dev-stack.json), so ``make demo`` finds it with no settings."""
    stack = {
        "api_port": settings.api_port,
        "ui_port": settings.ui_port,
        "namespace": settings.temporal_namespace,
        "public_url": public_url,
    }
    (STATE_DIR / STACK_FILE).write_text(json.dumps(stack, indent=2) + "\n")


def dev_link_secret(settings: Settings) -> str:
    """The action links' signing secret: AFTERSALES_LINK_SECRET if set, else one kept in .temporal/.

    Kept, so that the links in messages a first ``make dev`` sent still open under the second.
    """
    if settings.link_secret.get_secret_value():
        return settings.link_secret.get_secret_value()
    path = STATE_DIR / "dev-link-secret"
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text().strip()


def _wait_for_port(host: str, port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the Temporal dev server exited with {process.returncode}")
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"the Temporal dev server did not listen on {host}:{port} in {timeout:.0f} s")


def run_dev(settings: Settings) -> int:
    """Runs the stack until SIGINT/SIGTERM or until one process dies; leaves nothing running."""
    STATE_DIR.mkdir(mode=0o700, exist_ok=True)
    for kept in [*STATE_DIR.glob("dev.db*"), *STATE_DIR.glob("dev-api-keys.json")]:
        kept.chmod(0o600)  # state an earlier version created with the default umask
    host, _, port = settings.temporal_address.rpartition(":")
    keys = dev_keys(settings)
    codec_keys = dev_codec_keys(settings)
    temporal = temporal_server_command(
        db_filename=STATE_DIR / "dev.db",
        host=host or "127.0.0.1",
        port=int(port),
        namespace=settings.temporal_namespace,
        ui_port=settings.ui_port,
    )
    # The Web UI decodes payloads through the API's codec endpoint, for a browser logged in there.
    temporal += ["--ui-codec-endpoint", f"http://localhost:{settings.api_port}/codec"]
    env = {
        **os.environ,
        "AFTERSALES_API_KEYS": json.dumps(keys),
        "AFTERSALES_CODEC_KEYS": codec_keys,
        "AFTERSALES_SESSION_SECRET": dev_session_secret(settings),
    }
    # The dev stack's robots (and tests' fake ones) answer plain http on this machine.
    env.setdefault("AFTERSALES_ALLOW_INSECURE_WEBHOOKS", "true")
    env["AFTERSALES_LINK_SECRET"] = dev_link_secret(settings)
    # The Web UI calls the codec from its own origin, on whichever port this stack gave it.
    env.setdefault(
        "AFTERSALES_CODEC_UI_ORIGINS", f"http://localhost:{settings.ui_port},http://127.0.0.1:{settings.ui_port}"
    )
    # Links in messages lead to this stack's API, not to the default port, unless told otherwise.
    public_url = env.setdefault("AFTERSALES_PUBLIC_URL", f"http://localhost:{settings.api_port}")
    remember_stack(settings, public_url)
    processes: list[subprocess.Popen[bytes]] = []

    def stop() -> None:
        for process in reversed(processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(processes):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        names = ["temporal", "worker", "api"]
        # The dev server's database holds every workflow's inputs (orders, addresses): private to its owner.
        processes.append(subprocess.Popen(temporal, env=env, umask=PRIVATE))  # noqa: S603
        _wait_for_port(host or "127.0.0.1", int(port), processes[0])
        upgrade(settings.database_url)  # once, before the worker and the API both look
        me = [sys.executable, "-m", "workers.cli"]
        processes.append(subprocess.Popen([*me, "worker"], env=env, umask=PRIVATE))  # noqa: S603
        processes.append(subprocess.Popen([*me, "api"], env=env, umask=PRIVATE))  # noqa: S603
        _banner(settings, keys, public_url)
        while not stopping:
            for name, process in zip(names, processes, strict=True):
                if process.poll() is not None:
                    print(f"\nthe {name} exited with {process.returncode}; stopping the stack", file=sys.stderr)
                    return 1
            time.sleep(0.3)
        return 0
    finally:
        stop()


def _banner(settings: Settings, keys: dict[str, str], public_url: str) -> None:
    lines = [
        "",
        "aftersales dev stack is up",
        f"  API           http://localhost:{settings.api_port}  (docs: /docs, board of lists: /v1/monitoring/…)",
        f"  SLA board     http://localhost:{settings.api_port}/board  (log in with the admin or merchant key)",
        f"  Temporal UI   http://localhost:{settings.ui_port}"
        f"  (to read payloads, log in once at http://localhost:{settings.api_port}/codec/login with the admin key;"
        f" Schedules: the daily digest, {settings.digest_cron} {settings.timezone})",
        f"  Temporal gRPC {settings.temporal_address}",
        f"  Links in messages lead to {public_url} (AFTERSALES_PUBLIC_URL)",
        "  API keys:",
        *(f"    {role:<20} {key}" for key, role in keys.items()),
        "  Ctrl-C stops everything; state is kept in .temporal/",
        "",
    ]
    print("\n".join(lines), flush=True)
