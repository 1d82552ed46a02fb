"""Our own simulated bursts as fields to fit and judge on: the full pipeline, truth from the simulator."""

from __future__ import annotations

from collections import Counter
from typing import Protocol

import numpy as np
from astropy.table import Table, vstack

from vtac.core.pipeline import Assessment, assess, qpo_vt_from
from vtac.core.records import DETECTION_COLUMNS, CatalogAnswer, QpoVtResult, VTObservation
from vtac.core.science_settings import ScienceConfig
from vtac.evaluation.fit import FieldSample
from vtac.simulation.burst import AFTERGLOW, SimulatedBurst


class ScenarioLike(Protocol):
    """What :mod:`vtac.simulation.scenarios` yields (read only: its scenarios are frozen dataclasses)."""

    @property
    def name(self) -> str:
        """The scenario's unique name."""

    @property
    def family(self) -> str:
        """The family of traps or dark fields it belongs to."""

    @property
    def burst(self) -> SimulatedBurst:
        """The simulated burst: its lists, its X-ray circle and its truth."""

    @property
    def catalogs(self) -> list[CatalogAnswer]:
        """The catalogue answers the pipeline is given."""

    @property
    def catalog_label(self) -> str:
        """Which catalogue those answers imitate."""

    @property
    def has_afterglow(self) -> bool:
        """Whether an afterglow was put in the field."""


def observation_of(burst: SimulatedBurst) -> VTObservation:
    """The simulated lists as the readers would deliver them."""
    parts = []
    for seq, table in burst.tables.items():
        part = Table({name: table[name] for name in DETECTION_COLUMNS if name != "SEQ"})
        part["SEQ"] = np.full(len(table), seq)
        parts.append(part[list(DETECTION_COLUMNS)])
    detections = vstack(parts) if parts else Table(names=DETECTION_COLUMNS)
    return VTObservation(
        detections, dict(burst.sequences), burst_id=burst.burst_id, trigger_time=burst.trigger_time
    )


def afterglow_source(assessment: Assessment, burst: SimulatedBurst) -> int:
    """Index of the VT source holding the afterglow's detections (-1 if it was never detected)."""
    objids = burst.truth.objids.get(AFTERGLOW, {})
    if not objids:
        return -1
    seq = np.asarray(assessment.grid.seq)
    detections = assessment.grid
    objid = assessment.grid.objid
    owners = Counter(
        int(detections.source[k]) for k in range(len(seq)) if objids.get(str(seq[k])) == int(objid[k])
    )
    return owners.most_common(1)[0][0] if owners else -1


def scenario_sample(scenario: ScenarioLike, cfg: ScienceConfig) -> FieldSample:
    """The fitted model's view of one scenario."""
    return sample_of(
        scenario, assess(observation_of(scenario.burst), scenario.burst.mxt, scenario.catalogs, cfg), cfg
    )


def sample_of(scenario: ScenarioLike, assessment: Assessment, cfg: ScienceConfig) -> FieldSample:
    """The fitted model's view of one assessed scenario."""
    truth = afterglow_source(assessment, scenario.burst) if scenario.has_afterglow else -1
    eligible = assessment.eligible
    return FieldSample(
        name=scenario.name,
        group=scenario.family,
        features=assessment.features(cfg)[eligible],
        log_prior=assessment.evidence.log_prior[eligible],
        truth=int(np.cumsum(eligible)[truth] - 1) if truth >= 0 and eligible[truth] else -1,
        none_allowed=True,
        meta={
            "family": scenario.family,
            "catalog": scenario.catalog_label,
            "detected": truth >= 0,
            "vt_id": truth + 1 if truth >= 0 else None,
        },
    )


def run_product(scenario: ScenarioLike, cfg: ScienceConfig) -> tuple[QpoVtResult, FieldSample]:
    """The whole QPO_VT of one scenario and the model's view of it (one assessment for both)."""
    observation = observation_of(scenario.burst)
    mxt = scenario.burst.mxt
    assessment = assess(observation, mxt, scenario.catalogs, cfg)
    result = qpo_vt_from(assessment, observation, mxt, scenario.catalogs, cfg=cfg)
    return result, sample_of(scenario, assessment, cfg)
