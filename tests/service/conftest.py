"""Fixtures of the service tests: a simulated burst's files, a processor on a SQLite store and a file SDB,
and instances started on the real broker, stopped at the end. A module that needs another burst defines
its own ``burst``."""

# pylint: disable=redefined-outer-name  # pytest fixtures
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from paths import SDSS
from real_services import wait_for, with_changes
from service_rig import Service, simulate_files

from vtac.service.processor import Processor
from vtac.service.sdb import FileSdb, Sdb
from vtac.service.state import InputStore, open_sqlite_store
from vtac.settings import BrokerSettings, VtacSettings


@pytest.fixture(scope="module")
def burst(sky, tmp_path_factory):
    """A simulated burst on the real SDSS field (an afterglow, R and B lists, an MXT circle) and its files."""
    return simulate_files(sky, tmp_path_factory.mktemp("inputs"))


@pytest.fixture
def settings(tmp_path: Path) -> VtacSettings:
    """SDSS12 from the packaged file, the state in tmp."""
    return VtacSettings(state_dir=tmp_path, catalogues={"sources": [SDSS]})


@pytest.fixture
def processor(settings: VtacSettings, tmp_path: Path) -> Iterator[Processor]:
    """The real processor on a SQLite store and a file SDB in tmp."""
    store = open_sqlite_store(tmp_path / "state.db")
    yield Processor(settings, store=store, sdb=FileSdb(tmp_path / "sdb"))
    store.close()


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """Start instances (SDSS12 from the packaged file, a SQLite store and a file SDB in tmp, unless given);
    stop them all at the end."""
    started: list[Service] = []

    def start(
        config: BrokerSettings,
        *,
        settings: VtacSettings | None = None,
        sdb: Sdb | None = None,
        store: InputStore | None = None,
        name: str = "a",
    ) -> Service:
        processor = Processor(
            settings or VtacSettings(state_dir=tmp_path / name, catalogues={"sources": [SDSS]}),
            store=store or open_sqlite_store(tmp_path / f"{name}.db"),
            sdb=sdb or FileSdb(tmp_path / "sdb"),
        )
        service = Service(with_changes(config, connection_name=f"{config.connection_name}-{name}"), processor)
        started.append(service)
        wait_for(lambda: service.consumer.health.ready)
        return service

    yield start
    for service in started:
        if service.thread.is_alive():
            service.stop()
        service.processor.close()
