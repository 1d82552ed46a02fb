"""``make demo``: a burst simulated on the real SDSS field, then ranked by ``vtac make-qpo-vt``.

Offline: the sky (SDSS DR12 photometry of 1 deg^2) and the afterglow (magnitudes and colour of a real SVOM/VT
detection from GCN circulars) ship with the package. Exits 0 when the injected afterglow is ranked first.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from vtac.entrypoints.cli import main as vtac
from vtac.entrypoints.simulate import DARK, DEFAULT_T0
from vtac.simulation.sky import DEMO_CATALOG_FILE, DEMO_CATALOG_NAME, data_path, find_case

DEFAULT_CASE = "GRB 260509A"  # GCN 44507: the VHF candidate report built on VTAC's output
MATCH_ARCSEC = 1.5


def main(argv: Sequence[str] | None = None) -> int:
    """Simulate, rank, and check the afterglow came first."""
    parser = argparse.ArgumentParser(prog="vtac-demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("demo-output"), help="where inputs and products go")
    parser.add_argument("--case", default=DEFAULT_CASE, help="GCN afterglow to inject (see vtac simulate)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    inputs, products = args.out / "inputs", args.out / "products"

    print(f"== Simulating {args.case} on the real SDSS field (seed {args.seed}) -> {inputs}")
    if vtac(["simulate", "--out", str(inputs), "--case", args.case, "--seed", str(args.seed)]) != 0:
        return 1
    truth_file = next(inputs.glob("TRUTH_*.json"))
    burst_id = truth_file.stem.removeprefix("TRUTH_")
    catalog = f"{DEMO_CATALOG_NAME}={data_path(DEMO_CATALOG_FILE)}"
    print(f"\n== vtac make-qpo-vt --catalog {DEMO_CATALOG_NAME}=<packaged SDSS field> -> {products}")
    t0 = _trigger_time(args.case)
    command = ["make-qpo-vt", "--catalog", catalog, "--out", str(products), "--simulated", "--t0", t0]
    command += [
        word for path in sorted(inputs.glob("QSRCLIST_VT_*.fits")) for word in ("--srclist", str(path))
    ]
    command += [word for path in inputs.glob("QPO_MXT_*.fits") for word in ("--mxt", str(path))]
    if vtac(command) != 0:
        return 1
    verdict = _verdict(json.loads(truth_file.read_text()), products / f"QPO_VT_{burst_id}.json", args.case)
    print(f"\nBurst page (open it in a browser): {(products / f'QPO_VT_{burst_id}.html').resolve()}")
    return verdict


def _trigger_time(case: str) -> str:
    """The T0 ``vtac simulate`` used: the case's own, else its default (also for a dark field)."""
    if case.strip().lower() == DARK:
        return DEFAULT_T0
    return find_case(case).t0 or DEFAULT_T0


def _verdict(truth: dict, summary_file: Path, case: str) -> int:
    """Say whether the first candidate is the injected afterglow."""
    summary = json.loads(summary_file.read_text())
    injected = truth["afterglow"]
    candidates = summary["candidates"]
    if candidates:
        first = candidates[0]
        offset = _separation_arcsec(first["ra"], first["dec"], injected["ra"], injected["dec"])
        if offset <= MATCH_ARCSEC:
            print(
                f"\nThe injected afterglow of {case} is ranked first: VT_ID {first['vt_id']}, P = "
                f"{first['probability']:.3f}, {offset:.2f} arcsec from its true position."
            )
            print(
                f"Products: {summary_file.parent}/ (QPO_VT, QCANDI_VT FITS, the JSON summary, the finding "
                "chart and light curves, the VOEvent and GCN notice, the circular draft)"
            )
            return 0
    print(f"\nThe injected afterglow of {case} is NOT ranked first; see {summary_file}")
    return 1


def _separation_arcsec(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Small-angle separation, enough to recognise a position within arcseconds."""
    d_ra = (ra1 - ra2) * math.cos(math.radians(0.5 * (dec1 + dec2)))
    return math.hypot(d_ra, dec1 - dec2) * 3600.0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
