"""Fit the afterglow model (vtac/data/afterglow_model.json) on the FSC's simulations and ours.

    python tools/fit_model.py [--out vtac/data/afterglow_model.json]

Needs the evaluation extra (pandas, pyarrow, lightgbm: ``pip install -e .[evaluate]``) and the vtacML file
(``$VTAC_VTACML_FILE``, default ../shared/vtacml/...). Our scenarios use the training seeds of
vtac.evaluation.runs; ``bench/evaluate.py`` judges the model on other seeds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from vtac.core.science_settings import ScienceConfig
from vtac.evaluation.datasets import load_vtacml
from vtac.evaluation.fit import fit_model, write_model
from vtac.evaluation.runs import TRAIN_SEEDS, own_samples, vtacml_path

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "vtac" / "data" / "afterglow_model.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    cfg = ScienceConfig()
    started = time.monotonic()
    fsc = load_vtacml(vtacml_path(), cfg)
    own = own_samples(TRAIN_SEEDS, cfg)
    model = fit_model(
        fsc + own,
        description="Boosted trees under a conditional-logit loss, on the FSC's vtacML simulations (all 9 "
        f"cases) and VTAC's own scenarios (seeds {TRAIN_SEEDS[0]}-{TRAIN_SEEDS[-1]}); "
        "see vtac/core/ranking.py.",
    )
    provenance = {
        "vtacml_fields": len(fsc),
        "own_fields": len(own),
        "own_dark_fields": sum(sample.truth < 0 for sample in own),
        "train_seeds": list(TRAIN_SEEDS),
    }
    write_model(model, args.out, provenance)
    print(f"wrote {args.out} ({len(fsc)} FSC + {len(own)} own fields, {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
