"""Fit of the afterglow model: boosted trees under a conditional-logit loss, one choice per field.

Each field contributes log P(truth), where the truth is the afterglow's source or, for a field without a
detectable afterglow, "none"; P is :func:`vtac.core.ranking.field_probabilities`: a softmax over the field's
sources (utility = trees(features) + position prior) and "none". "None" is fitted as one more alternative
whose features are all missing (NaN: nothing was seen), so the trees learn its utility with the rest.
Fields from a set that always holds an afterglow (the FSC's simulations) have no "none" alternative, which
they cannot inform.

LightGBM grows the trees (gradient and Hessian of the grouped softmax as a custom objective); it is an
evaluation-time dependency only: the trees are exported to flat arrays that :mod:`vtac.core.trees`
evaluates with numpy.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vtac.core.ranking import FEATURES, AfterglowModel
from vtac.core.trees import LEAF, TreeEnsemble

#: Trees, leaves per tree, shrinkage, smallest leaf: chosen once (see the README), not per evaluation.
BOOSTING = {"rounds": 300, "num_leaves": 8, "learning_rate": 0.05, "min_data_in_leaf": 50, "lambda_l2": 1.0}


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
    #: False for a field the fit must not learn from (judged on, all the same).
    teaches: bool = True


@dataclass(frozen=True)
class _Alternatives:
    """Every field's alternatives stacked: features, position prior, owning field, chosen or not."""

    features: NDArray[np.float64]
    log_prior: NDArray[np.float64]
    owner: NDArray[np.int64]
    chosen: NDArray[np.float64]


def _alternatives(samples: list[FieldSample]) -> _Alternatives:
    nothing_seen = np.full((1, len(FEATURES)), np.nan)
    features, log_prior, owner, chosen = [], [], [], []
    for k, sample in enumerate(samples):
        if not sample.teaches or (sample.truth < 0 and not sample.none_allowed):
            continue  # a truth that is none of the alternatives teaches nothing
        hit = np.zeros(len(sample.features))
        if sample.truth >= 0:
            hit[sample.truth] = 1.0
        features.append(sample.features)
        log_prior.append(sample.log_prior)
        if sample.none_allowed:
            features.append(nothing_seen)
            log_prior.append(np.zeros(1))
            hit = np.append(hit, float(sample.truth < 0))
        chosen.append(hit)
        owner.append(np.full(len(hit), k))
    return _Alternatives(
        np.vstack(features), np.concatenate(log_prior), np.concatenate(owner), np.concatenate(chosen)
    )


def grouped_softmax_objective(
    owner: NDArray[np.int64], chosen: NDArray[np.float64]
) -> Callable[[NDArray[np.float64], Any], tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """Gradient and (diagonal) Hessian of -log P(truth) for LightGBM, P a softmax within each field."""
    n_fields = int(owner.max()) + 1

    def objective(utility: NDArray[np.float64], _data: Any) -> tuple[NDArray, NDArray]:
        top = np.full(n_fields, -np.inf)
        np.maximum.at(top, owner, utility)
        expo = np.exp(utility - top[owner])
        prob = expo / np.bincount(owner, expo, n_fields)[owner]
        return prob - chosen, np.maximum(prob * (1.0 - prob), 1e-6)

    return objective


def fit_model(samples: list[FieldSample], description: str = "") -> AfterglowModel:
    """The trees that maximise the likelihood of the truths, and the utility of "none"."""
    # lightgbm is the evaluate extra: only the fit needs it, never the service
    import lightgbm  # pylint: disable=import-outside-toplevel,import-error

    stacked = _alternatives(samples)
    params = {
        "objective": grouped_softmax_objective(stacked.owner, stacked.chosen),
        **{k: v for k, v in BOOSTING.items() if k != "rounds"},
        "min_sum_hessian_in_leaf": 1e-3,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": 2,
        "verbose": -1,
    }
    dataset = lightgbm.Dataset(stacked.features, label=stacked.chosen, init_score=stacked.log_prior)
    booster = lightgbm.train(params, dataset, num_boost_round=int(BOOSTING["rounds"]))
    trees = ensemble_of(booster.dump_model())
    none_utility = float(trees.output(np.full((1, len(FEATURES)), np.nan))[0])
    with_none = [s for s in samples if s.none_allowed and s.teaches]
    dark_fraction = float(np.mean([s.truth < 0 for s in with_none])) if with_none else 0.3
    return AfterglowModel(
        features=FEATURES,
        trees=trees,
        none_utility=none_utility,
        train_no_afterglow_fraction=min(max(dark_fraction, 0.01), 0.99),
        description=description,
    )


def ensemble_of(dump: dict[str, Any]) -> TreeEnsemble:
    """LightGBM's ``dump_model()`` as flat arrays (nodes in depth-first order, the root first)."""
    tables = [_flatten(info["tree_structure"]) for info in dump["tree_info"]]
    width = max(len(table) for table in tables)
    arrays = {
        name: np.array([[node[k] for node in table] + [pad] * (width - len(table)) for table in tables])
        for k, (name, pad) in enumerate(
            [
                ("feature", LEAF),
                ("threshold", 0.0),
                ("left", 0),
                ("right", 0),
                ("default_left", 0),
                ("value", 0.0),
            ]
        )
    }
    return TreeEnsemble(
        feature=arrays["feature"].astype(np.int64),
        threshold=arrays["threshold"].astype(float),
        left=arrays["left"].astype(np.int64),
        right=arrays["right"].astype(np.int64),
        default_left=arrays["default_left"].astype(bool),
        value=arrays["value"].astype(float),
    )


def _flatten(root: dict[str, Any]) -> list[tuple[int, float, int, int, int, float]]:
    """(feature, threshold, left, right, default_left, value) per node, depth first."""
    nodes: list[list[Any]] = []

    def visit(node: dict[str, Any]) -> int:
        index = len(nodes)
        if "leaf_value" in node:
            nodes.append([LEAF, 0.0, 0, 0, 0, float(node["leaf_value"])])
            return index
        if node.get("decision_type", "<=") != "<=":
            raise ValueError(f"unsupported split {node['decision_type']}")
        threshold = float(node["threshold"])
        # missing_type None: LightGBM reads a NaN as 0 at that split
        nan_left = node["default_left"] if node.get("missing_type") == "NaN" else threshold >= 0.0
        nodes.append(
            [int(node["split_feature"]), threshold, 0, 0, int(nan_left), float(node["internal_value"])]
        )
        nodes[index][2] = visit(node["left_child"])
        nodes[index][3] = visit(node["right_child"])
        return index

    visit(root)
    return [tuple(node) for node in nodes]


def model_document(model: AfterglowModel, provenance: dict[str, Any]) -> dict[str, Any]:
    """The JSON layout :func:`vtac.core.ranking.load_model` reads."""
    return {
        "schema_version": 2,
        "generated_by": "tools/fit_model.py",
        "kind": "boosted trees, conditional logit",
        "description": model.description,
        "features": list(model.features),
        "boosting": BOOSTING,
        "trees": model.trees.to_document(),
        "none_utility": round(model.none_utility, 6),
        "train_no_afterglow_fraction": round(model.train_no_afterglow_fraction, 6),
        "provenance": provenance,
    }


def write_model(model: AfterglowModel, path: Path, provenance: dict[str, Any]) -> None:
    """Write the model file (compact: the trees are arrays)."""
    path.write_text(
        json.dumps(model_document(model, provenance), separators=(",", ":")) + "\n", encoding="utf-8"
    )
