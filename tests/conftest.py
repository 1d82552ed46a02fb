"""Suite-wide fixtures: the real RabbitMQ and PostgreSQL, with names and databases no other test sees.

An unreachable broker or database fails the test under CI (``CI=true``: broker tests never skip there) and
skips it on a developer machine without them. Helpers (URLs, the :class:`Broker` test client, ``wait_for``)
are in ``real_services.py``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from astropy.table import Table
from real_services import POSTGRES_URL, Broker, broker_problem, delete_topology, isolated_amqp_config

from vtac.errors import TransientError
from vtac.service.state import SqlInputStore, open_postgres_store
from vtac.settings import BrokerSettings
from vtac.simulation import load_demo_sky

#: Fixtures that reach a shared service, and the marker a test using one gets (pyproject.toml declares them).
_SERVICE_FIXTURES = {"rabbitmq": "broker", "postgres_store": "postgres"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that asks for the broker or the database through a fixture is marked so (``-m "not broker"``);
    modules that reach them otherwise, start processes or Chromium carry their marks themselves."""
    for item in items:
        for fixture, marker in _SERVICE_FIXTURES.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)


@pytest.fixture(scope="session")
def sky() -> Table:
    """The packaged SDSS field (EGS), read once for every test that simulates a burst on it."""
    return load_demo_sky()


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """``vtac serve`` run in-process puts its JSON handler on the root logger, writing to that test's
    captured stderr: a later test logging through it would write to a closed stream. Removed after each test
    (pytest's own capture handlers are left to pytest)."""
    root = logging.getLogger()
    before = list(root.handlers)
    yield
    for handler in root.handlers[:]:
        if type(handler) is logging.StreamHandler and handler not in before:
            root.removeHandler(handler)


@pytest.fixture(autouse=True)
def _service_extras_off_unless_asked(monkeypatch):
    """The service's extras (page, chart, VOEvent...) run on a thread after each confirmed version; tests of
    the service flow do not wait for them, so they are off here and on in the tests that are about them."""
    monkeypatch.setenv("VTAC_EXTRAS__ENABLED", "false")


def _unavailable(problem: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(problem)
    pytest.skip(problem)


@pytest.fixture(scope="session")
def rabbitmq() -> None:
    """The test broker answers (checked once per session)."""
    problem = broker_problem()
    if problem is not None:
        _unavailable(problem)


@pytest.fixture
def make_amqp_config(rabbitmq: None) -> Iterator[Callable[..., BrokerSettings]]:
    """Broker names of this test only (one set per call), deleted from the shared broker afterwards."""
    del rabbitmq
    made: list[BrokerSettings] = []

    def make(label: str = "test", **overrides: Any) -> BrokerSettings:
        made.append(isolated_amqp_config(label, **overrides))
        return made[-1]

    yield make
    delete_topology(made)


@pytest.fixture
def config(make_amqp_config: Callable[..., BrokerSettings]) -> BrokerSettings:
    """The broker settings of one test (a module may override this fixture with its own timings)."""
    return make_amqp_config()


@pytest.fixture
def broker(config: BrokerSettings) -> Iterator[Broker]:
    """The test's client of the broker, on the topology of ``config``."""
    client = Broker(config)
    yield client
    client.close()


@pytest.fixture
def postgres_store() -> Iterator[Callable[[], SqlInputStore]]:
    """Opens stores on the test PostgreSQL database (each call one more service instance); closes them."""
    opened: list[SqlInputStore] = []

    def open_store() -> SqlInputStore:
        try:
            opened.append(open_postgres_store(POSTGRES_URL, connect_timeout_s=2))
        except TransientError as error:
            _unavailable(f"no PostgreSQL: {error}")
        return opened[-1]

    yield open_store
    for store in opened:
        store.close()
