"""One atomic-write helper: whole files only, group-readable per the umask, first writer wins on request."""

from __future__ import annotations

import os
import stat

import pytest

from vtac.adapters.cone_cache import ConeCache
from vtac.adapters.files import write_atomically, write_bytes_atomically
from vtac.app.version import ProductFile
from vtac.core.coverage import Cone
from vtac.core.records import CatalogAnswer, CatalogStatus
from vtac.service.sdb import FileSdb, ProductBundle


@pytest.fixture(params=[0o022, 0o027], ids=["umask-022", "umask-027"])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_written_file_has_the_umask_mode_not_0600(tmp_path, umask):
    path = write_bytes_atomically(tmp_path / "product.fits", b"SIMPLE")

    assert path.read_bytes() == b"SIMPLE" and mode(path) == 0o666 & ~umask
    assert mode(path) & stat.S_IRGRP


def test_overwrite_replaces_and_first_writer_wins_refuses(tmp_path):
    target = tmp_path / "f"
    write_bytes_atomically(target, b"one")
    write_bytes_atomically(target, b"two")
    assert target.read_bytes() == b"two"

    with pytest.raises(FileExistsError):
        write_bytes_atomically(target, b"three", overwrite=False)
    assert target.read_bytes() == b"two" and sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_a_failed_write_leaves_neither_a_partial_file_nor_a_temporary(tmp_path):
    def crash(stream):
        stream.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(tmp_path / "f", crash)
    assert list(tmp_path.iterdir()) == []


def test_file_sdb_products_and_cached_cones_are_group_readable(tmp_path, umask):
    bundle = ProductBundle(
        "sb1", 1, (ProductFile("QPO_VT", "QPO_VT_sb1.fits", b"SIMPLE", "application/fits"),)
    )
    (location,) = FileSdb(tmp_path / "sdb").upload(bundle).values()
    stored = tmp_path / "sdb" / "sb1" / "QPO_VT" / "v1" / "QPO_VT_sb1.fits"
    assert location == stored.as_uri() and mode(stored) == 0o666 & ~umask

    from astropy.table import Table

    cache = ConeCache(tmp_path / "cones")
    table = Table({"RA_ICRS": [215.6], "DE_ICRS": [53.1]})
    cell = cache.cell_cone("SDSS12", Cone(215.6, 53.1, 0.05))
    path = cache.put(cell, CatalogAnswer("SDSS12", CatalogStatus.OK, table, "ok"))
    assert path is not None and mode(path) == 0o666 & ~umask
