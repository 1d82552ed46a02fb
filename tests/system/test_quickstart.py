"""The README's service quick start, run as written against the real broker."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pika
import pytest
from paths import REPO
from real_services import BROKER_URL

pytestmark = [pytest.mark.broker, pytest.mark.subprocess]

README = (REPO / "README.md").read_text(encoding="utf-8")


def quickstart_block() -> str:
    """The shell block after the ``<!-- quickstart -->`` marker."""
    match = re.search(r"<!-- quickstart -->\n```sh\n(.*?)```", README, flags=re.DOTALL)
    assert match, "README.md has no quick-start block"
    return match.group(1)


def isolated_names() -> dict[str, str]:
    """The broker names of this run only (other suites share the broker); the README's commands unchanged."""
    uid = uuid.uuid4().hex[:10]
    return {
        "VTAC_BROKER__INPUTS_EXCHANGE": f"quick.{uid}.products",
        "VTAC_BROKER__INPUTS_QUEUE": f"quick.{uid}.inputs",
        "VTAC_BROKER__NOTIFICATIONS_EXCHANGE": f"quick.{uid}.notifications",
        "VTAC_BROKER__BA_QUEUE": f"quick.{uid}.ba",
        "VTAC_BROKER__VTPP_QUEUE": f"quick.{uid}.vtpp",
        "VTAC_BROKER__DEAD_LETTER_EXCHANGE": f"quick.{uid}.dlx",
        "VTAC_BROKER__DEAD_LETTER_QUEUE": f"quick.{uid}.dead",
    }


def delete_names(names: dict[str, str]) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
    channel = connection.channel()
    for key, name in names.items():
        if key.endswith("_QUEUE"):
            channel.queue_delete(name)
    for legacy_or_current in ("retry", "delay"):
        channel.queue_delete(f"{names['VTAC_BROKER__INPUTS_QUEUE']}.{legacy_or_current}")
    for key, name in names.items():
        if key.endswith("_EXCHANGE"):
            channel.exchange_delete(name)
    connection.close()


@pytest.mark.slow
def test_the_readme_quick_start_ends_with_the_notifications_of_the_simulated_burst(tmp_path):
    if shutil.which("make") is None:  # pragma: no cover - make is part of the set-up
        pytest.fail("make is needed for the quick start")
    names = isolated_names()
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("VTAC_", "VIRTUAL_ENV"))
    }
    environment |= names | {"VTAC_BROKER__URL": BROKER_URL, "VTAC_HEALTH_PORT": "0", "TMPDIR": str(tmp_path)}
    try:
        run = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", quickstart_block()],
            cwd=REPO,
            env=environment,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    finally:
        delete_names(names)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    notifications = re.findall(r"^sb26050905 v(\d+) .*$", run.stdout, flags=re.MULTILINE)
    assert notifications == ["1", "2", "3"], run.stdout
    last = run.stdout[run.stdout.rindex("sb26050905 v3") :]
    assert re.search(
        r"best #1: VT \d+ RA 21\d\.\d{5} Dec \+5\d\.\d{5}  (probability|score) [01]\.\d\d", last
    ), last
    stored = re.search(r"QPO_VT: file://(\S+)", last)
    assert stored and Path(stored.group(1)).is_file(), last
