"""The repository as a whole: what a merge can leave behind without any other test noticing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MARKERS = ("<<<<<<< ", ">>>>>>> ")


def tracked_text_files() -> list[Path]:
    git = shutil.which("git")
    if git is None:
        pytest.skip("no git on this machine")
    try:
        listed = subprocess.run(  # noqa: S603  (git, found on PATH)
            [git, "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    suffixes = {".py", ".md", ".toml", ".yml", ".yaml", ".ini", ".cfg", ".html", ".css", ".js", ".txt", ""}
    return [ROOT / name for name in listed.splitlines() if Path(name).suffix in suffixes and (ROOT / name).is_file()]


def test_no_file_keeps_a_merge_conflict() -> None:
    left = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in tracked_text_files()
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if line.startswith(MARKERS) or line == "======="
    ]
    assert left == []
