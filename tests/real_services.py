"""The real services the tests use: skipped on a developer machine without them, never in CI (CI=true)."""

import os
import uuid
from typing import Any

import pytest

from vtac.errors import TransientError
from vtac.service.amqp import AmqpConfig
from vtac.service.state import SqlInputStore, open_postgres_store

POSTGRES_URL = os.environ.get("VTAC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def postgres_store() -> SqlInputStore:
    """A store on the real PostgreSQL; unreachable fails under CI and skips elsewhere."""
    try:
        return open_postgres_store(POSTGRES_URL, connect_timeout_s=2)
    except TransientError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no PostgreSQL: {exc}")


BROKER_URL = os.environ.get("VTAC_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def isolated_amqp_config(label: str, **overrides: Any) -> AmqpConfig:
    """Exchanges and queues of one test only (so tests never see each other's messages), fast timings."""
    uid = uuid.uuid4().hex[:10]
    settings: dict[str, Any] = {
        "url": BROKER_URL,
        "input_exchange": f"test.{uid}.products",
        "input_queue": f"test.{uid}.inputs",
        "notification_exchange": f"test.{uid}.notifications",
        "dead_letter_exchange": f"test.{uid}.dlx",
        "dead_letter_queue": f"test.{uid}.inputs.dead",
        "ba_queue": "",  # the tests read the notifications from queues of their own
        "vtpp_queue": "",
        "heartbeat_s": 5,
        "retry_delay_s": 0.05,
        "retry_delay_cap_s": 0.2,
        "reconnect_initial_s": 0.05,
        "reconnect_cap_s": 0.5,
        "shutdown_grace_s": 2.0,
        "connection_name": f"vtac-{label}-{uid}",
    }
    return AmqpConfig(**(settings | overrides))
