"""``vtac catalog``: build and query the local catalogues (HATS, and the store of fetched cones)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vtac.entrypoints.exits import ExitCode


def add_parser(subparsers) -> None:
    """Register ``catalog ingest`` and ``catalog cone``."""
    parser = subparsers.add_parser("catalog", help="build or query a local catalogue store")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    ingest = actions.add_parser(
        "ingest",
        help="add catalogue files (VizieR column names) to the HATS catalogue DIR/NAME (in memory when it "
        "fits, else a map/reduce on Dask)",
    )
    ingest.add_argument("name", metavar="NAME", help="GAIADR3, PS1DR1, SDSS12, LSDR10 or USNOB1")
    ingest.add_argument("files", nargs="+", type=Path, metavar="FILE")
    ingest.add_argument("--into", type=Path, required=True, metavar="DIR", help="store directory")
    ingest.add_argument(
        "--scheduler", default=None, metavar="ADDRESS", help="on the cluster of this Dask scheduler"
    )
    ingest.add_argument(
        "--dask", action="store_true", help="on Dask (local threads) even if it fits in memory"
    )
    ingest.add_argument(
        "--workers", type=int, default=2, help="threads, in memory or of local Dask (default 2)"
    )
    ingest.set_defaults(run=run_ingest)
    fetch = actions.add_parser(
        "fetch", help="add a field from VizieR or Data Lab to the HATS catalogue DIR/NAME, ahead of time"
    )
    fetch.add_argument("name", metavar="NAME")
    fetch.add_argument("--ra", type=float, required=True, help="deg")
    fetch.add_argument("--dec", type=float, required=True, help="deg")
    fetch.add_argument("--radius", type=float, required=True, help="arcsec")
    fetch.add_argument("--into", type=Path, required=True, metavar="DIR", help="store directory")
    fetch.add_argument(
        "--source",
        choices=("vizier", "datalab"),
        default=None,
        help="service (default: datalab for LSDR10, vizier otherwise)",
    )
    fetch.set_defaults(run=run_fetch)
    cone = actions.add_parser("cone", help="print how many stored sources lie in a cone")
    cone.add_argument("name", metavar="NAME")
    cone.add_argument("--store", type=Path, required=True, metavar="DIR")
    cone.add_argument("--ra", type=float, required=True, help="deg")
    cone.add_argument("--dec", type=float, required=True, help="deg")
    cone.add_argument("--radius", type=float, required=True, help="arcsec")
    cone.set_defaults(run=run_cone)


def run_ingest(args: argparse.Namespace) -> int:
    """Ingest the files into the HATS catalogue; say how many rows it holds and how many were duplicates."""
    from vtac.adapters.hats_ingest import ingest_hats  # pylint: disable=import-outside-toplevel

    done = ingest_hats(
        args.name, args.files, args.into, scheduler=args.scheduler, workers=args.workers, dask=args.dask
    )
    print(
        f"{args.name.upper()}: {done.files_added} files added, {done.rows} rows in {done.directory} "
        f"({done.duplicates_dropped} duplicate rows dropped)"
    )
    return ExitCode.OK


def run_fetch(args: argparse.Namespace) -> int:
    """Ask the service for the cone and add it to the HATS catalogue DIR/NAME with the cone as its coverage;
    a failed or truncated answer stores nothing.
    """
    # pylint: disable=import-outside-toplevel
    from vtac.adapters.hats_ingest import add_fetched_cone
    from vtac.adapters.providers import query_catalogs, resolve_provider
    from vtac.core.coverage import Cone
    from vtac.core.records import CatalogStatus
    from vtac.errors import InputError, TransientError
    from vtac.settings import load_settings

    name = args.name.upper()
    settings = load_settings().catalogues.services.remote_settings()
    source = args.source or ("datalab" if name == "LSDR10" else "vizier")
    provider = resolve_provider(name, source, settings)
    cone = Cone(args.ra, args.dec, args.radius / 3600.0)
    answer = query_catalogs([(name, provider)], cone, settings.deadline_s)[0]
    if answer.status is CatalogStatus.FAILED:
        raise TransientError(f"{name} from {source}: {answer.message}")
    if answer.status is CatalogStatus.NOT_COVERED or answer.table is None:
        raise InputError(f"{name} does not cover ({args.ra}, {args.dec}): {answer.message}")
    if answer.truncated:
        raise InputError(
            f"{name} answer truncated at the row limit: fetch a smaller radius ({answer.message})"
        )
    done = add_fetched_cone(name, answer.table, cone, args.into)
    print(
        f"{name}: {answer.n_sources} rows fetched from {source} into {done.directory} "
        f"({done.rows} in all, {done.duplicates_dropped} already there)"
    )
    return ExitCode.OK


def run_cone(args: argparse.Namespace) -> int:
    """Query one cone (of the HATS catalogue DIR/NAME, or of the fetched cones' store)."""
    # pylint: disable=import-outside-toplevel
    from vtac.adapters.providers import RemoteSettings, resolve_provider
    from vtac.core.coverage import Cone

    name = args.name.upper()
    provider = resolve_provider(name, str(args.store), RemoteSettings())
    answer = provider.query(name, Cone(args.ra, args.dec, args.radius / 3600.0), deadline=0.0)
    print(f"{answer.name} {answer.status.value}: {answer.n_sources} sources. {answer.message}")
    return ExitCode.OK
