"""Fixtures of the service tests: instances started on the real broker, stopped at the end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from real_services import wait_for, with_changes
from service_rig import SDSS, Service

from vtac.service.processor import Processor
from vtac.service.sdb import FileSdb, Sdb
from vtac.service.state import InputStore, open_sqlite_store
from vtac.settings import BrokerSettings, VtacSettings


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
