"""The pieces ``tools/fit_model.py`` and ``bench/evaluate.py`` share: data sets, seeds, the fit."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from vtac.core.science_settings import ScienceConfig
from vtac.evaluation.fit import FieldSample
from vtac.evaluation.own import scenario_sample

if TYPE_CHECKING:
    from vtac.simulation.scenarios import Perturbation

#: Our simulations: the model is fitted on these seeds and judged on others.
TRAIN_SEEDS = tuple(range(1000, 1012))
EVALUATION_SEEDS = tuple(range(1, 5))
#: Per seed: afterglow scenarios and dark fields (the dark share is the model's "none" prior).
N_AFTERGLOW, N_DARK = 105, 55
VTACML_ENV = "VTAC_VTACML_FILE"


def vtacml_path() -> Path:
    """The FSC's simulations: ``$VTAC_VTACML_FILE``, else the published vtacML package's file (pinned
    version and hash; fetched once with pip, then cached)."""
    if os.environ.get(VTACML_ENV):
        return Path(os.environ[VTACML_ENV]).resolve()
    from vtac.evaluation.vtacml import fetch_vtacml  # pylint: disable=import-outside-toplevel

    return fetch_vtacml()


def scenarios(
    seeds: tuple[int, ...],
    n_afterglow: int = N_AFTERGLOW,
    n_dark: int = N_DARK,
    perturbation: Perturbation | None = None,
) -> Iterator:
    """Our simulated scenarios for these seeds (independent sky photometry, traps, dark fields), on the
    default detector or a perturbed one."""
    # pylint: disable-next=import-outside-toplevel
    from vtac.simulation.scenarios import Perturbation, generate_scenarios

    for seed in seeds:
        yield from generate_scenarios(
            seed, n_afterglow=n_afterglow, n_dark=n_dark, perturbation=perturbation or Perturbation()
        )


def own_samples(
    seeds: tuple[int, ...], cfg: ScienceConfig, perturbation: Perturbation | None = None
) -> list[FieldSample]:
    """The model's view of our scenarios (on the default detector, or a perturbed one)."""
    return [scenario_sample(scenario, cfg) for scenario in scenarios(seeds, perturbation=perturbation)]
