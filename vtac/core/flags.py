"""The FSC per-source flags: IN_MXT, XFLAG, NEW_SRC, DMAG_CAT, MAGVAR/VFLAG, MAG_VAR, SEQFLAG.

Everything works on source x sequence matrices whose columns follow :data:`SEQUENCES` (R0..R3, B0..B3).

Codes (the FSC's are not public; these reproduce every value seen in its products and add 5):

XFLAG_<seq>
    0 sequence not available · 1 not detected · 2 catalogue counterpart, consistent magnitude ·
    3 no counterpart where a catalogue could have seen it (new) · 4 counterpart, magnitude differs ·
    5 no counterpart but no catalogue can tell (failed, not covered, or too shallow): unknown, never new.
VFLAG_<Xn> (between X(n-1) and Xn)
    0 a sequence of the pair not available · 1 cannot tell (not detected, limit not deep enough) ·
    2 no significant variation · 3 brightened · 4 faded (also: detected, then absent where the limit was
    deep enough to see it).
MAGVAR_<Xn> = MAG(X(n-1)) - MAG(Xn): positive when the source brightened.
SEQFLAGn = 10000 (n+1) + 1000 XFLAG_Rn + 100 XFLAG_Bn + 10 VFLAG_Rn + VFLAG_Bn, with VFLAG_X0 = 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, IntFlag

import numpy as np
from numpy.typing import NDArray

from vtac.core.records import N_SEQ_PER_BAND, SEQUENCES, VARIATION_PAIRS, MxtPosition
from vtac.core.science_settings import ScienceConfig
from vtac.core.sky import separation_arcsec


class XFlag(IntEnum):
    """Cross-match states; the first five are the FSC's XFLAG codes."""

    UNAVAILABLE = 0
    UNDETECTED = 1
    MATCHED = 2
    NEW = 3
    DMAG = 4
    #: Detected, no counterpart, and no catalogue could tell: written as 0 and listed in XUNKNOWN.
    UNKNOWN = 5


class VFlag(IntEnum):
    """Variability states; VARIED (3) is the FSC's code for both fading and brightening."""

    UNAVAILABLE = 0
    UNKNOWN = 1
    STEADY = 2
    BRIGHTENED = 3
    #: Written as 3 and listed in FADED.
    FADED = 4


class EFlag(IntFlag):
    """EFLAG bits of a VT detection (SExtractor's extraction flags, as the VT source lists carry them)."""

    NEIGHBOURS = 1  # bright neighbours or bad pixels bias the photometry
    BLENDED = 2  # deblended from another object
    SATURATED = 4  # at least one pixel saturated: bright, certainly real
    TRUNCATED = 8  # too close to the image edge
    OTHER = 16  # aperture data incomplete or corrupted


XFLAG_UNAVAILABLE, XFLAG_UNDETECTED, XFLAG_MATCHED, XFLAG_NEW, XFLAG_DMAG, XFLAG_UNKNOWN = (
    int(f) for f in XFlag
)
VFLAG_UNAVAILABLE, VFLAG_UNKNOWN, VFLAG_STEADY, VFLAG_BRIGHTENED, VFLAG_FADED = (int(f) for f in VFlag)
VFLAG_VARIED = int(VFlag.BRIGHTENED)
_PAIR_COLUMNS = tuple((SEQUENCES.index(prev), SEQUENCES.index(nxt)) for prev, nxt in VARIATION_PAIRS)


@dataclass(frozen=True)
class Photometry:
    """VT photometry of every source in every sequence (NaN where not detected)."""

    mag: NDArray[np.float64]
    magerr: NDArray[np.float64]
    available: NDArray[np.bool_]
    maglim: NDArray[np.float64]

    @property
    def detected(self) -> NDArray[np.bool_]:
        """Source x sequence: detected there."""
        return np.isfinite(self.mag)


def seen_in_both_bands(detected: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Per source: detected in some VT_R and some VT_B sequence (columns R0..R3, B0..B3)."""
    return np.asarray(
        detected[:, :N_SEQ_PER_BAND].any(axis=1) & detected[:, N_SEQ_PER_BAND:].any(axis=1), dtype=bool
    )


@dataclass(frozen=True)
class CatalogEvidence:
    """What the usable catalogues say of each detection, combined (source x sequence booleans)."""

    matched: NDArray[np.bool_]
    consistent: NDArray[np.bool_]
    can_be_new: NDArray[np.bool_]


def in_mxt(
    ra: NDArray[np.float64], dec: NDArray[np.float64], mxt: MxtPosition | None, cfg: ScienceConfig
) -> NDArray[np.int64]:
    """1 inside the X-ray circle (R90 plus the VT position margin), 0 outside, -1 without QPO_MXT."""
    if mxt is None:
        return np.full(len(ra), -1, dtype=np.int64)
    separation = separation_arcsec(ra, dec, mxt.ra, mxt.dec)
    return (separation <= mxt.r90_arcsec + cfg.mxt_margin_arcsec).astype(np.int64)


def crossmatch_flags(photometry: Photometry, evidence: CatalogEvidence) -> NDArray[np.int64]:
    """XFLAG of every source in every sequence."""
    detected = photometry.detected
    xflag = np.select(
        [
            np.broadcast_to(~np.asarray(photometry.available, dtype=bool), detected.shape),
            ~detected,
            evidence.matched & evidence.consistent,
            evidence.matched,
            evidence.can_be_new,
        ],
        [XFLAG_UNAVAILABLE, XFLAG_UNDETECTED, XFLAG_MATCHED, XFLAG_DMAG, XFLAG_NEW],
        default=XFLAG_UNKNOWN,
    )
    return xflag.astype(np.int64)


def variability(photometry: Photometry, cfg: ScienceConfig) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """MAGVAR and VFLAG for the consecutive pairs of each band (source x pair)."""
    n_sources = len(photometry.mag)
    magvar = np.full((n_sources, len(_PAIR_COLUMNS)), np.nan)
    vflag = np.zeros((n_sources, len(_PAIR_COLUMNS)), dtype=np.int64)
    for k, (prev, nxt) in enumerate(_PAIR_COLUMNS):
        magvar[:, k], vflag[:, k] = _pair_variability(photometry, prev, nxt, cfg)
    return magvar, vflag


def _pair_variability(
    photometry: Photometry, prev: int, nxt: int, cfg: ScienceConfig
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    mag_prev, mag_next = photometry.mag[:, prev], photometry.mag[:, nxt]
    err_prev, err_next = photometry.magerr[:, prev], photometry.magerr[:, nxt]
    seen_prev, seen_next = np.isfinite(mag_prev), np.isfinite(mag_next)
    delta = mag_prev - mag_next
    sigma = np.sqrt(err_prev**2 + err_next**2 + 2 * cfg.photometric_floor**2)
    significant = np.abs(delta) > np.maximum(cfg.variability_threshold, cfg.variability_sigma * sigma)
    # A non-detection is evidence only when the limit was deep enough to see the source as it was.
    vanished = seen_prev & ~seen_next & (photometry.maglim[nxt] - mag_prev > _limit_margin(err_prev, cfg))
    appeared = ~seen_prev & seen_next & (photometry.maglim[prev] - mag_next > _limit_margin(err_next, cfg))
    both = seen_prev & seen_next
    vflag = np.select(
        [
            np.full(len(delta), not (photometry.available[prev] and photometry.available[nxt])),
            both & significant & (delta > 0),
            both & significant,
            both,
            vanished,
            appeared,
        ],
        [VFLAG_UNAVAILABLE, VFLAG_BRIGHTENED, VFLAG_FADED, VFLAG_STEADY, VFLAG_FADED, VFLAG_BRIGHTENED],
        default=VFLAG_UNKNOWN,
    )
    return np.where(both, delta, np.nan), vflag.astype(np.int64)


def _limit_margin(err: NDArray[np.float64], cfg: ScienceConfig) -> NDArray[np.float64]:
    return np.maximum(cfg.limit_margin, cfg.variability_sigma * np.nan_to_num(err, nan=0.0))


def fsc_xflag(xstate: NDArray[np.int64]) -> NDArray[np.int64]:
    """The FSC's XFLAG codes (0-4) of cross-match states."""
    return np.where(xstate == XFLAG_UNKNOWN, XFLAG_UNAVAILABLE, xstate).astype(np.int64)


def fsc_vflag(vstate: NDArray[np.int64]) -> NDArray[np.int64]:
    """The FSC's VFLAG codes (0-3) of variability states."""
    return np.where(vstate == VFLAG_FADED, VFLAG_VARIED, vstate).astype(np.int64)


def sequence_flags(xflag: NDArray[np.int64], vflag: NDArray[np.int64]) -> NDArray[np.int64]:
    """SEQFLAG0..3 (source x sequence index) from FSC codes."""
    n_sources = len(xflag)
    vflag_full = np.zeros((n_sources, len(SEQUENCES)), dtype=np.int64)
    for k, (_, nxt) in enumerate(_PAIR_COLUMNS):
        vflag_full[:, nxt] = vflag[:, k]
    nth = np.arange(N_SEQ_PER_BAND)
    r, b = nth, nth + N_SEQ_PER_BAND
    return (
        10000 * (nth + 1) + 1000 * xflag[:, r] + 100 * xflag[:, b] + 10 * vflag_full[:, r] + vflag_full[:, b]
    )


def join_names(
    mask: NDArray[np.bool_], names: tuple[str, ...], order: tuple[int, ...] | None = None
) -> NDArray[np.str_]:
    """Comma-separated names where the mask is set, in ``order`` of the columns (default: as given).

    Each distinct pattern of the mask is joined once (a field has a few dozen), not each row.
    """
    order = tuple(range(len(names))) if order is None else order
    ordered = np.asarray(mask, dtype=bool).reshape(len(mask), len(names))[:, list(order)]
    pattern = ordered @ (1 << np.arange(len(names)))
    _, first, inverse = np.unique(pattern, return_index=True, return_inverse=True)
    texts = [",".join(names[k] for k, on in zip(order, ordered[row], strict=True) if on) for row in first]
    joined: NDArray[np.str_] = (
        np.array(texts, dtype="U40")[inverse] if len(first) else np.zeros(0, dtype="U40")
    )
    return joined


def sequence_list(mask: NDArray[np.bool_]) -> NDArray[np.str_]:
    """NEW_SRC-style list over the source x sequence mask, as the FSC writes it: B before R in each index."""
    return join_names(mask, SEQUENCES, FSC_SEQUENCE_ORDER)


def pair_list(mask: NDArray[np.bool_]) -> NDArray[np.str_]:
    """MAG_VAR-style list over the source x pair mask, as the FSC writes it: 'R1-R0', R pairs first."""
    return join_names(mask, PAIR_NAMES)


#: Pairs named later-minus-earlier, as in the FSC's MAG_VAR ('R1-R0').
PAIR_NAMES = tuple(f"{nxt}-{prev}" for prev, nxt in VARIATION_PAIRS)
#: Columns of SEQUENCES in the FSC's string order: B0, R0, B1, R1, ...
FSC_SEQUENCE_ORDER = tuple(
    SEQUENCES.index(f"{band}{nth}") for nth in range(N_SEQ_PER_BAND) for band in ("B", "R")
)
