"""QPO_VT and QCANDI_VT writers: FSC layout, fitsverify-clean, nulls and checksums survive a round trip."""

from __future__ import annotations

import os
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from fitsverify import fitsverify
from paths import DATA
from results import START_TIMES, make_result

from vtac.adapters.files import write_atomically
from vtac.adapters.products import (
    CANDIDATE_COLUMNS,
    observation_span,
    qcandi_vt_fits,
    qpo_vt_fits,
    sequences_in_header_order,
)
from vtac.core.records import (
    NULL_INT,
    SEQUENCES,
    QpoVtResult,
    SequenceInfo,
)
from vtac.core.schema import CATALOG_COLUMNS, COMBINED_COLUMNS
from vtac.provenance import CodeVersion

FSC_COMBINED_HEADER = DATA / "QPO_VT_COMBINED_header_vtacML.txt"
NOW = datetime(2025, 2, 5, 4, 30, 0, tzinfo=UTC)
CODE = CodeVersion("0.1.0", "0123456789abcdef0123456789abcdef01234567")


def _write_qpo(tmp_path: Path, result: QpoVtResult | None = None, **kwargs) -> Path:
    path = tmp_path / "qpo_vt.fits"
    path.write_bytes(qpo_vt_fits(result or make_result(), code=CODE, now=NOW, **kwargs))
    return path


def _write_qcandi(tmp_path: Path, result: QpoVtResult | None = None, **kwargs) -> Path:
    path = tmp_path / "qcandi_vt.fits"
    path.write_bytes(qcandi_vt_fits(result or make_result(), code=CODE, **{"now": NOW, **kwargs}))
    return path


def _fsc_combined_header() -> fits.Header:
    lines = [
        line
        for line in FSC_COMBINED_HEADER.read_text(encoding="ascii").splitlines()
        if not line.startswith("#")
    ]
    return fits.Header.fromstring("\n".join(lines), sep="\n")


# ----------------------------------------------------------------------------------------------- QPO_VT
def test_qpo_vt_passes_fitsverify_without_warnings(tmp_path):
    result = make_result(failure_message="Read timed out after 30 s on 'SDSS12'; " * 8)
    path = _write_qpo(tmp_path, result, trigger_time="2025-02-05T03:00:53.709")
    n_warnings, n_errors, report = fitsverify(path)
    assert (n_warnings, n_errors) == (0, 0), report


def test_qpo_vt_without_mxt_candidates_or_catalogues_passes_fitsverify(tmp_path):
    result = make_result(sequences=("B0",), with_mxt=False, statuses={}, candidate_rows=(), n_best=0)
    n_warnings, n_errors, report = fitsverify(_write_qpo(tmp_path, result))
    assert (n_warnings, n_errors) == (0, 0), report


def test_qpo_vt_extensions_in_fsc_order(tmp_path):
    with fits.open(_write_qpo(tmp_path)) as hdul:
        names = [hdu.name for hdu in hdul[1:]]
    assert names == ["COMBINED", "CAT_LSDR10", "CAT_SDSS12", "CAT_PS1DR1", "CANDIDATES", "BEST_CANDIDATES"]


def test_primary_header_has_fsc_keywords(tmp_path):
    with fits.open(_write_qpo(tmp_path, trigger_time="2025-02-05T03:00:53.709")) as hdul:
        header = hdul[0].header
    expected = {
        "ORIGIN": "FSC",
        "TELESCOP": "SVOM",
        "INSTRUME": "VT",
        "CREATOR": "VTAC",
        "CARD": "QPO_VT",
        "PROGRAM": "CoreProgram",
        "PIP_VER": "0.1.0",
        "VTACCOMM": CODE.commit,
        "DSTREAM": "VHF",
        "DP_LEVEL": "Q2",
        "RADESYS": "ICRS",
        "BURST_ID": "sb25020504",
        "CATALOGS": "LSDR10,SDSS12,PS1DR1",
        "SEQ_USED": "B0,R0,B1,R1",
        "N_CAND": 2,
        "NREJECT": 3,
        "VERIFIED": True,
        "DATE": "2025-02-05T04:30:00.000",
        "DATE-BEG": "2025-02-05T03:10:00.000",
        "DATE-END": "2025-02-05T03:20:00.000",
        "TIMESYS": "UTC",
        "TT_ECL": "2025-02-05T03:00:53.709",
    }
    assert {key: header.get(key) for key in expected} == expected
    assert header["MXT_RA"] == pytest.approx(212.6408)
    assert header["MXT_ERR"] == pytest.approx(41.0 / 3600)
    assert all(len(key) <= 8 for key in header)
    uncommented = [card.keyword for card in header.cards if not card.comment]
    assert uncommented == []


def test_unknown_times_and_no_mxt_leave_keywords_out(tmp_path):
    result = make_result(with_mxt=False)
    result.sequences = {name: SequenceInfo(name=name) for name in result.sequences}
    with fits.open(_write_qpo(tmp_path, result)) as hdul:
        primary, combined = hdul[0].header, hdul["COMBINED"].header
    absent = ("DATE-BEG", "DATE-END", "TIMESYS", "MXT_RA", "MXT_DEC", "MXT_ERR", "TT_ECL")
    assert [key for key in absent if key in primary or key in combined] == []


def test_unknown_last_exposure_gives_a_start_but_no_end(tmp_path):
    result = make_result()
    for name in ("R1", "B1"):  # the last stacks (both bands start together)
        result.sequences[name] = SequenceInfo(name, maglim=23.1, date_obs=START_TIMES[1], exposure_s=None)
    with fits.open(_write_qpo(tmp_path, result)) as hdul:
        header = hdul[0].header
    assert (header["DATE-BEG"], "DATE-END" in header) == ("2025-02-05T03:10:00.000", False)


def test_combined_columns_match_the_fsc_header_dump(tmp_path):
    """Names, order, TFORM and TUNIT equal the real QPO_VT header; every FSC TNULL is there too."""
    fsc = _fsc_combined_header()
    with fits.open(_write_qpo(tmp_path)) as hdul:
        ours = hdul["COMBINED"].header
    assert fsc["TFIELDS"] == 80
    # The FSC's 80 columns first, in its order; our extra states after them.
    assert ours["TFIELDS"] == len(COMBINED_COLUMNS) > 80
    assert [ours[f"TTYPE{i}"] for i in range(81, ours["TFIELDS"] + 1)] == [
        "XUNKNOWN",
        "BRIGHTER_CAT",
        "FADED",
        "BRIGHTENED",
        "MOVING",
    ]

    def layout(header):
        return [(header[f"TTYPE{i}"], header[f"TFORM{i}"], header.get(f"TUNIT{i}")) for i in range(1, 81)]

    assert layout(ours) == layout(fsc)
    fsc_nulls = {key: fsc[key] for key in fsc if key.startswith("TNULL")}
    assert {key: ours.get(key) for key in fsc_nulls} == fsc_nulls
    assert fsc["NAXIS1"] == 705
    assert ours["NAXIS1"] == 705 + 30 + 30 + 35 + 35 + 1
    assert ours["R_XMATCH"] == fsc["R_XMATCH"] == 1.0
    assert ours.comments["MXT_RA"] == fsc.comments["MXT_RA"]
    assert ours["MXT_DEC"] == pytest.approx(29.6971)


def test_combined_column_comments_come_from_the_schema(tmp_path):
    with fits.open(_write_qpo(tmp_path)) as hdul:
        header = hdul["COMBINED"].header
    n = len(COMBINED_COLUMNS)
    assert [header.comments[f"TTYPE{i}"] for i in range(1, n + 1)] == [c.comment for c in COMBINED_COLUMNS]


def test_nulls_round_trip(tmp_path):
    result = make_result()
    with fits.open(_write_qpo(tmp_path, result)) as hdul:
        raw = hdul["COMBINED"].data
        assert raw["OBJID_R2"][0] == NULL_INT
        assert raw["OBJID_R1"][1] == NULL_INT
        assert np.isnan(raw["MAGCAL_R1"][1])
        assert raw["NEW_SRC"][1] == ""
    table = Table.read(tmp_path / "qpo_vt.fits", hdu="COMBINED")
    assert table["OBJID_R1"].mask.tolist() == [False, True, False, False, False]
    assert table["OBJID_R0"].tolist() == result.combined["OBJID_R0"].tolist()
    assert table["EFLAG_B3"].mask.all()
    assert table["MAG_VAR"][0] == "R0-R1,B0-B1"
    np.testing.assert_array_equal(table["MAGCAL_B0"], result.combined["MAGCAL_B0"])


def test_failed_catalogue_extension_says_failed(tmp_path):
    message = "Read timed out after 30 s on 'SDSS12' (ünïcode)\n" * 30
    with fits.open(_write_qpo(tmp_path, make_result(failure_message=message))) as hdul:
        failed, ok, uncovered = hdul["CAT_SDSS12"], hdul["CAT_LSDR10"], hdul["CAT_PS1DR1"]
        assert (failed.header["CATSTAT"], failed.header["NCATSRC"], len(failed.data)) == ("failed", 0, 0)
        assert failed.header["CATMSG"].startswith("Read timed out after 30 s on 'SDSS12' (?n?code) Read")
        assert failed.header["CATMSG"].endswith("...")
        assert failed.header["TRUNCATD"] is False
        assert uncovered.header["CATSTAT"] == "not_covered"
        assert (ok.header["CATSTAT"], ok.header["NCATSRC"], len(ok.data)) == ("ok", 7, 5)
        assert ok.header["CATMSG"] == ""
        assert failed.columns.names == ok.columns.names == [c.name for c in CATALOG_COLUMNS]
        assert ok.data["MAG_R_R0"][0] == pytest.approx(18.6)


def test_candidate_tables_carry_ranking_columns(tmp_path):
    result = make_result()
    with fits.open(_write_qpo(tmp_path, result)) as hdul:
        candidates, best = hdul["CANDIDATES"], hdul["BEST_CANDIDATES"]
        assert candidates.columns.names == best.columns.names == [c.name for c in CANDIDATE_COLUMNS]
        assert candidates.data["RANK"].tolist() == [1, 2, 3]
        assert best.data["VT_ID"].tolist() == [1, 2]
        assert best.data["VERIFIED"].tolist() == [True, True]
        assert candidates.data["Z_HINT"].tolist() == ["z<4", "z<4", "undetermined"]
        # Comments too long for the card are cut at a word, not mid-word.
        first_extra = len(COMBINED_COLUMNS) + 1
        assert best.header.comments[f"TTYPE{first_extra}"] == "Candidate rank, 1 = most likely afterglow"
        assert best.header.comments[f"TTYPE{first_extra + 1}"] == CANDIDATE_COLUMNS[first_extra].comment


def test_every_hdu_has_a_valid_checksum(tmp_path):
    path = _write_qpo(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # astropy warns on a checksum mismatch
        with fits.open(path, checksum=True) as hdul:
            assert all("CHECKSUM" in hdu.header and "DATASUM" in hdu.header for hdu in hdul)


def test_a_corrupted_byte_breaks_the_checksum(tmp_path):
    path = _write_qpo(tmp_path)
    with fits.open(path) as hdul:
        offset = hdul.fileinfo(1)["datLoc"]
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    with (
        pytest.warns(Warning, match="(Datasum|Checksum) verification failed"),
        fits.open(path, checksum=True),
    ):
        pass


def test_a_failing_write_keeps_the_old_product(tmp_path):
    target = tmp_path / "product.fits"
    target.write_bytes(b"old product")

    def crash(stream):
        stream.write(b"half a product")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomically(target, crash)
    assert target.read_bytes() == b"old product"
    assert [p.name for p in tmp_path.iterdir()] == ["product.fits"]


def test_product_is_readable_by_others(tmp_path):
    mask = os.umask(0o022)
    try:
        path = _write_qpo(tmp_path)
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_missing_column_names_hdu_and_column(tmp_path):
    result = make_result()
    result.combined.remove_column("XFLAG_B2")
    with pytest.raises(ValueError, match="HDU COMBINED, column XFLAG_B2: missing"):
        _write_qpo(tmp_path, result)
    assert list(tmp_path.iterdir()) == []


def test_ok_catalogue_without_its_table_is_refused(tmp_path):
    result = make_result()
    result.catalog_tables.clear()
    with pytest.raises(ValueError, match="HDU CAT_LSDR10: catalogue status is ok"):
        _write_qpo(tmp_path, result)


def test_too_long_or_non_ascii_strings_are_refused(tmp_path):
    result = make_result()
    result.combined["NEW_SRC"] = result.combined["NEW_SRC"].astype("U40")
    result.combined["NEW_SRC"][0] = "R0," * 12
    with pytest.raises(ValueError, match="column NEW_SRC: value longer than 30"):
        _write_qpo(tmp_path, result)
    result = make_result()
    result.combined["RADEC_OG"][0] = "R\u00e9"
    with pytest.raises(ValueError, match="column RADEC_OG: non-ASCII"):
        _write_qpo(tmp_path, result)


def test_masked_and_float_columns_are_written_with_nulls(tmp_path):
    """A core that hands masked columns or float ids still gives TNULL / NaN in the file."""
    result = make_result()
    combined = Table(result.combined, masked=True)
    combined["MAGCAL_R0"].mask[2] = True
    combined["OBJID_B0"] = combined["OBJID_B0"].astype(float)
    combined["OBJID_B0"][3] = np.nan
    combined["XFLAG_R1"] = combined["XFLAG_R1"].astype(float)
    result.combined = combined
    with fits.open(_write_qpo(tmp_path, result)) as hdul:
        data = hdul["COMBINED"].data
        assert np.isnan(data["MAGCAL_R0"][2])
        assert data["OBJID_B0"].tolist() == [101, 102, 103, NULL_INT, 105]
        assert data["XFLAG_R1"].tolist() == [2] * 5
        assert hdul["COMBINED"].columns["XFLAG_R1"].format == "K"


def test_non_finite_value_in_a_column_without_null_is_refused(tmp_path):
    result = make_result()
    result.combined["XFLAG_R0"] = result.combined["XFLAG_R0"].astype(float)
    result.combined["XFLAG_R0"][0] = np.nan
    with pytest.raises(ValueError, match="column XFLAG_R0: non-finite"):
        _write_qpo(tmp_path, result)


def test_duplicate_catalogue_is_refused(tmp_path):
    result = make_result()
    result.catalogs.append(result.catalogs[1])
    with pytest.raises(ValueError, match="duplicate extension names: CAT_SDSS12"):
        _write_qpo(tmp_path, result)


# ----------------------------------------------------------------------------------------------- QCANDI_VT
def test_qcandi_vt_passes_fitsverify(tmp_path):
    """Only warning allowed: the FSC column name DATE-OBS has a '-' (FITS recommends letters, digits, _).

    Consumers (Celexta) read the column as "DATE-OBS", so the FSC name wins over the recommendation.
    """
    n_warnings, n_errors, report = fitsverify(_write_qcandi(tmp_path))
    assert n_errors == 0, report
    assert n_warnings == 2, report  # one per candidate extension
    assert report.count("Name \"DATE-OBS\" contains character '-'") == n_warnings


def test_qcandi_vt_primary_header(tmp_path):
    with fits.open(_write_qcandi(tmp_path, trigger_time="2025-02-05T03:00:53.709")) as hdul:
        header = hdul[0].header
        names = [hdu.name for hdu in hdul[1:]]
    assert (header["CARD"], header["DP_LEVEL"], header["CREATOR"]) == ("QCANDI_VT", "Q2", "VTAC")
    assert (header["N_CAND"], header["SEQ_USED"]) == (2, "B0,R0,B1,R1")
    assert header["CATALOGS"] == "LSDR10,SDSS12,PS1DR1"
    assert header["MXT_DEC"] == pytest.approx(29.6971)
    assert header["TT_ECL"] == "2025-02-05T03:00:53.709"
    assert names == ["VT_ID_1", "VT_ID_2"]


def test_qcandi_light_curve_has_detections_limits_and_absent_sequences(tmp_path):
    result = make_result()
    with fits.open(_write_qcandi(tmp_path, result)) as hdul:
        hdu = hdul["VT_ID_2"]
        data = hdu.data
        assert (hdu.header["VT_ID"], len(data)) == (2, 4)
        assert hdu.header["RA"] == pytest.approx(212.6402)
        assert hdu.columns.names == [
            "DATE-OBS", "MAG_R", "MAG_R_ERR", "MAG_R_LIM", "MAG_B", "MAG_B_ERR", "MAG_B_LIM",
        ]  # fmt: skip
        assert hdu.columns.formats == ["23A", "D", "D", "D", "D", "D", "D"]
    assert data["DATE-OBS"].tolist() == ["2025-02-05T03:10:00.000", "2025-02-05T03:15:00.000", "", ""]
    # R0 detected, R1 not (NaN with the R1 limit), R2/R3 not observed (all NaN).
    assert data["MAG_R"][0] == pytest.approx(19.0)
    assert data["MAG_R_ERR"][0] == pytest.approx(0.04)
    assert np.isnan(data["MAG_R"][1]) and np.isnan(data["MAG_R_ERR"][1])
    assert data["MAG_R_LIM"][:2].tolist() == pytest.approx([23.0, 23.1])
    assert np.isnan(data["MAG_R_LIM"][2:]).all() and np.isnan(data["MAG_R"][2:]).all()
    assert data["MAG_B"][:2].tolist() == pytest.approx([19.0, 19.3])
    assert data["MAG_B_LIM"][:2].tolist() == pytest.approx([23.0, 23.1])


def test_qcandi_date_falls_back_to_the_blue_sequence(tmp_path):
    result = make_result(sequences=("R0", "B0", "B1"))
    with fits.open(_write_qcandi(tmp_path, result)) as hdul:
        dates = hdul["VT_ID_1"].data["DATE-OBS"].tolist()
    assert dates == ["2025-02-05T03:10:00.000", "2025-02-05T03:15:00.000", "", ""]


def test_qcandi_without_candidates_is_primary_only(tmp_path):
    result = make_result(candidate_rows=(), n_best=0)
    path = _write_qcandi(tmp_path, result)
    with fits.open(path) as hdul:
        assert len(hdul) == 1
        assert hdul[0].header["N_CAND"] == 0
    assert fitsverify(path)[:2] == (0, 0)


# ----------------------------------------------------------------------------------------------- helpers
def test_seq_used_is_interleaved_blue_first():
    assert sequences_in_header_order(SEQUENCES) == ["B0", "R0", "B1", "R1", "B2", "R2", "B3", "R3"]
    assert sequences_in_header_order(["R1", "B0", "R0"]) == ["B0", "R0", "R1"]


def test_observation_span_from_first_start_to_last_end():
    sequences = {
        "R0": SequenceInfo("R0", date_obs="2025-02-05T03:10:00Z", exposure_s=300.0),
        "B2": SequenceInfo("B2", date_obs="2025-02-05T04:40:00+00:00", exposure_s=150.0),
        "R1": SequenceInfo("R1", date_obs="not a date", exposure_s=300.0),
    }
    assert observation_span(sequences) == ("2025-02-05T03:10:00.000", "2025-02-05T04:42:30.000")


def test_observation_span_without_the_last_exposure_has_no_end():
    sequences = {
        "R0": SequenceInfo("R0", date_obs="2025-02-05T03:10:00", exposure_s=300.0),
        "R1": SequenceInfo("R1", date_obs="2025-02-05T04:40:00", exposure_s=None),
    }
    assert observation_span(sequences) == ("2025-02-05T03:10:00.000", None)
    assert observation_span({}) == (None, None)


def test_naive_now_is_taken_as_utc(tmp_path):
    path = _write_qcandi(tmp_path, now=datetime(2025, 1, 1, 12, 0, 0))
    assert fits.getheader(path)["DATE"] == "2025-01-01T12:00:00.000"


def test_date_defaults_to_now(tmp_path):
    path = _write_qcandi(tmp_path, now=None)
    written = datetime.fromisoformat(fits.getheader(path)["DATE"]).replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - written).total_seconds()) < 60
