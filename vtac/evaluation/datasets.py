"""Fields to fit and judge the model on: the FSC's simulations (vtacML) and our own scenarios.

The vtacML set (``combined_qpo_vt_all_cases_with_GRB_with_flags.parquet``, COMBINED rows written by the
FSC's VTAC on the SVOM team's simulations, one GRB per simulation) is read with pandas + pyarrow, which only
the evaluation needs (``pip install .[evaluate]``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from astropy.table import Table
from numpy.typing import NDArray

from vtac.core.ranking import feature_matrix, light_curves
from vtac.core.records import SEQUENCES
from vtac.core.rerank import evidence_from_combined
from vtac.core.science_settings import ScienceConfig
from vtac.evaluation.fit import FieldSample

VTACML_FILE = "combined_qpo_vt_all_cases_with_GRB_with_flags.parquet"
_COLUMNS = (
    ["VT_ID", "RA", "DEC"]
    + [f"{p}_{s}" for p in ("MAGCAL", "MAGERR", "EFLAG") for s in SEQUENCES]
    + [f"SEQFLAG{n}" for n in range(4)]
)


#: FieldSample.truth of a field whose afterglow was vetoed as a detector artefact, and the rank it gets.
VETOED = -2
MISSED_RANK = 10**6


def load_vtacml(path: Path, cfg: ScienceConfig) -> list[FieldSample]:
    """One sample per simulation; the GRB is the joined source holding the IS_GRB row."""
    # pandas is the evaluate extra: absent from the service install, where this module is never imported
    import pandas as pd  # pylint: disable=import-outside-toplevel,import-error

    frame = pd.read_parquet(path)
    samples = []
    for (case, sim_id), rows in frame.groupby(["CASE", "SIM_ID"], sort=True):
        table = Table({name: _plain(rows[name]) for name in _COLUMNS})
        grb_id = int(rows.loc[rows["IS_GRB"] == 1, "VT_ID"].iloc[0])
        evidence, _, ids = evidence_from_combined(table, None, cfg)
        eligible = ~evidence.artefact
        features = feature_matrix(evidence, light_curves(evidence, cfg))
        truth = next(k for k, members in enumerate(ids) if grb_id in members)
        suspect = evidence.artefacts.any_suspect(evidence.photometry.detected)
        samples.append(
            FieldSample(
                name=f"{case}/{sim_id}",
                group=str(case),
                features=features[eligible],
                log_prior=evidence.log_prior[eligible],
                # A GRB the simulation made physically impossible (VT_B only, far above the simultaneous
                # VT_R limit; recorded as a real VT would record an afterglow less than once in a hundred)
                # is vetoed as an artefact: a miss, and no lesson for the fit.
                truth=int(np.cumsum(eligible)[truth] - 1) if eligible[truth] else VETOED,
                none_allowed=False,
                meta={"sim_id": int(sim_id), "case": str(case)},
                # Nor does a GRB with some such detections (about one in twenty): learning from it would
                # teach the trees that a detection physics rules out is a GRB's sign.
                teaches=bool(eligible[truth] and not suspect[truth]),
            )
        )
    return samples


def _plain(series) -> NDArray:
    """A pandas column as a plain numpy array (nullable integers -> float with NaN)."""
    if series.dtype == object:
        return np.asarray(series.astype(str))
    return np.asarray(series.astype(float))


@dataclass(frozen=True)
class Ranks:
    """Where the truth came in each field: rank (1 = first; 0 for a field without afterglow)."""

    rank: NDArray[np.int64]
    p_truth: NDArray[np.float64]
    p_best: NDArray[np.float64]


def truth_ranks(samples: Iterable[FieldSample], probabilities: Iterable[NDArray]) -> Ranks:
    """Rank of the truth among its field's sources by probability."""
    ranks, p_truth, p_best = [], [], []
    for sample, prob in zip(samples, probabilities, strict=True):
        best = float(prob.max(initial=0.0))
        if sample.truth == VETOED:
            ranks.append(MISSED_RANK)
            p_truth.append(0.0)
        elif sample.truth < 0:
            ranks.append(0)
            p_truth.append(np.nan)
        else:
            ranks.append(1 + int(np.sum(prob > prob[sample.truth])))
            p_truth.append(float(prob[sample.truth]))
        p_best.append(best)
    return Ranks(np.array(ranks), np.array(p_truth), np.array(p_best))


def reliability(
    outcomes: Iterable[tuple[NDArray[np.float64], int]], bins: int = 10
) -> tuple[list[dict[str, Any]], float]:
    """Predicted probability against observed frequency, in bins, and the expected calibration error.

    Each outcome is one field: the probabilities of its alternatives (all of them, sources and "none", or a
    selection) and the index of the true one (out of range: the truth is none of those given).
    """
    predicted, observed = [], []
    for probabilities, truth in outcomes:
        hit = np.zeros(len(probabilities))
        if 0 <= truth < len(hit):
            hit[truth] = 1.0
        predicted.append(probabilities)
        observed.append(hit)
    p = np.concatenate(predicted) if predicted else np.zeros(0)
    o = np.concatenate(observed) if observed else np.zeros(0)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
    table: list[dict[str, Any]] = []
    ece = 0.0
    for k in range(bins):
        inside = which == k
        if not inside.any():
            continue
        mean_p, freq = float(p[inside].mean()), float(o[inside].mean())
        table.append(
            {
                "bin": f"{edges[k]:.1f}-{edges[k + 1]:.1f}",
                "n": int(inside.sum()),
                "predicted": mean_p,
                "observed": freq,
            }
        )
        ece += inside.sum() / len(p) * abs(mean_p - freq)
    return table, float(ece)


def rate_interval(rate: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson's 95 % interval of a rate measured on ``n`` fields: on 110 dark fields one false best more
    or less moves the rate by 0.9 %, so a target within the interval is not settled by the run."""
    if n <= 0:
        return (0.0, 1.0)
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, float(centre - half)), min(1.0, float(centre + half)))
