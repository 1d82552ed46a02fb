"""Column layout of the QPO_VT extensions, following the FSC data model.

``COMBINED`` keeps the 80 columns of the FSC product, in order, with their FITS formats, units, null
values and comments. ``CAT_<catalog>``, ``CANDIDATES`` and ``BEST_CANDIDATES`` extend it as documented in
the README. The core fills tables with these names; the FITS writer takes formats and comments from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from vtac.core.records import NULL_INT, SEQUENCES, VARIATION_PAIRS


@dataclass(frozen=True)
class ColumnSpec:
    """One FITS binary-table column: name, TFORM, unit, comment and TNULL for integers."""

    name: str
    tform: str
    comment: str
    unit: str | None = None
    tnull: int | None = None


def _per_seq(
    prefix: str, tform: str, comment: str, unit: str | None = None, tnull: int | None = None
) -> list[ColumnSpec]:
    return [ColumnSpec(f"{prefix}_{seq}", tform, comment.format(seq=seq), unit, tnull) for seq in SEQUENCES]


def _per_pair(prefix: str, tform: str, comment: str) -> list[ColumnSpec]:
    return [
        ColumnSpec(f"{prefix}_{nxt}", tform, comment.format(prev=prev, next=nxt))
        for prev, nxt in VARIATION_PAIRS
    ]


COMBINED_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("VT_ID", "K", "Unique VT identifier"),
    ColumnSpec("RA", "D", "Right Ascension from VT", "deg"),
    ColumnSpec("DEC", "D", "Declination from VT", "deg"),
    ColumnSpec("RADEC_OG", "2A", "Seq. where RA and DEC originate"),
    ColumnSpec("IN_MXT", "K", "1: True, 0: False, -1: no QPO_MXT"),
    *_per_seq("OBJID", "K", "Object identifier in {seq} seq.", tnull=NULL_INT),
    *_per_seq("RA", "D", "Right Ascension in {seq} seq.", "deg"),
    *_per_seq("DEC", "D", "Declination in {seq} seq.", "deg"),
    *_per_seq("MAGCAL", "D", "Calib. mag. in SVOM phot. system in {seq} seq."),
    *_per_seq("MAGERR", "D", "Calib. mag. err. in {seq} seq."),
    *_per_pair("MAGVAR", "D", "Mag. variation between {next} and {prev} seq."),
    *_per_seq("EFLAG", "K", "Enhanced VVPP flag in {seq} seq. >0 may be noise", tnull=NULL_INT),
    *_per_seq("XFLAG", "K", "Crossmatch flag in {seq} seq."),
    *_per_pair("VFLAG", "K", "Variability flag between {next} and {prev} seq."),
    *(
        ColumnSpec(f"SEQFLAG{nth}", "K", f"Flag for {ordinal} seq. see doc. for more info")
        for nth, ordinal in enumerate(("1st", "2nd", "3rd", "4th"))
    ),
    ColumnSpec("NEW_SRC", "30A", "Seq. where source is new (not in catalogs)"),
    ColumnSpec("DMAG_CAT", "30A", "Seq. where source mag varied wrt catalogs"),
    ColumnSpec("MAG_VAR", "35A", "Seq. pairs between which the source varied"),
    # Beyond the FSC's 80: the states its codes cannot carry (consumers reading by name are unaffected).
    ColumnSpec("XUNKNOWN", "30A", "Seq. detected, no catalog could tell (XFLAG 0)"),
    ColumnSpec("BRIGHTER_CAT", "30A", "Seq. where brighter than catalog counterpart"),
    ColumnSpec("FADED", "35A", "Seq. pairs between which the source faded"),
    ColumnSpec("BRIGHTENED", "35A", "Seq. pairs where the source brightened"),
    ColumnSpec("MOVING", "L", "Linked across seq. as one moving object"),
)
#: The FSC's own COMBINED columns come first, in its order.
N_FSC_COMBINED_COLUMNS = 80

CATALOG_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("VT_ID", "K", "Unique VT identifier"),
    *_per_seq("RA", "D", "Catalog RA at VT epoch of the {seq} counterpart", "deg"),
    *_per_seq("DEC", "D", "Catalog Dec at VT epoch of the {seq} counterpart", "deg"),
    *_per_seq("MAG_R", "D", "Catalog mag. converted to VT_R, {seq} counterpart"),
    *_per_seq("MAG_R_ERR", "D", "Error of MAG_R_{seq} incl. transform scatter"),
    *_per_seq("MAG_B", "D", "Catalog mag. converted to VT_B, {seq} counterpart"),
    *_per_seq("MAG_B_ERR", "D", "Error of MAG_B_{seq} incl. transform scatter"),
    *_per_seq("ANGDIST", "D", "VT-catalog separation in {seq} seq.", "arcsec"),
    *_per_seq("DMAG", "D", "VT mag. minus catalog mag. in {seq} band"),
    *_per_seq("PCHANCE", "D", "Chance-coincidence probability of the {seq} match"),
)

#: Characters of CANDIDATES.REASONS: room for three reasons and an artefact's verdict, which are kept
#: whole (:func:`vtac.core.ranking.joined_within`), never cut mid-word.
REASONS_WIDTH = 320
REASON_SEPARATOR = "; "

#: Columns CANDIDATES and BEST_CANDIDATES add after the 80 COMBINED columns.
CANDIDATE_EXTRA_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("RANK", "K", "Candidate rank, 1 = most likely afterglow"),
    ColumnSpec("PROB", "D", "P(afterglow); sums to 1 with P_NONE in field"),
    ColumnSpec("N_DET", "K", "Number of sequences with a detection"),
    ColumnSpec("EFLAG_MAX", "K", "Largest EFLAG over detections"),
    ColumnSpec("MXT_DIST", "D", "Distance to MXT centre in units of R90"),
    ColumnSpec("ALPHA", "D", "Decay index alpha, joint fit f ~ (t-T0)^-alpha"),
    ColumnSpec("ALPHA_ERR", "D", "1-sigma error of ALPHA, reduced-chi2 scaled"),
    ColumnSpec("B_MINUS_R", "D", "Mean VT_B - VT_R colour over sequences"),
    ColumnSpec("Z_HINT", "12A", "Redshift hint: z<4, high-z, undetermined"),
    ColumnSpec("VERIFIED", "L", "At least one catalogue answered for this source"),
    ColumnSpec("REASONS", f"{REASONS_WIDTH}A", f"Strongest reasons, separated by '{REASON_SEPARATOR}'"),
)
