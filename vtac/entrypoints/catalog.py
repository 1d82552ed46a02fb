"""``vtac catalog``: build and query the local partitioned catalogue store."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers) -> None:
    """Register ``catalog ingest`` and ``catalog cone``."""
    parser = subparsers.add_parser("catalog", help="build or query a local catalogue store")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    ingest = actions.add_parser("ingest", help="add catalogue files (VizieR column names) to a store")
    ingest.add_argument("name", metavar="NAME", help="GAIADR3, PS1DR1, SDSS12, LSDR10 or USNOB1")
    ingest.add_argument("files", nargs="+", type=Path, metavar="FILE")
    ingest.add_argument("--into", type=Path, required=True, metavar="DIR", help="store directory")
    ingest.set_defaults(run=run_ingest)
    cone = actions.add_parser("cone", help="print how many stored sources lie in a cone")
    cone.add_argument("name", metavar="NAME")
    cone.add_argument("--store", type=Path, required=True, metavar="DIR")
    cone.add_argument("--ra", type=float, required=True, help="deg")
    cone.add_argument("--dec", type=float, required=True, help="deg")
    cone.add_argument("--radius", type=float, required=True, help="arcsec")
    cone.set_defaults(run=run_cone)


def run_ingest(args: argparse.Namespace) -> int:
    """Ingest files one by one; say how many rows the store holds."""
    from vtac.adapters.catalog_store import CatalogStore  # pylint: disable=import-outside-toplevel

    store = CatalogStore(args.into, args.name)
    added = store.ingest(args.files)
    print(f"{store.name}: {added} rows added, {store.n_rows} in {store.directory}")
    return 0


def run_cone(args: argparse.Namespace) -> int:
    """Query one cone."""
    from vtac.adapters.catalog_store import CatalogStore  # pylint: disable=import-outside-toplevel

    answer = CatalogStore(args.store, args.name).cone(args.ra, args.dec, args.radius)
    print(f"{answer.name} {answer.status.value}: {answer.n_sources} sources. {answer.message}")
    return 0
