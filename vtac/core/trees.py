"""A boosted ensemble of binary decision trees, evaluated with numpy (no learning library at run time).

The trees are stored as flat arrays, one row per tree, padded to the largest tree: ``feature`` (-1 at a
leaf), ``threshold``, ``left``/``right`` (child node indices), ``default_left`` (where a NaN goes) and
``value`` (a leaf's output; at a split, the mean output of the training rows that reached it). All trees
are walked at once, one level per step (a leaf leads to itself).

Besides the sum of the leaves (:meth:`TreeEnsemble.output`), :meth:`TreeEnsemble.contributions`
attributes it to the features along each path (Saabas): a split on feature k that moves a row from a node
of value v to a child of value v' adds v' - v to k's contribution. The contributions of a row sum to its
output minus :attr:`TreeEnsemble.base` (the roots' values: the training average), which is what the
reasons quote.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

LEAF = -1


@dataclass(frozen=True)
class TreeEnsemble:
    """Trees x nodes arrays (see the module docstring)."""

    feature: NDArray[np.int64]
    threshold: NDArray[np.float64]
    left: NDArray[np.int64]
    right: NDArray[np.int64]
    default_left: NDArray[np.bool_]
    value: NDArray[np.float64]

    @property
    def n_trees(self) -> int:
        """Number of trees."""
        return int(self.feature.shape[0])

    @property
    def base(self) -> float:
        """The output before any split: the sum of the roots' values."""
        return float(self.value[:, 0].sum())

    @property
    def depth(self) -> int:
        """Steps that bring every row to a leaf: the most split nodes in one tree (bounds any path)."""
        return int(np.max(np.sum(self.feature >= 0, axis=1), initial=0))

    @cached_property
    def _flat(self) -> TreeEnsemble:
        """Every node of every tree end to end (1-D arrays, children as absolute indices); a leaf leads to
        itself, through a split that always goes left."""
        n_trees, width = self.feature.shape
        offset = (np.arange(n_trees) * width)[:, None]
        leaf = self.feature == LEAF
        own = offset + np.arange(width)[None, :]
        return TreeEnsemble(
            feature=self.feature.ravel(),
            threshold=np.where(leaf, np.inf, self.threshold).ravel(),
            left=np.where(leaf, own, offset + self.left).ravel(),
            right=np.where(leaf, own, offset + self.right).ravel(),
            default_left=(self.default_left | leaf).ravel(),
            value=self.value.ravel(),
        )

    @property
    def _roots(self) -> NDArray[np.int64]:
        """Each tree's root in the flattened arrays."""
        roots: NDArray[np.int64] = np.arange(self.n_trees, dtype=np.int64) * self.feature.shape[1]
        return roots

    def output(self, features: NDArray[np.float64]) -> NDArray[np.float64]:
        """Each row's output: the sum of the leaves it reaches."""
        n_rows, n_features = features.shape
        flat = self._flat
        children = np.stack([flat.left, flat.right], axis=1).ravel()
        column_of = np.where(flat.feature < 0, n_features, flat.feature)
        padded = _with_dummy_column(features).ravel()
        cell = (np.arange(n_rows) * (n_features + 1))[:, None]
        missing = bool(np.isnan(features).any())
        node = np.broadcast_to(self._roots, (n_rows, self.n_trees))
        for _ in range(self.depth):
            value = padded[cell + column_of[node]]
            goes_right = ~(value <= flat.threshold[node])
            if missing:
                goes_right = np.where(np.isnan(value), ~flat.default_left[node], goes_right)
            node = children[2 * node + goes_right]
        output: NDArray[np.float64] = flat.value[node].sum(axis=1)
        return output

    def contributions(self, features: NDArray[np.float64]) -> NDArray[np.float64]:
        """Each row's per-feature contributions (rows x features): the value changes along its paths."""
        n_rows, n_features = features.shape
        flat = self._flat
        padded = _with_dummy_column(features)
        width = n_features + 1
        cell = (np.arange(n_rows) * width)[:, None]
        node = np.broadcast_to(self._roots, (n_rows, self.n_trees))
        contributions = np.zeros(n_rows * width)
        for _ in range(self.depth):
            column = cell + np.where(flat.feature[node] < 0, n_features, flat.feature[node])
            value = padded.ravel()[column]
            go_left = np.where(np.isnan(value), flat.default_left[node], value <= flat.threshold[node])
            child = np.where(go_left, flat.left[node], flat.right[node])
            contributions += np.bincount(
                column.ravel(), (flat.value[child] - flat.value[node]).ravel(), contributions.size
            )
            node = child
        return contributions.reshape(n_rows, width)[:, :n_features]

    def to_document(self) -> dict[str, Any]:
        """JSON-ready arrays (lists of lists)."""
        return {
            "feature": self.feature.tolist(),
            "threshold": self.threshold.tolist(),
            "left": self.left.tolist(),
            "right": self.right.tolist(),
            "default_left": self.default_left.astype(int).tolist(),
            "value": [[_round(v) for v in row] for row in self.value],
        }

    @classmethod
    def from_document(cls, document: dict[str, Any], n_features: int) -> TreeEnsemble:
        """Read :meth:`to_document`'s layout, checking shapes and indices."""
        feature = np.asarray(document["feature"], dtype=np.int64)
        ensemble = cls(
            feature=feature,
            threshold=np.asarray(document["threshold"], dtype=float),
            left=np.asarray(document["left"], dtype=np.int64),
            right=np.asarray(document["right"], dtype=np.int64),
            default_left=np.asarray(document["default_left"], dtype=bool),
            value=np.asarray(document["value"], dtype=float),
        )
        arrays = (ensemble.threshold, ensemble.left, ensemble.right, ensemble.default_left, ensemble.value)
        if feature.ndim != 2 or any(array.shape != feature.shape for array in arrays):
            raise ValueError("tree arrays of different shapes")
        n_nodes = feature.shape[1]
        inner = feature != LEAF
        if np.any(feature[inner] >= n_features) or np.any(feature < LEAF):
            raise ValueError("a split on an unknown feature")
        children = np.concatenate([ensemble.left[inner], ensemble.right[inner]])
        if np.any(children <= 0) or np.any(children >= n_nodes):
            raise ValueError("a child index out of range")
        return ensemble


def _with_dummy_column(features: NDArray[np.float64]) -> NDArray[np.float64]:
    """The features and one more column of zeros, which a leaf's feature index (-1) reads."""
    padded = np.zeros((len(features), features.shape[1] + 1))
    padded[:, :-1] = features
    return padded


def _round(number: float) -> float:
    """Seven significant digits: the file stays small, the outputs move by < 1e-6 (thresholds stay exact)."""
    return float(f"{number:.7g}")
