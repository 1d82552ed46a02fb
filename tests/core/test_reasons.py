"""Every reason printed for a candidate follows from a test that holds for that source and its flags."""

import numpy as np
import pytest

from vtac.core.records import SEQUENCES
from vtac.core.science_settings import ScienceConfig
from vtac.evaluation.own import run_product
from vtac.simulation.scenarios import generate_scenarios

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def candidates():
    """The CANDIDATES rows of simulated bursts with and without afterglows, traps and artefacts."""
    rows = []
    for scenario in generate_scenarios(21, n_afterglow=11, n_dark=7):
        result, _ = run_product(scenario, ScienceConfig())
        rows.extend(result.candidates)
    return rows


def detected(row, band):
    return [seq for seq in SEQUENCES if seq[0] == band and np.isfinite(row[f"MAGCAL_{seq}"])]


def test_the_simulated_fields_give_reasons_to_check(candidates):
    assert len(candidates) > 20
    assert sum("uncatalogued" in row["REASONS"] for row in candidates) > 3


def test_every_reason_agrees_with_the_flags(candidates):
    for row in candidates:
        text = str(row["REASONS"])
        name = f"VT_ID {row['VT_ID']}: {text}"
        if "uncatalogued" in text:
            assert row["NEW_SRC"] != "", name
        if "catalogue counterpart" in text or "counterpart" in text:
            assert row["DMAG_CAT"] != "", name
        if "fading, alpha" in text or "rising, alpha" in text:
            assert np.isfinite(row["ALPHA"]) and np.isfinite(row["ALPHA_ERR"]), name
        if "both VT_R and VT_B" in text:
            assert detected(row, "R") and detected(row, "B"), name
        for seq in SEQUENCES[4:]:
            if (
                f"{seq} without the simultaneous VT_R" in text
                or f"{seq}," in text.split(" without", maxsplit=1)[0]
            ):
                assert np.isfinite(row[f"MAGCAL_{seq}"]), name
                assert not np.isfinite(row[f"MAGCAL_R{seq[1]}"]), name
        if "likely artefact" in text:
            assert row["PROB"] == 0.0, name
        if "VT_R only" in text:
            assert detected(row, "R") and not detected(row, "B"), name
        if "seen once, where an afterglow" in text:
            assert row["N_DET"] == 1 or "saturation flag" in text or "at B - R" in text, name
        if "at B - R = " in text:
            seq = text.split(" at B - R = ", maxsplit=1)[0].rsplit(" ", maxsplit=1)[-1]
            assert np.isfinite(row[f"MAGCAL_{seq}"]) and np.isfinite(row[f"MAGCAL_R{seq[1]}"]), name
