"""`vtac rank` on the FSC's own products (four vtacML simulations, truth in IS_GRB)."""

import json

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from paths import DATA

from vtac.core.rerank import decode_seqflags, join_split_sources, rank_combined
from vtac.core.science_settings import ScienceConfig
from vtac.entrypoints.cli import main
from vtac.provenance import running_code

FSC_PRODUCTS = sorted(DATA.glob("vtacml_*_QPO_VT.fits"))


def grb_id(path):
    with fits.open(path) as hdul:
        data = hdul["COMBINED"].data
        return int(data["VT_ID"][data["IS_GRB"] == 1][0])


def test_vtac_rank_puts_the_fsc_simulated_grb_first(tmp_path, capsys):
    assert main(["rank", *map(str, FSC_PRODUCTS), "--out", str(tmp_path)]) == 0
    for path in FSC_PRODUCTS:
        document = json.loads((tmp_path / f"{path.stem}.json").read_text())
        first = document["candidates"][0]
        assert grb_id(path) in [first["vt_id"], *first["joined_vt_ids"]], path.name
        assert first["probability"] > 0.5 and first["reasons"]
        total = sum(c["probability"] for c in document["candidates"]) + document["p_none"]
        assert total <= 1.0 + 1e-9
        assert document["xray_note"].startswith("no X-ray position")
        assert (document["version"], document["commit"]) == (running_code().version, running_code().commit)
    assert "first VT_ID" in capsys.readouterr().out


def test_a_grb_split_by_the_fsc_association_is_joined_back():
    path = DATA / "vtacml_bright_case1a_92_QPO_VT.fits"
    ranked = rank_combined(Table(fits.getdata(path, "COMBINED")), None, ScienceConfig())
    assert ranked.joined_ids[0][0] == ranked.vt_id[0] and sorted(ranked.joined_ids[0]) == [10, 283]


def test_probabilities_and_none_sum_to_one_over_all_sources():
    ranked = rank_combined(Table(fits.getdata(FSC_PRODUCTS[0], "COMBINED")), None, ScienceConfig())
    assert ranked.probability.sum() + ranked.p_none == pytest.approx(1.0)
    assert np.all(np.diff(ranked.probability) <= 0)


def test_seqflag_decoding_follows_the_fsc_layout():
    table = Table({"SEQFLAG0": [13321], "SEQFLAG1": [0], "SEQFLAG2": [34433], "SEQFLAG3": [41111]})
    xflag, vflag = decode_seqflags(table)
    assert xflag[0].tolist() == [3, 0, 4, 1, 3, 0, 4, 1]
    assert vflag[0].tolist() == [2, 0, 3, 1, 1, 0, 3, 1]


def test_only_sources_seen_in_disjoint_sequences_are_joined():
    ra = np.array([10.0, 10.0 + 1.5 / 3600, 10.0 + 1.2 / 3600, 10.1])
    dec = np.zeros(4)
    detected = np.array([[1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 0, 0], [0, 0, 1, 1]], bool)
    group = join_split_sources(ra, dec, detected, 2.0)
    assert group[1] == group[0] and group[2] == 2 and group[3] == 3


def test_a_file_without_combined_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "x.fits"
    fits.PrimaryHDU().writeto(bad)
    assert main(["rank", str(bad), "--out", str(tmp_path)]) == 2
    assert "no COMBINED extension" in capsys.readouterr().out
