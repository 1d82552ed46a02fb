"""``vtac rank``: our afterglow probabilities for existing QPO_VT products (the FSC's or ours)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vtac.entrypoints.exits import ExitCode


def add_parser(subparsers) -> None:
    """Register ``rank``."""
    parser = subparsers.add_parser(
        "rank",
        help="re-rank existing QPO_VT products from their COMBINED extension",
        description="Compute VTAC's afterglow probability and reasons for every source of existing QPO_VT "
        "files (FSC or VTAC) and write DIR/<file stem>.json, candidates best first.",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="QPO_VT FITS files")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output directory")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Rank every file; a bad file is reported and the others still ranked (exit 2 if any was bad)."""
    # pylint: disable=import-outside-toplevel  # `vtac --help` stays fast
    from vtac.adapters.rerank_io import ranking_document, read_combined, write_ranking
    from vtac.core.rerank import rank_combined
    from vtac.errors import InputError
    from vtac.provenance import running_code
    from vtac.settings import load_settings

    cfg = load_settings().science  # the environment and VTAC_CONFIG_FILE, as every command reads them
    args.out.mkdir(parents=True, exist_ok=True)
    failures = 0
    for path in args.files:
        try:
            table, mxt, burst_id = read_combined(path)
        except InputError as error:
            print(f"vtac rank: error: {error}")
            failures += 1
            continue
        ranked = rank_combined(table, mxt, cfg)
        document = ranking_document(
            ranked,
            source=path.name,
            burst_id=burst_id,
            mxt=mxt,
            floor=cfg.candidate_min_probability,
            code=running_code(),
        )
        out = write_ranking(document, args.out / f"{path.stem}.json")
        best = document["candidates"][0] if document["candidates"] else None
        summary = (
            f"VT_ID {best['vt_id']} P = {best['probability']:.3f} ({'; '.join(best['reasons'])})"
            if best
            else "none"
        )
        print(f"{path.name}: first {summary}; P(none) = {document['p_none']:.3f} -> {out}")
    return ExitCode.BAD_INPUT if failures else ExitCode.OK
