"""A boosted ensemble of binary decision trees, evaluated with numpy (no learning library at run time).

The trees are stored as flat arrays, one row per tree, padded to the largest tree: ``feature`` (-1 at a
leaf), ``threshold``, ``left``/``right`` (child node indices), ``default_left`` (where a NaN goes) and
``value`` (a leaf's output; at a split, the mean output of the training rows that reached it). All trees
are walked at once, one level per step (a leaf leads to itself); their output is found faster without a
walk, from every split decided at once (:class:`_Splits`).

Besides the sum of the leaves (:meth:`TreeEnsemble.output`), :meth:`TreeEnsemble.contributions`
attributes it to the features along each path (Saabas): a split on feature k that moves a row from a node
of value v to a child of value v' adds v' - v to k's contribution. The contributions of a row sum to its
output minus :attr:`TreeEnsemble.base` (the roots' values: the training average), which is what the
reasons quote.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

LEAF = -1
#: The most leaves a tree may have: :meth:`TreeEnsemble.output` holds a tree's leaves in one 64-bit mask.
_MAX_LEAVES = 64


@dataclass(frozen=True)
class _Walk:
    """Every node of every tree end to end (1-D arrays, children as absolute indices), as the walk reads
    them; a leaf leads to itself (threshold +inf: every row goes "left", to its ``children`` entry)."""

    #: The feature a node splits on (0 at a leaf).
    feature: NDArray[np.int64]
    #: The column of the doubled features (:func:`_missing_as_infinities`) a node compares.
    column: NDArray[np.int64]
    threshold: NDArray[np.float64]
    #: Left and right child of node n at 2n and 2n + 1.
    children: NDArray[np.int64]
    value: NDArray[np.float64]
    #: Each tree's root.
    roots: NDArray[np.int64]
    depth: int


@dataclass(frozen=True)
class _Splits:
    """Every split of every tree, as :meth:`TreeEnsemble.output` reads them (QuickScorer, Lucchese et al.
    2015): leaves are numbered left to right within a tree, and a row that goes right at a split can no
    longer reach the leaves of its left subtree. Whatever the path, the leftmost leaf that no split a row
    goes right at rules out is the leaf it reaches.

    Arrays are slot-major: entry ``slot * n_trees + tree`` is the slot-th split of that tree; trees with
    fewer splits are padded with splits that rule nothing out.
    """

    #: The column of the doubled features (:func:`_missing_as_infinities`) a split compares.
    column: NDArray[np.int64]
    threshold: NDArray[np.float64]
    #: Bit i set: leaf i is in the split's left subtree, out of reach of a row that goes right there.
    left_leaves: NDArray[np.unsignedinteger[Any]]
    #: Trees x leaves (left to right), 0 past a tree's last leaf.
    leaf_value: NDArray[np.float64]
    n_slots: int


@dataclass(frozen=True)
class TreeEnsemble:
    """Trees x nodes arrays (see the module docstring); split thresholds are finite (LightGBM's are)."""

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
    def _walk(self) -> _Walk:
        """The arrays of the walk, flattened once per ensemble (see :class:`_Walk`)."""
        n_trees, width = self.feature.shape
        offset = (np.arange(n_trees) * width)[:, None]
        leaf = self.feature == LEAF
        own = offset + np.arange(width)[None, :]
        feature = np.where(leaf, 0, self.feature)
        return _Walk(
            feature=feature.ravel(),
            column=(2 * feature + ~(self.default_left | leaf)).ravel(),
            threshold=np.where(leaf, np.inf, self.threshold).ravel(),
            children=np.stack(
                [np.where(leaf, own, offset + self.left), np.where(leaf, own, offset + self.right)], axis=-1
            ).ravel(),
            value=self.value.ravel(),
            roots=offset.ravel(),
            depth=self.depth,
        )

    @cached_property
    def _splits(self) -> _Splits:
        """The splits of every tree, in the layout of :class:`_Splits` (built once per ensemble)."""
        n_trees = self.n_trees
        n_leaves = int(np.max(np.sum(self.feature != LEAF, axis=1), initial=0)) + 1
        mask_type = next(
            t for t in (np.uint8, np.uint16, np.uint32, np.uint64) if np.iinfo(t).bits >= n_leaves
        )
        rows: list[list[tuple[int, float, int]]] = []
        leaf_value = np.zeros((n_trees, n_leaves))
        for tree in range(n_trees):
            splits: list[tuple[int, float, int]] = []
            leaves: list[int] = []
            self._number_leaves(tree, 0, splits, leaves)
            rows.append(splits)
            leaf_value[tree, : len(leaves)] = self.value[tree, leaves]
        n_slots = max((len(splits) for splits in rows), default=0)
        column = np.zeros((n_slots, n_trees), dtype=np.int64)
        threshold = np.full((n_slots, n_trees), np.inf)
        left_leaves = np.zeros((n_slots, n_trees), dtype=mask_type)
        for tree, splits in enumerate(rows):
            for slot, split in enumerate(splits):
                column[slot, tree], threshold[slot, tree], left_leaves[slot, tree] = split
        return _Splits(column.ravel(), threshold.ravel(), left_leaves.ravel(), leaf_value, n_slots)

    def _number_leaves(
        self, tree: int, node: int, splits: list[tuple[int, float, int]], leaves: list[int]
    ) -> int:
        """Number the leaves under ``node`` left to right (appended to ``leaves``) and record each split as
        (column, threshold, bits of its left subtree's leaves); return the bits of the leaves under it."""
        if self.feature[tree, node] == LEAF:
            leaves.append(node)
            return 1 << (len(leaves) - 1)
        left = self._number_leaves(tree, int(self.left[tree, node]), splits, leaves)
        right = self._number_leaves(tree, int(self.right[tree, node]), splits, leaves)
        column = int(self._walk.column[tree * self.feature.shape[1] + node])  # the walk's, for the same node
        splits.append((column, float(self.threshold[tree, node]), left))
        return left | right

    def _descend(
        self, features: NDArray[np.float64]
    ) -> Iterator[tuple[NDArray[np.int64], NDArray[np.int64]]]:
        """Every row down every tree at once, one level per step: (node, child), rows x trees, at each step.

        Each feature is read from one of two copies, its missing values as -inf or as +inf, whichever sends
        them where the node's ``default_left`` says: a single comparison per node then decides every row,
        no NaN test at each level.
        """
        walk = self._walk
        values = _missing_as_infinities(features).ravel()
        cell = (np.arange(len(features)) * 2 * features.shape[1])[:, None]
        node = np.broadcast_to(walk.roots, (len(features), len(walk.roots)))
        for _ in range(walk.depth):
            goes_right = values[cell + walk.column[node]] > walk.threshold[node]
            child = walk.children[2 * node + goes_right]
            yield node, child
            node = child

    def output(self, features: NDArray[np.float64]) -> NDArray[np.float64]:
        """Each row's output: the sum of the leaves it reaches.

        Every split of every tree is decided at once (:class:`_Splits`), in blocks of rows that keep its
        arrays in the cache; no walk down the levels (twice as fast as :meth:`_descend`, the same leaves).
        """
        splits = self._splits
        n_trees = self.n_trees
        values = _missing_as_infinities(features)
        tree_offset = np.arange(n_trees) * splits.leaf_value.shape[1]
        output = np.zeros(len(features))
        for start in range(0, len(features), _ROWS_PER_BLOCK):
            block = values[start : start + _ROWS_PER_BLOCK]
            goes_right = block[:, splits.column] > splits.threshold
            ruled_out_by = (goes_right * splits.left_leaves).reshape((len(block), splits.n_slots, n_trees))
            ruled_out = np.zeros((len(block), n_trees), dtype=splits.left_leaves.dtype)
            for slot in range(splits.n_slots):
                ruled_out |= ruled_out_by[:, slot]
            leaf = tree_offset + _lowest_bit(~ruled_out)
            output[start : start + len(block)] = splits.leaf_value.ravel()[leaf].sum(axis=1)
        return output

    def contributions(self, features: NDArray[np.float64]) -> NDArray[np.float64]:
        """Each row's per-feature contributions (rows x features): the value changes along its paths."""
        n_rows, n_features = features.shape
        walk = self._walk
        cell = (np.arange(n_rows) * n_features)[:, None]
        contributions = np.zeros(n_rows * n_features)
        for node, child in self._descend(features):
            # A leaf leads to itself: it adds 0 (to feature 0, where its index points).
            contributions += np.bincount(
                (cell + walk.feature[node]).ravel(),
                (walk.value[child] - walk.value[node]).ravel(),
                contributions.size,
            )
        return contributions.reshape(n_rows, n_features)

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
        if not np.all(np.isfinite(ensemble.threshold[inner])):
            # The walk reads a missing value as -inf or +inf (_descend): such a split would misdirect it.
            raise ValueError("a split at a non-finite threshold")
        if np.any(np.sum(inner, axis=1) >= _MAX_LEAVES):
            raise ValueError(f"a tree of more than {_MAX_LEAVES} leaves")
        children = np.concatenate([ensemble.left[inner], ensemble.right[inner]])
        if np.any(children <= 0) or np.any(children >= n_nodes):
            raise ValueError("a child index out of range")
        return ensemble


#: Rows decided at once by :meth:`TreeEnsemble.output`: its rows x splits arrays stay in the cache.
_ROWS_PER_BLOCK = 128


def _lowest_bit(masks: NDArray[np.unsignedinteger[Any]]) -> NDArray[np.int64]:
    """Index of the lowest set bit of each (non-zero) mask: that bit alone is a power of two, which frexp
    gives exactly."""
    lowest = masks & (~masks + 1)
    return np.frexp(lowest.astype(np.float64))[1].astype(np.int64) - 1


def _missing_as_infinities(features: NDArray[np.float64]) -> NDArray[np.float64]:
    """Two copies of each feature, side by side (columns 2k and 2k + 1): missing values as -inf (they go
    left at every split) and as +inf (they go right)."""
    missing = np.isnan(features)
    doubled = np.empty((len(features), 2 * features.shape[1]))
    doubled[:, 0::2] = np.where(missing, -np.inf, features)
    doubled[:, 1::2] = np.where(missing, np.inf, features)
    return doubled


def _round(number: float) -> float:
    """Seven significant digits: the file stays small, the outputs move by < 1e-6 (thresholds stay exact)."""
    return float(f"{number:.7g}")
