"""Conditional-logit fit of the afterglow model: one choice per field among its sources and "none".

Each field contributes log P(truth), where the truth is the afterglow's source or, for a field without a
detectable afterglow, "none"; P is :func:`vtac.core.ranking.field_probabilities`. Fields from a set that
always holds an afterglow (the FSC's simulations) are fitted without the "none" alternative, which they
cannot inform. Features are standardised for the optimiser, an L2 penalty keeps weights modest, and the
result is written back in raw feature units.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

from vtac.core.ranking import FEATURES, AfterglowModel


@dataclass
class FieldSample:
    """One field: its sources' features and position priors, which source is the afterglow (-1: none)."""

    name: str
    group: str
    features: NDArray[np.float64]
    log_prior: NDArray[np.float64]
    truth: int
    #: Whether "none" is an alternative (False for sets where every field has an afterglow).
    none_allowed: bool
    meta: dict[str, Any] = field(default_factory=dict)


def _stack(samples: list[FieldSample]) -> tuple[NDArray, NDArray, NDArray]:
    features = np.vstack([s.features for s in samples])
    log_prior = np.concatenate([s.log_prior for s in samples])
    owner = np.concatenate([np.full(len(s.features), k) for k, s in enumerate(samples)])
    return features, log_prior, owner


def fit_model(samples: list[FieldSample], l2: float = 1e-2, description: str = "") -> AfterglowModel:
    """The weights, typical source and "none" utility that maximise the likelihood of the truths."""
    features, log_prior, owner = _stack(samples)
    truth_rows = np.array(
        [(np.flatnonzero(owner == k)[s.truth] if s.truth >= 0 else -1) for k, s in enumerate(samples)]
    )
    non_afterglow = np.ones(len(features), dtype=bool)
    non_afterglow[truth_rows[truth_rows >= 0]] = False
    typical = features[non_afterglow].mean(axis=0)
    scale = features[non_afterglow].std(axis=0) + 1e-6
    z = (features - typical) / scale
    none_allowed = np.array([s.none_allowed for s in samples])
    n_fields, n_features = len(samples), len(FEATURES)

    def objective(params: NDArray) -> tuple[float, NDArray]:
        weights, none = params[:-1], params[-1]
        utility = z @ weights + log_prior
        top = np.full(n_fields, -np.inf)
        np.maximum.at(top, owner, utility)
        top = np.where(none_allowed, np.maximum(top, none), top)
        expo = np.exp(utility - top[owner])
        none_expo = np.where(none_allowed, np.exp(none - top), 0.0)
        denominator = np.bincount(owner, expo, n_fields) + none_expo
        chosen = np.where(truth_rows >= 0, utility[np.maximum(truth_rows, 0)], none) - top
        loglike = np.sum(chosen - np.log(denominator))
        prob = expo / denominator[owner]
        grad_w = z[truth_rows[truth_rows >= 0]].sum(axis=0) - prob @ z
        grad_none = np.sum(truth_rows < 0) - np.sum(none_expo / denominator)
        penalty = l2 * weights @ weights
        grad = -np.concatenate([grad_w - 2 * l2 * weights, [grad_none]])
        return -(loglike - penalty), grad

    start = np.zeros(n_features + 1)
    result = minimize(objective, start, jac=True, method="L-BFGS-B")
    weights = result.x[:-1] / scale
    with_none = [s for s in samples if s.none_allowed]
    dark_fraction = float(np.mean([s.truth < 0 for s in with_none])) if with_none else 0.3
    return AfterglowModel(
        features=FEATURES,
        weights=weights,
        typical=typical,
        none_utility=float(result.x[-1]),
        train_no_afterglow_fraction=min(max(dark_fraction, 0.01), 0.99),
        description=description,
    )


def model_document(model: AfterglowModel, provenance: dict[str, Any]) -> dict[str, Any]:
    """The JSON layout :func:`vtac.core.ranking.load_model` reads."""
    return {
        "schema_version": 1,
        "generated_by": "tools/fit_model.py",
        "description": model.description,
        "features": list(model.features),
        "weights": {name: round(float(w), 6) for name, w in zip(model.features, model.weights, strict=True)},
        "typical": {name: round(float(t), 6) for name, t in zip(model.features, model.typical, strict=True)},
        "none_utility": round(model.none_utility, 6),
        "train_no_afterglow_fraction": round(model.train_no_afterglow_fraction, 6),
        "provenance": provenance,
    }


def write_model(model: AfterglowModel, path: Path, provenance: dict[str, Any]) -> None:
    """Write the model file."""
    path.write_text(json.dumps(model_document(model, provenance), indent=1) + "\n", encoding="utf-8")
