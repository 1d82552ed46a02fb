"""``vtac simulate``: QSRCLIST_VT lists and a QPO_MXT circle of a simulated burst on a real sky.

The afterglow is a real one (a GCN case: its VT_R at its mid-time, its B - R colour) placed near the field
centre, or none ('dark'); the sky is the packaged SDSS field or a catalogue file. The truth is printed and
written as JSON next to the products, so that what VTAC finds can be checked.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from vtac.entrypoints.exits import ExitCode
from vtac.errors import InputError, VtacError

if TYPE_CHECKING:
    from astropy.table import Table

    from vtac.simulation.burst import BurstSpec, SimulatedBurst

DEFAULT_CASE = "GRB 260509A"
DARK = "dark"
DEFAULT_T0 = "2026-05-09T21:51:09"
#: Typical MXT error radius (qf2 circles are 60-120"), used when the case has no published X-ray circle.
DEFAULT_R90_ARCSEC = 60.0
#: The afterglow lands within this distance of the field centre (the VT slews onto the X-ray position).
AFTERGLOW_SCATTER_ARCMIN = 2.0


def add_parser(subparsers) -> None:
    """Register ``vtac simulate`` on the main parser's sub-commands."""
    parser = subparsers.add_parser(
        "simulate",
        help="simulate the VT source lists and MXT position of a burst",
        description="Simulate QSRCLIST_VT_R/B and QPO_MXT files of one burst: a real afterglow from the GCN "
        "case table injected into a real sky, with VT noise, completeness, flags and artefacts.",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("."), metavar="DIR", help="output directory (default: .)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default: 1); same seed, same files")
    parser.add_argument("--burst-id", help="burst identifier (default: the case's, else sbYYMMDD01 from T0)")
    parser.add_argument(
        "--case",
        default=DEFAULT_CASE,
        metavar="NAME",
        help=f"GCN case to inject, e.g. 'GRB 250419A', or '{DARK}' for no afterglow "
        f"(default: {DEFAULT_CASE})",
    )
    parser.add_argument(
        "--catalog",
        metavar="NAME=FILE",
        help="sky from a catalogue file with VizieR column names, e.g. SDSS12=cone.vot "
        "(default: the packaged SDSS field)",
    )
    parser.add_argument(
        "--centre", metavar="RA,DEC", help="field centre in degrees (default: the sky's centre)"
    )
    parser.add_argument(
        "--r90",
        metavar="ARCSEC",
        help=f"MXT 90%% error radius, or 'none' for no QPO_MXT (default: the case's X-ray "
        f"circle, else {DEFAULT_R90_ARCSEC:g})",
    )
    parser.add_argument(
        "--alpha", type=float, default=1.0, help="afterglow decay index, flux ~ t^-alpha (1.0)"
    )
    parser.add_argument(
        "--half-width",
        type=float,
        default=13.0,
        metavar="ARCMIN",
        help="half-width of the square field (default 13: the 26' VT field; 2.92 is the 461-px VHF window)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Simulate, write, report; bad input gives one line on stderr and exit status 2."""
    try:
        burst = simulate_from_args(args)
        paths = burst.write(args.out)
    except VtacError as error:
        print(f"vtac simulate: error: {error}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    for path in paths.values():
        print(f"wrote {path}")
    print(format_truth(burst))
    return ExitCode.OK


def simulate_from_args(args: argparse.Namespace) -> SimulatedBurst:
    """The burst the options describe (no file written)."""
    # Imported here so that `vtac --help` and the other sub-commands start fast.
    import numpy as np  # pylint: disable=import-outside-toplevel

    from vtac.simulation.burst import simulate_burst  # pylint: disable=import-outside-toplevel

    rng = np.random.default_rng(args.seed)
    sky = _sky(args.catalog)
    spec = build_spec(args, sky, rng)
    return simulate_burst(sky, spec, rng)


def build_spec(args: argparse.Namespace, sky: Table, rng) -> BurstSpec:
    """BurstSpec from the options: case, centre, MXT radius, decay index, burst id."""
    from vtac.simulation.burst import BurstSpec, offset_position  # pylint: disable=import-outside-toplevel
    from vtac.simulation.sky import find_case, sky_centre  # pylint: disable=import-outside-toplevel

    ra, dec = parse_centre(args.centre) if args.centre else sky_centre(sky)
    if not math.isfinite(args.alpha):
        raise InputError(f"--alpha {args.alpha} is not a number")
    case = None if args.case.strip().lower() == DARK else find_case(args.case)
    afterglow = None
    if case is not None:
        offset = AFTERGLOW_SCATTER_ARCMIN * 60.0 * math.sqrt(rng.uniform())
        angle = rng.uniform(0.0, 2.0 * math.pi)
        glow_ra, glow_dec = offset_position(ra, dec, offset, math.degrees(angle))
        afterglow = case.afterglow(glow_ra, glow_dec, args.alpha)
    t0 = case.t0 if case is not None and case.t0 else DEFAULT_T0
    burst_id = args.burst_id or (case.burst_id if case is not None and case.burst_id else None)
    return BurstSpec(
        ra,
        dec,
        burst_id=burst_id or f"sb{t0[2:4]}{t0[5:7]}{t0[8:10]}01",
        t0=t0,
        half_width_arcmin=args.half_width,
        afterglow=afterglow,
        mxt_r90_arcsec=parse_r90(args.r90, case.xray_r90_arcsec if case is not None else None),
    )


def parse_centre(text: str) -> tuple[float, float]:
    """'RA,DEC' in degrees, range-checked."""
    parts = [part.strip() for part in text.split(",")]
    try:
        ra, dec = (float(part) for part in parts)
    except ValueError as exc:
        raise InputError(f"--centre '{text}': expected RA,DEC in degrees") from exc
    if not (math.isfinite(ra) and 0.0 <= ra < 360.0 and math.isfinite(dec) and -90.0 <= dec <= 90.0):
        raise InputError(f"--centre '{text}': RA must be in [0, 360) and DEC in [-90, 90] degrees")
    return ra, dec


def parse_r90(text: str | None, case_r90: float | None) -> float | None:
    """MXT radius in arcsec from --r90 ('none': no QPO_MXT), else the case's, else the typical value."""
    if text is None:
        return case_r90 if case_r90 is not None else DEFAULT_R90_ARCSEC
    if text.strip().lower() == "none":
        return None
    try:
        r90 = float(text)
    except ValueError as exc:
        raise InputError(f"--r90 '{text}': expected a radius in arcsec or 'none'") from exc
    if not (math.isfinite(r90) and r90 > 0):
        raise InputError(f"--r90 '{text}': the radius must be > 0 arcsec")
    return r90


def _sky(catalog: str | None) -> Table:
    from vtac.simulation.sky import load_demo_sky, sky_from_catalog  # pylint: disable=import-outside-toplevel

    if catalog is None:
        return load_demo_sky()
    from vtac.adapters.catalog_file import read_catalog_file  # pylint: disable=import-outside-toplevel

    name, separator, path = catalog.partition("=")
    if not separator or not name.strip() or not path.strip():
        raise InputError(f"--catalog '{catalog}': expected NAME=FILE, e.g. SDSS12=cone.vot")
    return sky_from_catalog(read_catalog_file(name.strip(), path.strip()))


def format_truth(burst: SimulatedBurst) -> str:
    """What was injected: the field, the MXT circle, the afterglow and its magnitudes per sequence."""
    lines = [
        f"Burst {burst.burst_id}: "
        + ", ".join(f"{seq} {len(table)}" for seq, table in burst.tables.items())
        + " detections"
    ]
    mxt = burst.mxt
    lines.append(
        "No QPO_MXT"
        if mxt is None
        else f"MXT circle: RA {mxt.ra:.6f} DEC {mxt.dec:+.6f} R90 {mxt.r90_arcsec:.1f} arcsec"
    )
    glow = burst.truth.afterglow
    if glow is None:
        lines.append("Dark burst: no afterglow injected")
        return "\n".join(lines)
    lines.append(
        f"Afterglow: RA {glow.ra:.6f} DEC {glow.dec:+.6f}  alpha {glow.alpha:g}  B-R {glow.b_minus_r:.2f}"
    )
    lines.append(f"{'seq':>4} {'t_mid (min)':>11} {'true mag':>8} {'OBJID':>6}")
    detected = burst.truth.objids.get("afterglow", {})
    for seq, mag in burst.truth.mags.items():
        objid = detected.get(seq)
        lines.append(
            f"{seq:>4} {burst.truth.mid_times_s[seq] / 60.0:>11.2f} {mag:>8.2f} "
            f"{'-' if objid is None else objid:>6}"
        )
    return "\n".join(lines)
