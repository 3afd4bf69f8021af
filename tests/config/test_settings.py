"""Bad settings stop every ``aftersales`` command with one line per problem: the variable, what is wrong,
never its value, exit code 2 and no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

AFTERSALES = Path(sys.executable).parent / "aftersales"
SECRET = "supersecretkey123"
COMMANDS = ["api", "worker", "dev", "demo", "schedules", "migrate"]


def run(command: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {name: value for name, value in os.environ.items() if not name.startswith("AFTERSALES_")}
    return subprocess.run(  # noqa: S603  (our own console script)
        [str(AFTERSALES), command],
        env={**clean, "AFTERSALES_DATABASE_URL": f"sqlite:///{tmp_path / 'never.db'}", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )


def assert_refused(started: subprocess.CompletedProcess[str], command: str, *lines: str) -> None:
    assert started.returncode == 2, started.stderr
    assert started.stderr.splitlines() == [f"aftersales {command}: {line}" for line in lines]
    assert "Traceback" not in started.stderr
    assert started.stdout == ""


@pytest.mark.parametrize("command", COMMANDS)
def test_api_keys_that_are_not_json_are_named_and_never_echoed(command: str, tmp_path: Path) -> None:
    started = run(command, tmp_path, AFTERSALES_API_KEYS=f'{{"{SECRET}":"mall",}}', AFTERSALES_API_PORT="abc")
    assert_refused(
        started,
        command,
        "AFTERSALES_API_KEYS: not valid JSON: Expecting property name enclosed in double quotes at character 28",
        "AFTERSALES_API_PORT: Input should be a valid integer, unable to parse string as an integer",
    )
    assert SECRET not in started.stderr
    assert not (tmp_path / "never.db").exists()


def test_a_key_of_the_api_keys_is_not_named_even_where_its_role_is_wrong(tmp_path: Path) -> None:
    started = run("api", tmp_path, AFTERSALES_API_KEYS=f'{{"{SECRET}": 5}}')
    assert_refused(started, "api", "AFTERSALES_API_KEYS: Input should be a valid string")


@pytest.mark.parametrize("command", ["api", "worker", "schedules", "dev"])
def test_codec_keys_that_cannot_be_read_are_one_line(command: str, tmp_path: Path) -> None:
    started = run(command, tmp_path, AFTERSALES_CODEC_KEYS=f"2026-11:{SECRET}")
    assert_refused(started, command, "AFTERSALES_CODEC_KEYS: codec key '2026-11' is not base64")
    assert SECRET not in started.stderr


@pytest.mark.parametrize("command", ["api", "worker", "schedules"])
def test_codec_keys_that_are_missing_are_one_line(command: str, tmp_path: Path) -> None:
    started = run(command, tmp_path)
    assert_refused(
        started, command, "AFTERSALES_CODEC_KEYS is empty: set at least one id:base64key (aftersales codec-key)"
    )


def test_a_duration_that_is_not_one_says_why(tmp_path: Path) -> None:
    started = run("worker", tmp_path, AFTERSALES_API_TEMPORAL_TIMEOUT="soon", AFTERSALES_CODEC_KEYS="")
    assert started.returncode == 2
    [line] = started.stderr.splitlines()
    assert line.startswith("aftersales worker: AFTERSALES_API_TEMPORAL_TIMEOUT: ")
