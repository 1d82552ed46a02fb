"""Headless Chromium for the page tests: the flags this closed network needs, a fresh profile per run,
the console read back from the log; screenshots go to ``test-output/`` (``VTAC_TEST_OUTPUT``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from paths import REPO

OUTPUT = Path(os.environ.get("VTAC_TEST_OUTPUT", REPO / "test-output"))
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
)


def chromium() -> str:
    """The machine's Chromium; its absence fails under CI and skips elsewhere."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: run `make system-deps`")
        pytest.skip("chromium is not installed (make system-deps)")
    return binary


def browse(page: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    """Open a page in headless Chromium (a fresh profile each time), with these extra flags."""
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    command = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def console_messages(stderr: str) -> list[str]:
    """The page's console lines in Chromium's log."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]
