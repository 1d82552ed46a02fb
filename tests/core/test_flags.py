"""The FSC flags: IN_MXT, XFLAG, VFLAG/MAGVAR, SEQFLAG and the string flags."""

import numpy as np

from vtac.core.flags import (
    PAIR_NAMES,
    CatalogEvidence,
    Photometry,
    crossmatch_flags,
    in_mxt,
    join_names,
    pair_list,
    sequence_flags,
    sequence_list,
    variability,
)
from vtac.core.records import SEQUENCES, MxtPosition
from vtac.core.science_settings import ScienceConfig

CFG = ScienceConfig()
NAN = np.nan


def photometry(mags, errs=0.05, maglim=22.5, available=None):
    mag = np.atleast_2d(np.array(mags, dtype=float))
    return Photometry(
        mag=mag,
        magerr=np.where(np.isfinite(mag), errs, NAN),
        available=np.ones(8, bool) if available is None else np.array(available, dtype=bool),
        maglim=np.full(8, maglim, dtype=float),
    )


def test_in_mxt_inside_outside_and_no_circle():
    mxt = MxtPosition(ra=150.0, dec=2.0, r90_arcsec=10.0)
    ra = np.array([150.0, 150.0, 150.0])
    dec = np.array([2.0, 2.0 + 10.5 / 3600, 2.0 + 12 / 3600])
    assert in_mxt(ra, dec, mxt, CFG).tolist() == [1, 1, 0]  # 10.5" is within R90 + 1" margin
    assert in_mxt(ra, dec, None, CFG).tolist() == [-1, -1, -1]


def test_xflag_codes_for_each_situation():
    # one source; R0 unavailable, R1 not detected, R2 matched ok, R3 matched differing, B0 new, B1 unknown
    phot = photometry([[NAN, NAN, 18, 18, 18, 18, NAN, NAN]], available=[0, 1, 1, 1, 1, 1, 1, 1])
    evidence = CatalogEvidence(
        matched=np.array([[0, 0, 1, 1, 0, 0, 0, 0]], bool),
        consistent=np.array([[0, 0, 1, 0, 0, 0, 0, 0]], bool),
        can_be_new=np.array([[1, 1, 1, 1, 1, 0, 0, 0]], bool),
    )
    assert crossmatch_flags(phot, evidence).tolist() == [[0, 1, 2, 4, 3, 5, 1, 1]]


def test_steady_star_brightening_and_fading_are_told_apart():
    phot = photometry([[18.0, 18.05, 17.5, 18.4, NAN, NAN, NAN, NAN]], errs=0.02)
    magvar, vflag = variability(phot, CFG)
    np.testing.assert_allclose(magvar[0, :3], [-0.05, 0.55, -0.9])  # MAGVAR = previous - next
    assert vflag[0, :3].tolist() == [2, 3, 4]


def test_small_change_within_errors_is_not_variability():
    phot = photometry([[20.0, 20.4, NAN, NAN, NAN, NAN, NAN, NAN]], errs=0.2)
    assert variability(phot, CFG)[1][0, 0] == 2  # 0.4 mag < 3 sigma of 0.28


def test_disappearance_counts_as_fading_only_when_the_limit_was_deep_enough():
    faded = photometry([[19.0, NAN] + [NAN] * 6], maglim=22.5)
    too_shallow = photometry([[22.3, NAN] + [NAN] * 6], maglim=22.5)
    assert variability(faded, CFG)[1][0, 0] == 4
    assert variability(too_shallow, CFG)[1][0, 0] == 1
    assert np.isnan(variability(faded, CFG)[0][0, 0])


def test_appearance_counts_as_brightening_when_the_previous_limit_was_deep():
    phot = photometry([[NAN, 19.0] + [NAN] * 6], maglim=22.5)
    assert variability(phot, CFG)[1][0, 0] == 3


def test_pairs_with_an_unavailable_sequence_are_not_applicable():
    phot = photometry([[18.0, 18.0, 18.0, 18.0] + [NAN] * 4], available=[1, 1, 1, 1, 0, 0, 0, 0])
    assert variability(phot, CFG)[1][0].tolist() == [2, 2, 2, 0, 0, 0]


def test_seqflag_reproduces_the_fsc_encoding():
    xflag = np.array([[2, 2, 2, 2, 4, 4, 4, 4]])
    vflag = np.array([[2, 2, 2, 2, 2, 2]])
    assert sequence_flags(xflag, vflag).tolist() == [[12400, 22422, 32422, 42422]]


def test_string_flags_list_sequences_and_pairs_in_fsc_order():
    mask = np.array([[1, 0, 0, 0, 1, 1, 0, 0], [0] * 8], bool)
    assert join_names(mask, SEQUENCES).tolist() == ["R0,B0,B1", ""]
    assert join_names(np.array([[1, 0, 0, 0, 0, 1]], bool), PAIR_NAMES).tolist() == ["R1-R0,B3-B2"]
    # The FSC's own strings (vtacML): B before R within an index, pairs later-minus-earlier, R first.
    assert sequence_list(np.array([[1, 1, 0, 0, 1, 0, 0, 0]], bool)).tolist() == ["B0,R0,R1"]
    assert pair_list(np.array([[1, 0, 0, 1, 0, 0]], bool)).tolist() == ["R1-R0,B1-B0"]
