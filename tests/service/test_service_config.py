"""Service settings: ICD defaults, environment, secret files and a TOML file; secrets never shown."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from vtac.app.catalogs import CatalogSource
from vtac.errors import ConfigurationError
from vtac.settings import VtacSettings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    """No VTAC_* variable of the developer's shell leaks in; no /run/secrets of the machine either."""
    for name in [name for name in os.environ if name.startswith("VTAC_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("VTAC_SECRETS_DIR", str(tmp_path))


def test_defaults_are_the_icd_names():
    settings = VtacSettings()

    broker = settings.broker
    assert (broker.inputs_exchange, broker.inputs_queue) == ("svom.products", "vtac.inputs")
    assert broker.input_routing_keys == (
        "product.QSRCLIST_VT",
        "product.QPO_MXT",
        "position.MXT",
        "position.ALERT",
    )
    assert (broker.notifications_exchange, broker.ba_routing_key, broker.vtpp_routing_key) == (
        "svom.notifications",
        "qpo_vt.ba",
        "qpo_vt.vtpp",
    )
    assert (broker.dead_letter_exchange, broker.dead_letter_queue) == ("vtac.dlx", "vtac.inputs.dead")
    assert broker.url.get_secret_value() == "amqp://guest:guest@127.0.0.1:5672/%2F"
    assert [str(source) for source in settings.catalogues.sources] == [
        "PS1DR1=vizier",
        "SDSS12=vizier",
        "LSDR10=datalab",
        "GAIADR3=vizier",
        "USNOB1=vizier",
    ]
    assert settings.state_location == str(Path("vtac-state") / "state.db")
    assert settings.file_sdb_root == Path("vtac-state") / "sdb"
    assert settings.sdb.url is None and settings.sdb.token is None


def test_environment_sets_flat_nested_and_list_values(monkeypatch, tmp_path):
    monkeypatch.setenv("VTAC_BROKER__INPUTS_QUEUE", "vtac.test")
    monkeypatch.setenv("VTAC_BROKER__MAX_UNACKED", "6")
    monkeypatch.setenv("VTAC_SCIENCE__BEST_PROBABILITY_THRESHOLD", "0.6")
    monkeypatch.setenv("VTAC_CATALOGUES__SOURCES", "sdss12=/data/sdss.fits, gaiadr3=vizier")
    monkeypatch.setenv("VTAC_BROKER__INPUT_ROUTING_KEYS", '["product.#"]')
    monkeypatch.setenv("VTAC_STATE_DIR", str(tmp_path))

    settings = VtacSettings()

    assert (settings.broker.inputs_queue, settings.broker.max_unacked) == ("vtac.test", 6)
    assert settings.science.best_probability_threshold == 0.6
    assert [str(source) for source in settings.catalogues.sources] == [
        "SDSS12=/data/sdss.fits",
        "GAIADR3=vizier",
    ]
    assert settings.broker.input_routing_keys == ("product.#",)
    assert settings.state_location == str(tmp_path / "state.db")


@pytest.mark.parametrize(
    ("catalogs", "message"),
    [
        ("XYZ=vizier", "unknown catalogue XYZ"),
        ("SDSS12", "expected NAME=SOURCE"),
        ("SDSS12=a,SDSS12=b", "once"),
    ],
)
def test_a_bad_catalogue_list_is_refused_naming_the_entry(monkeypatch, catalogs, message):
    monkeypatch.setenv("VTAC_CATALOGUES__SOURCES", catalogs)

    with pytest.raises(ValidationError, match=message):
        VtacSettings()


def test_secrets_never_appear_in_repr(monkeypatch):
    monkeypatch.setenv("VTAC_BROKER__URL", "amqp://vtac:hunter2@broker:5672/%2F")
    monkeypatch.setenv("VTAC_SDB__TOKEN", "t0ken-value")
    monkeypatch.setenv("VTAC_STATE_URL", "postgresql://vtac:pgpass@db/vtac")

    settings = VtacSettings()
    shown = repr(settings) + str(settings) + settings.model_dump_json()

    assert "hunter2" not in shown and "t0ken-value" not in shown and "pgpass" not in shown
    assert settings.sdb.token is not None and settings.sdb.token.get_secret_value() == "t0ken-value"
    assert settings.state_location == "postgresql://vtac:pgpass@db/vtac"


def test_secrets_are_read_from_files_and_the_environment_wins(monkeypatch, tmp_path):
    (tmp_path / "vtac_sdb__token").write_text("from-file\n")
    (tmp_path / "vtac_broker__url").write_text("amqp://u:file@host/%2F")
    monkeypatch.setenv("VTAC_BROKER__URL", "amqp://u:env@host/%2F")

    settings = VtacSettings()

    assert settings.sdb.token is not None and settings.sdb.token.get_secret_value() == "from-file"
    assert settings.broker.url.get_secret_value() == "amqp://u:env@host/%2F"


def test_a_toml_file_configures_below_the_environment(monkeypatch, tmp_path):
    config = tmp_path / "vtac.toml"
    config.write_text(
        '[catalogues]\nsources = ["SDSS12=vizier"]\n[broker]\ninputs_queue = "from.toml"\nmax_unacked = 5\n'
        "[science]\nmax_best_candidates = 2\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("VTAC_CONFIG_FILE", str(config))
    monkeypatch.setenv("VTAC_BROKER__MAX_UNACKED", "9")

    settings = VtacSettings()

    assert (settings.broker.inputs_queue, settings.broker.max_unacked, settings.catalogues.sources) == (
        "from.toml",
        9,
        [CatalogSource("SDSS12", "vizier")],
    )
    assert settings.science.max_best_candidates == 2


@pytest.mark.parametrize("variable", ["VTAC_CONFIG_FILE", "VTAC_SECRETS_DIR"])
def test_a_missing_config_file_or_secrets_dir_is_an_error_not_a_silent_default(
    monkeypatch, tmp_path, variable
):
    monkeypatch.setenv(variable, str(tmp_path / "missing"))

    with pytest.raises(ConfigurationError, match="missing: no such file or directory"):
        VtacSettings()


def test_an_empty_state_url_means_the_embedded_store(tmp_path):
    settings = VtacSettings(state_dir=tmp_path, state_url="")

    assert settings.state_location == str(tmp_path / "state.db")


def test_an_unknown_science_setting_is_refused(monkeypatch):
    monkeypatch.setenv("VTAC_SCIENCE__NO_SUCH_THRESHOLD", "1")

    with pytest.raises(ValidationError, match="no_such_threshold"):
        VtacSettings()
