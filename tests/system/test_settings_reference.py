"""The settings tables of the README and the ICD are the fields of vtac/settings.py, and the prose cites no
variable the service does not read."""

from __future__ import annotations

import re

import pytest
from paths import REPO

from vtac.core.science_settings import ScienceConfig
from vtac.settings import RETIRED_VARIABLES, VtacSettings
from vtac.settings_reference import TABLES, main, rows, table, with_table

DOCUMENTS = ("README.md", "docs/ICD.md", "docs/architecture.md")
#: Variables that are not settings of the tree: where the tree comes from, and the tools' own.
NOT_SETTINGS = {"VTAC_CONFIG_FILE", "VTAC_SECRETS_DIR", "VTAC_VTACML_FILE", "VTAC_COMMIT"}
#: The README's example of a retired variable (the start stops naming its new name).
RETIRED_EXAMPLE = "VTAC_AMQP_URL"


@pytest.mark.parametrize(("file", "name", "model", "prefix"), TABLES, ids=[item[0] for item in TABLES])
def test_each_settings_table_is_the_one_generated_from_the_fields(file, name, model, prefix):
    text = (REPO / file).read_text(encoding="utf-8")

    assert with_table(text, name, table(model, prefix)) == text, (
        f"{file}: the settings table {name} is stale: run `python -m vtac.settings_reference`"
    )


def test_every_setting_has_a_row_with_what_it_means():
    described = list(rows(VtacSettings, "VTAC_"))

    assert {"VTAC_BROKER__URL", "VTAC_SDB__TOKEN", "VTAC_EXTRAS__SETTLE_S", "VTAC_CATALOGUES__SOURCES"} <= {
        variable for variable, _, _ in described
    }
    assert [variable for variable, _, meaning in described if not meaning] == []


def test_the_documents_cite_only_variables_the_service_reads():
    known = {variable for variable, _, _ in rows(VtacSettings, "VTAC_")} | NOT_SETTINGS
    known |= {f"VTAC_SCIENCE__{name.upper()}" for name in ScienceConfig.model_fields}
    assert RETIRED_EXAMPLE in RETIRED_VARIABLES
    for document in DOCUMENTS:
        cited = set(re.findall(r"\bVTAC_[A-Z0-9_]*[A-Z0-9]\b", (REPO / document).read_text(encoding="utf-8")))
        unknown = sorted(cited - known - {RETIRED_EXAMPLE})
        assert unknown == [], f"{document} cites variables VTAC does not read: {unknown}"


def test_the_generator_rewrites_a_stale_table_and_refuses_a_file_without_markers(tmp_path, capsys):
    for file, *_ in TABLES:
        target = tmp_path / file
        target.parent.mkdir(parents=True, exist_ok=True)
        stale = (REPO / file).read_text(encoding="utf-8").replace("| `VTAC_BROKER__URL` |", "| `VTAC_X` |")
        target.write_text(stale, encoding="utf-8")

    assert main(tmp_path) == 0
    assert "rewrote the settings table all" in capsys.readouterr().out
    assert (tmp_path / "README.md").read_text(encoding="utf-8") == (REPO / "README.md").read_text(
        encoding="utf-8"
    )
    with pytest.raises(ValueError, match="markers of the settings table 'all' not found"):
        with_table("no table here", "all", "")
