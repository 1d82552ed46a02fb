"""Simulated VT bursts on a real sky: the inputs VTAC receives, with the truth kept for checking it.

``burst`` generates (pure: tables in, tables out, one seeded numpy Generator); ``injections`` makes the
extra sources the tests need (a flaring star, an artefact, a fast-moving star, a host); ``sky`` provides the
real skies (the packaged SDSS field, any catalogue file) and the real afterglows of the GCN case table.
"""

from vtac.simulation.burst import (
    AfterglowSpec,
    BurstSpec,
    BurstTruth,
    DetectorModel,
    InjectedSource,
    SequencePlan,
    SimulatedBurst,
    simulate_burst,
)
from vtac.simulation.sky import AfterglowCase, find_case, load_demo_sky, load_gcn_cases, sky_from_catalog

__all__ = [
    "AfterglowCase",
    "AfterglowSpec",
    "BurstSpec",
    "BurstTruth",
    "DetectorModel",
    "InjectedSource",
    "SequencePlan",
    "SimulatedBurst",
    "find_case",
    "load_demo_sky",
    "load_gcn_cases",
    "simulate_burst",
    "sky_from_catalog",
]
