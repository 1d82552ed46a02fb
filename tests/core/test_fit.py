"""The afterglow model's fit: LightGBM's trees exported to numpy arrays, the conditional-logit choice."""

import json
from dataclasses import replace

import lightgbm
import numpy as np
import pytest

from vtac.core.ranking import FEATURES, field_probabilities, load_model
from vtac.core.trees import TreeEnsemble
from vtac.errors import ConfigurationError
from vtac.evaluation.fit import FieldSample, ensemble_of, fit_model, write_model

N_FEATURES = len(FEATURES)
FADING = FEATURES.index("fading")


def field(rng, k, afterglow, n_sources=30):
    """A field of ordinary sources; the afterglow (if any) is the one that fades."""
    features = rng.normal(0.0, 1.0, (n_sources, N_FEATURES))
    features[:, FADING] = rng.uniform(0.0, 1.0, n_sources)
    truth = -1
    if afterglow:
        truth = int(rng.integers(n_sources))
        features[truth, FADING] = rng.uniform(2.0, 4.0)
    return FieldSample(f"f{k}", "synthetic", features, np.full(n_sources, -np.log(n_sources)), truth, True)


def fields(seed, n):
    rng = np.random.default_rng(seed)
    return [field(rng, k, afterglow=k % 3 != 0) for k in range(n)]


@pytest.fixture(scope="module")
def model():
    return fit_model(fields(1, 240), description="synthetic")


def test_the_numpy_trees_give_lightgbm_s_own_outputs_missing_values_included():
    rng = np.random.default_rng(5)
    features = rng.normal(size=(1200, 4))  # more rows than the evaluation takes at once
    features[rng.random(features.shape) < 0.2] = np.nan
    target = np.nan_to_num(features[:, 0]) * 2 - np.isnan(features[:, 1]) + (features[:, 2] > 0.5)
    booster = lightgbm.train(
        {"objective": "regression", "num_leaves": 6, "verbose": -1, "min_data_in_leaf": 5},
        lightgbm.Dataset(features, label=target),
        num_boost_round=20,
    )
    trees = ensemble_of(booster.dump_model())
    output, contributions = trees.output(features), trees.contributions(features)
    assert np.allclose(output, booster.predict(features), atol=1e-9)
    # the contributions share out each output's distance from the training average
    assert np.allclose(contributions.sum(axis=1) + trees.base, output)


@pytest.mark.slow
def test_the_fitted_model_finds_the_afterglow_in_fields_it_was_not_fitted_on(model):
    held_out = fields(2, 60)
    first, dark_said_none = 0, 0
    for sample in held_out:
        field_p = field_probabilities(sample.features, sample.log_prior, model, 1 / 3)
        assert field_p.probability.sum() + field_p.none == pytest.approx(1.0)
        if sample.truth >= 0:
            first += int(np.argmax(field_p.probability) == sample.truth)
            # the reason it is first is its fading, not noise in the other features
            assert np.argmax(field_p.contributions[sample.truth]) == FADING
        else:
            dark_said_none += int(field_p.none > 0.5)
    # 240 small fields of pure-noise features let a few trees learn noise: most, not all, fields come out
    # right (an unfitted model puts the afterglow first in 1 field of 30, says "none" at random)
    assert first >= 0.95 * sum(s.truth >= 0 for s in held_out)
    assert dark_said_none >= 0.9 * sum(s.truth < 0 for s in held_out)


def test_a_field_that_does_not_teach_leaves_the_fit_as_it_was():
    """A vtacML GRB with detections physics rules out is judged on, never learned from."""
    rng = np.random.default_rng(3)
    lessons = fields(1, 60)
    misleading = [replace(field(rng, 100 + k, afterglow=True), teaches=False) for k in range(30)]
    for sample in misleading:
        sample.features[sample.truth, FADING] = 0.0  # a truth that does not fade
    probe = np.vstack([sample.features for sample in fields(2, 6)])
    alone, beside = fit_model(lessons), fit_model(lessons + misleading)
    taught = fit_model(lessons + [replace(sample, teaches=True) for sample in misleading])
    assert np.array_equal(alone.trees.output(probe), beside.trees.output(probe))
    assert not np.allclose(alone.trees.output(probe), taught.trees.output(probe))


def test_a_written_model_reads_back_and_ranks_alike(model, tmp_path):
    path = tmp_path / "model.json"
    write_model(model, path, {"fields": 240})
    again = load_model(str(path))
    sample = fields(3, 1)[0]
    assert np.allclose(
        field_probabilities(sample.features, sample.log_prior, again, 0.3).probability,
        field_probabilities(sample.features, sample.log_prior, model, 0.3).probability,
        atol=1e-6,
    )
    assert json.loads(path.read_text())["provenance"] == {"fields": 240}


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: d["trees"]["left"].pop(), "different shapes"),
        (lambda d: d["trees"]["feature"][0].__setitem__(0, N_FEATURES + 3), "unknown feature"),
        (lambda d: d["trees"]["right"][0].__setitem__(0, 10_000), "out of range"),
        (lambda d: d["trees"]["threshold"][0].__setitem__(0, float("nan")), "non-finite threshold"),
        (lambda d: d.__setitem__("features", ["fading"]), "refit the model"),
    ],
)
def test_a_damaged_model_file_is_refused_with_what_is_wrong(model, tmp_path, damage, message):
    path = tmp_path / "model.json"
    write_model(model, path, {})
    document = json.loads(path.read_text())
    damage(document)
    path.write_text(json.dumps(document))
    with pytest.raises(ConfigurationError, match=message):
        load_model(str(path))


def test_only_the_sources_worth_listing_are_explained(model):
    sample = fields(4, 1)[0]
    full = field_probabilities(sample.features, sample.log_prior, model, 0.3)
    listed = field_probabilities(sample.features, sample.log_prior, model, 0.3, explain_above=0.01)
    assert np.array_equal(listed.probability, full.probability)
    worth = full.probability >= 0.01
    assert np.array_equal(listed.contributions[worth], full.contributions[worth])
    assert not listed.contributions[~worth].any() and full.contributions[~worth].any()


def test_trees_from_a_document_keep_their_arrays(model):
    document = json.loads(json.dumps(model.trees.to_document()))
    again = TreeEnsemble.from_document(document, N_FEATURES)
    assert again.n_trees == model.trees.n_trees and again.depth == model.trees.depth


def test_a_tree_without_split_and_a_stump_send_each_row_to_its_leaf():
    # a one-leaf tree (1.0) and a stump on feature 0 at 0.5 whose missing values go right (10.0 | 20.0)
    trees = TreeEnsemble(
        feature=np.array([[-1, -1, -1], [0, -1, -1]]),
        threshold=np.array([[0.0, 0.0, 0.0], [0.5, 0.0, 0.0]]),
        left=np.array([[0, 0, 0], [1, 0, 0]]),
        right=np.array([[0, 0, 0], [2, 0, 0]]),
        default_left=np.array([[True, True, True], [False, True, True]]),
        value=np.array([[1.0, 0.0, 0.0], [15.0, 10.0, 20.0]]),
    )
    features = np.array([[0.0], [0.5], [1.0], [np.nan], [-np.inf], [np.inf]])
    assert trees.output(features).tolist() == [11.0, 11.0, 21.0, 21.0, 11.0, 21.0]
    assert np.allclose(trees.contributions(features)[:, 0], [-5.0, -5.0, 5.0, 5.0, -5.0, 5.0])
