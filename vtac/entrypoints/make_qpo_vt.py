"""``vtac make-qpo-vt``: create QPO_VT, QCANDI_VT and the JSON summary of one burst."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vtac.core.records import N_SEQ_PER_BAND, QpoVtResult
from vtac.entrypoints.exits import ExitCode

if TYPE_CHECKING:
    from vtac.adapters.alerts import Alert


def add_parser(subparsers) -> None:
    """Register ``make-qpo-vt`` with its exact option contract."""
    parser = subparsers.add_parser(
        "make-qpo-vt",
        help="create the QPO_VT product of one burst",
        description="Merge VT source lists, cross-match reference catalogues, rank afterglow candidates and "
        "write QPO_VT_<ID>.fits, QCANDI_VT_<ID>.fits and QPO_VT_<ID>.json.",
    )
    parser.add_argument(
        "--srclist",
        action="append",
        required=True,
        type=Path,
        metavar="FILE",
        help="QSRCLIST_VT file (FITS, ECSV, CSV or VOTable); repeat for each band or list",
    )
    mxt = parser.add_mutually_exclusive_group()
    mxt.add_argument("--mxt", type=Path, metavar="FILE", help="QPO_MXT FITS file")
    mxt.add_argument("--mxt-position", metavar="RA,DEC,R90_ARCSEC", help="X-ray position: deg, deg, arcsec")
    parser.add_argument(
        "--position",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="X-ray error circle from a GCN notice, VOEvent 2.0 XML or GCN Kafka JSON (ECLAIRs, MXT, EP "
        "WXT/FXT, Swift BAT/XRT); repeat in arrival order: the smallest circle wins, an instrument's later "
        "notice replaces its earlier one; a circle above VTAC_MAX_POSITION_RADIUS_DEG is refused",
    )
    parser.add_argument(
        "--catalog",
        action="append",
        metavar="NAME=SOURCE",
        help="reference catalogue: NAME in GAIADR3, PS1DR1, SDSS12, LSDR10, USNOB1; SOURCE vizier, "
        "datalab (LSDR10), a store directory (vtac catalog ingest) or a file with the VizieR column names; "
        "repeat for several (default: VTAC_CATALOGUES__SOURCES, the operational PS1DR1, SDSS12 and LSDR10 "
        "services plus GAIADR3 and USNOB1)",
    )
    parser.add_argument("--burst-id", help="burst identifier (default: BURST_ID of the source lists)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR", help="output directory (default: .)")
    parser.add_argument(
        "--t0",
        metavar="ISO_UTC",
        help="burst trigger time, e.g. 2026-05-09T21:51:09, used when no input gives one (a --position "
        "notice, TT_ECL of the --mxt file or of the source lists win); written as TT_ECL, light curves, "
        "decay index and circular count from it; without any T0 times are since the first VT stack; a T0 "
        "after the first VT stack is refused",
    )
    parser.add_argument(
        "--simulated",
        action="store_true",
        help="the inputs are simulated: the VOEvent role is 'test', the notice's alert_tense 'test', and the "
        "page and circular say SIMULATED",
    )
    parser.add_argument(
        "--no-extras",
        action="store_true",
        help="write only the FITS and JSON products (no chart, light curves, page, VOEvent, notice or "
        "circular draft)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Read the files, build the products, write them (and the extras); print the ranked candidates."""
    # Imported here so that `vtac --help` and the other sub-commands start fast.
    # pylint: disable=import-outside-toplevel
    from vtac.adapters.mxt import parse_mxt_position
    from vtac.adapters.trigger import parse_t0
    from vtac.entrypoints.one_off import OneOffFiles, make_version, write_version, write_version_extras
    from vtac.settings import load_settings

    # the command line over the environment over VTAC_CONFIG_FILE; --catalog through the catalogues' parser
    overrides: dict[str, Any] = {"catalogues": {"sources": args.catalog}} if args.catalog else {}
    settings = load_settings(**overrides)
    files = OneOffFiles(
        srclists=list(args.srclist),
        mxt_file=args.mxt,
        mxt_position=parse_mxt_position(args.mxt_position) if args.mxt_position else None,
        alerts=[
            read_position(path, args.burst_id, settings.max_position_radius_deg, args.simulated)
            for path in args.position
        ],
        burst_id=args.burst_id,
        t0=parse_t0(args.t0) if args.t0 else None,
    )
    version = make_version(files, settings.catalogues, settings.science)
    out = args.out or settings.output_dir
    written = write_version(version, out)
    print(format_report(version.result))
    for path in written:
        print(f"wrote {path}")
    if not args.no_extras:
        from vtac.adapters.extras.context import ExtrasContext  # pylint: disable=import-outside-toplevel

        context = ExtrasContext(version=1, simulated=args.simulated, survey=settings.survey)
        extras = write_version_extras(version, context, out)
        for label, path in extras.all().items():
            if label != "page":
                print(f"wrote {path}")
        print(f"burst page: {extras.page}")
    failed = [answer.name for answer in version.result.catalogs if answer.status.value == "failed"]
    if failed and not version.result.verified:
        print(
            f"vtac make-qpo-vt: error: every catalogue failed ({', '.join(failed)}): the products are "
            "UNVERIFIED; run again when the services answer",
            file=sys.stderr,
        )
        return ExitCode.RETRY  # products written, but unverified: every catalogue service failed
    return ExitCode.OK


def read_position(path: Path, burst_id: str | None, max_radius_deg: float, simulated: bool) -> Alert:
    """The circle (and trigger time) of one ``--position`` notice; an SVOM notice of another burst is
    refused."""
    from vtac.adapters.alerts import read_alert_file  # pylint: disable=import-outside-toplevel
    from vtac.errors import InputError  # pylint: disable=import-outside-toplevel

    alert = read_alert_file(path, max_radius_deg=max_radius_deg, accept_tests=simulated)
    if burst_id and alert.burst_id and alert.burst_id != burst_id:
        raise InputError(f"Burst_Id {alert.burst_id} differs from --burst-id {burst_id}", file=path.name)
    return alert


def format_report(result: QpoVtResult) -> str:
    """A readable summary: catalogue statuses, then the ranked candidates, best first."""
    from vtac.app.version import xray_off_field  # pylint: disable=import-outside-toplevel  # `vtac --help` fast

    lines = [
        f"Burst {result.burst_id}: {len(result.combined)} VT sources in {','.join(result.sequences_used)}"
        + (f", {result.n_rejected} input rows rejected" if result.n_rejected else ""),
        "Catalogues: " + ", ".join(f"{c.name} {c.status.value} ({c.n_sources})" for c in result.catalogs),
    ]
    if not result.verified:
        lines.append("WARNING: no catalogue answered - candidates are UNVERIFIED, none can be called new")
    if result.mxt is None:
        lines.append("No X-ray position: the probabilities account for the whole VT field")
    else:
        mxt = result.mxt
        origin = f" from {mxt.origin}" if mxt.origin else ""
        lines.append(
            f"X-ray position: {mxt.mission} {mxt.instrument} ({mxt.ra:.5f}, {mxt.dec:+.5f}), "
            f'r90 {mxt.r90_arcsec:.1f}"{origin}'
        )
        if (warning := xray_off_field(result.combined["RA"], result.combined["DEC"], mxt)) is not None:
            lines.append(f"WARNING: {warning}")
    best = set(result.best["VT_ID"])
    lines.append(
        f"{len(result.candidates)} candidates, {len(best)} best (P >= threshold); "
        f"P(afterglow is none of the sources) = {result.p_none:.3f}"
    )
    header = (
        f"{'rank':>4} {'VT_ID':>6} {'RA':>11} {'Dec':>11} {'P':>6} {'best':>4} {'mag R':>6} {'mag B':>6} "
        f"{'B-R':>5} {'z':>12}  reasons | flags"
    )
    lines.append(header)
    for row in result.candidates:
        marker = "*" if row["VT_ID"] in best else ""
        lines.append(
            f"{row['RANK']:>4} {row['VT_ID']:>6} {row['RA']:>11.6f} {row['DEC']:>+11.6f} "
            f"{row['PROB']:>6.3f} {marker:>4} {_first(row, 'R'):>6} {_first(row, 'B'):>6} "
            f"{_fmt(row['B_MINUS_R']):>5} {row['Z_HINT']:>12}  {row['REASONS']} | {_flags(row)}"
        )
    return "\n".join(lines)


def _first(row, band: str) -> str:
    """The first magnitude measured in a band, as text."""
    values = [row[f"MAGCAL_{band}{nth}"] for nth in range(N_SEQ_PER_BAND)]
    return _fmt(next((value for value in values if math.isfinite(value)), math.nan))


def _fmt(value: float) -> str:
    return f"{value:.2f}" if math.isfinite(value) else "-"


def _flags(row) -> str:
    parts = [
        f"{label}={row[column]}"
        for label, column in (("new", "NEW_SRC"), ("dmag", "DMAG_CAT"), ("var", "MAG_VAR"))
        if row[column]
    ]
    if row["EFLAG_MAX"] > 0:
        parts.append(f"eflag={row['EFLAG_MAX']}")
    return " ".join(parts)
