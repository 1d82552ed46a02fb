"""The one settings tree: precedence, typos named, one catalogue parser, `vtac config`, fail-fast start."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from vtac.app.catalogs import CatalogSource, parse_catalog_sources
from vtac.entrypoints import cli
from vtac.errors import ConfigurationError
from vtac.settings import RETIRED_VARIABLES, check_usable, effective_settings, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    """No VTAC_* variable of the developer's shell leaks in; no /run/secrets of the machine either."""
    for name in [name for name in os.environ if name.startswith("VTAC_")]:
        monkeypatch.delenv(name)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    monkeypatch.setenv("VTAC_SECRETS_DIR", str(secrets))
    return secrets


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vtac.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_precedence_is_defaults_then_file_then_environment_then_command_line(monkeypatch, tmp_path):
    path = toml(tmp_path, '[broker]\nmax_unacked = 5\nheartbeat_s = 12\ninputs_queue = "from.file"\n')
    monkeypatch.setenv("VTAC_BROKER__MAX_UNACKED", "7")
    monkeypatch.setenv("VTAC_BROKER__HEARTBEAT_S", "14")

    settings = load_settings(path, broker={"heartbeat_s": 16})

    broker = settings.broker
    assert (broker.inputs_queue, broker.max_unacked, broker.heartbeat_s) == ("from.file", 7, 16)
    assert broker.dead_letter_queue == "vtac.inputs.dead"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("prefecth = 8\n", "setting prefecth"),
        ("[broker]\nprefetch = 8\n", "setting broker.prefetch"),
        ("[science]\nbest_score_treshold = 0.6\n", "setting science.best_score_treshold"),
        ("[catalogues.services]\ndeadline = 3\n", "setting catalogues.services.deadline"),
    ],
)
def test_an_unknown_key_in_the_file_is_refused_naming_it_and_the_file(tmp_path, text, named):
    path = toml(tmp_path, text)

    with pytest.raises(ConfigurationError, match=f"{named} \\({path}\\): Extra inputs are not permitted"):
        load_settings(path)


def test_a_file_that_is_not_toml_is_one_line(tmp_path):
    with pytest.raises(ConfigurationError, match=r"vtac\.toml: "):
        load_settings(toml(tmp_path, "prefetch = = 8\n"))


def test_a_retired_variable_is_not_ignored_silently(monkeypatch):
    monkeypatch.setenv("VTAC_VIZIER_URL", "http://viz.local")

    with pytest.raises(
        ConfigurationError, match="VTAC_VIZIER_URL is now VTAC_CATALOGUES__SERVICES__VIZIER_URL"
    ):
        load_settings()


def test_one_catalogue_parser_for_the_environment_the_file_and_the_command_line(monkeypatch, tmp_path):
    assert parse_catalog_sources(" sdss12=/data/s.fits , gaiadr3=vizier") == [
        CatalogSource("SDSS12", "/data/s.fits"),
        CatalogSource("GAIADR3", "vizier"),
    ]
    assert parse_catalog_sources('["ps1dr1=vizier"]') == [CatalogSource("PS1DR1", "vizier")]
    monkeypatch.setenv("VTAC_CATALOGUES__SOURCES", "sdss12=vizier")
    assert load_settings().catalogues.sources == [CatalogSource("SDSS12", "vizier")]
    in_file = toml(tmp_path, '[catalogues]\nsources = ["usnob1=vizier"]\n')
    assert load_settings(in_file, environment=False).catalogues.sources == [CatalogSource("USNOB1", "vizier")]
    with pytest.raises(
        ConfigurationError, match=r"setting catalogues\.sources \(command line\): .*unknown catalogue XYZ"
    ):
        load_settings(catalogues={"sources": ["XYZ=vizier"]})


def test_make_qpo_vt_refuses_a_bad_catalogue_with_exit_2(capsys, tmp_path):
    code = cli.main(["make-qpo-vt", "--srclist", str(tmp_path / "r.fits"), "--catalog", "SDSS12"])

    assert code == 2
    assert (
        "setting catalogues.sources (command line): Value error, 'SDSS12': expected NAME=SOURCE"
        in capsys.readouterr().err
    )


def test_config_show_gives_every_value_its_source_and_masks_secrets(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("VTAC_BROKER__URL", "amqp://vtac:hunter2@broker:5672/%2F")
    monkeypatch.setenv("VTAC_SDB__URL", "https://vtac:hunter2@sdb.example/api")
    monkeypatch.setenv(
        "VTAC_CONFIG_FILE", str(toml(tmp_path, "[science]\nbest_probability_threshold = 0.6\n"))
    )
    (tmp_path / "secrets" / "vtac_sdb__token").write_text("t0ken\n")

    assert cli.main(["config", "show"]) == 0
    shown = capsys.readouterr().out

    assert "hunter2" not in shown and "t0ken" not in shown
    lines = {line.split(" = ")[0].strip(): line for line in shown.splitlines()}
    assert lines["broker.url"].endswith('"amqp://vtac:***@broker:5672/%2F"  # environment')
    assert lines["sdb.url"].endswith('"https://vtac:***@sdb.example/api"  # environment')
    assert lines["sdb.token"].split(" = ")[1].startswith('"**********"')
    assert lines["sdb.token"].endswith("# secret file in " + str(tmp_path / "secrets"))
    assert lines["science.best_probability_threshold"].endswith(f"0.6  # {tmp_path / 'vtac.toml'}")
    assert lines["broker.max_unacked"].endswith("8  # default")
    assert lines["catalogues.sources"].endswith(
        '"SDSS12=vizier", "LSDR10=datalab", "GAIADR3=vizier", "USNOB1=vizier"]  # default'
    )
    rows = effective_settings(broker={"heartbeat_s": 9})
    assert ("broker.heartbeat_s", "9", "command line") in rows


def test_config_check_judges_the_file_alone(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("VTAC_BROKER__MAX_UNACKED", "not a number")  # the environment is not the file's fault
    good = toml(tmp_path, "[broker]\nmax_unacked = 3\n")
    assert cli.main(["config", "check", str(good)]) == 0
    assert capsys.readouterr().out.strip() == f"{good}: ok"

    bad = toml(tmp_path, "prefecth = 8\n")
    assert cli.main(["config", "check", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"vtac config: error: setting prefecth ({bad}): Extra inputs are not permitted"
    assert cli.main(["config", "check", str(tmp_path / "missing.toml")]) == 2
    assert "missing.toml: no such file" in capsys.readouterr().err
    assert (
        cli.main(["config", "check", str(toml(tmp_path, '[science]\ntransforms_file = "/no/t.json"\n'))]) == 2
    )
    assert "colour transforms file /no/t.json" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("VTAC_SCIENCE__TRANSFORMS_FILE", "/no/such/transforms.json", "colour transforms file /no/such"),
        ("REQUESTS_CA_BUNDLE", "/no/such/ca.pem", "REQUESTS_CA_BUNDLE=/no/such/ca.pem: CA bundle missing"),
        (
            "VTAC_SDB__URL",
            "ftp://sdb.example",
            "setting sdb.url (environment): Value error, 'ftp://sdb.example'",
        ),
        (
            "VTAC_BROKER__URL",
            "http://broker",
            "setting broker.url (environment): Value error, expected an amqp://",
        ),
        ("VTAC_AMQP_URL", "amqp://broker", "VTAC_AMQP_URL is now VTAC_BROKER__URL"),
        ("VTAC_STATE_URL", "mysql://db/vtac", "setting state_url (environment): Value error"),
        ("VTAC_LOG_LEVEL", "chatty", "setting log_level (environment)"),
        ("VTAC_CATALOGUES__SERVICES__VIZIER_URL", "vizier", "setting catalogues.services.vizier_url"),
        ("VTAC_CATALOGS", "SDSS12=vizier", "VTAC_CATALOGS is now VTAC_CATALOGUES__SOURCES"),
    ],
)
@pytest.mark.subprocess
def test_vtac_serve_stops_at_startup_with_exit_2_and_one_line(tmp_path, variable, value, message):
    environment = {key: item for key, item in os.environ.items() if not key.startswith("VTAC_")}
    environment |= {"VTAC_STATE_DIR": str(tmp_path / "state"), "VTAC_HEALTH_PORT": "0", variable: value}

    run = subprocess.run(
        [sys.executable, "-m", "vtac.entrypoints.cli", "serve"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert run.returncode == 2, run.stderr
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("vtac serve: error: ")
    assert message in run.stderr


def test_a_health_port_in_use_is_a_configuration_error(monkeypatch, capsys, tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    monkeypatch.setenv("VTAC_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("VTAC_HEALTH_HOST", "127.0.0.1")
    monkeypatch.setenv("VTAC_HEALTH_PORT", str(taken.getsockname()[1]))
    monkeypatch.setenv("VTAC_CATALOGUES__SOURCES", "SDSS12=vizier")
    try:
        assert cli.main(["serve"]) == 2
    finally:
        taken.close()
    assert "(VTAC_HEALTH_PORT)" in capsys.readouterr().err


def test_an_unwritable_state_directory_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")

    with pytest.raises(ConfigurationError, match="cannot create the directory"):
        check_usable(load_settings(state_dir=blocker / "state"))
    read_only = tmp_path / "ro"
    read_only.mkdir(mode=0o500)
    if os.access(read_only, os.W_OK):  # root writes anywhere: nothing to refuse
        return
    with pytest.raises(ConfigurationError, match="not writable"):  # pragma: no cover - not as root
        check_usable(load_settings(state_dir=read_only))


def test_retries_and_shutdown_grace_are_settings(monkeypatch):
    monkeypatch.setenv("VTAC_BROKER__MAX_ATTEMPTS", "9")
    monkeypatch.setenv("VTAC_BROKER__SHUTDOWN_GRACE_S", "45")
    config = load_settings(broker={"retry_delay_s": 0.5}).broker

    assert (config.max_attempts, config.shutdown_grace_s, config.retry_delay_s) == (9, 45.0, 0.5)


def test_a_secret_file_of_an_earlier_version_is_not_ignored_silently(clean_environment):
    (clean_environment / "vtac_sdb_token").write_text("t0ken\n")

    with pytest.raises(ConfigurationError, match=r"vtac_sdb_token is now .*vtac_sdb__token"):
        load_settings()


def test_a_section_is_set_by_its_fields_or_as_one_json_object(monkeypatch):
    monkeypatch.setenv("VTAC_EXTRAS__ENABLED", "false")
    assert load_settings().extras.enabled is False
    monkeypatch.delenv("VTAC_EXTRAS__ENABLED")
    monkeypatch.setenv("VTAC_SDB", '{"url": "https://sdb.example/api", "max_attempts": 2}')
    assert (load_settings().sdb.url, load_settings().sdb.max_attempts) == ("https://sdb.example/api", 2)


def test_the_catalogue_section_loads_from_its_variables_as_a_list_or_json(monkeypatch):
    monkeypatch.setenv("VTAC_CATALOGUES__SOURCES", " sdss12=vizier , gaiadr3=/data/gaia ")
    monkeypatch.setenv("VTAC_CATALOGUES__SERVICES__VIZIER_URL", "http://viz.local/")
    monkeypatch.setenv("VTAC_CATALOGUES__SERVICES__DEADLINE_S", "4.5")
    monkeypatch.setenv("VTAC_CATALOGUES__PREFETCH__ENABLED", "false")
    monkeypatch.setenv("VTAC_CATALOGUES__PREFETCH__WORKERS", "5")

    catalogues = load_settings().catalogues

    assert catalogues.sources == [CatalogSource("SDSS12", "vizier"), CatalogSource("GAIADR3", "/data/gaia")]
    remote = catalogues.services.remote_settings()
    assert (remote.vizier_url, remote.deadline_s) == ("http://viz.local/", 4.5)
    assert (catalogues.prefetch.enabled, catalogues.prefetch.workers) == (False, 5)
    monkeypatch.setenv("VTAC_CATALOGUES__SOURCES", '["usnob1=vizier", "LSDR10=datalab"]')
    assert load_settings().catalogues.sources == [
        CatalogSource("USNOB1", "vizier"),
        CatalogSource("LSDR10", "datalab"),
    ]


def test_catalogues_of_the_command_line_keep_the_services_of_the_environment(monkeypatch):
    monkeypatch.setenv("VTAC_CATALOGUES__SERVICES__VIZIER_URL", "http://viz.local/")

    catalogues = load_settings(catalogues={"sources": ["PS1DR1=vizier"]}).catalogues

    assert catalogues.sources == [CatalogSource("PS1DR1", "vizier")]
    assert catalogues.services.vizier_url == "http://viz.local/"


@pytest.mark.parametrize(
    ("variable", "value", "now"),
    [
        ("VTAC_CATALOGS", "SDSS12=vizier", "VTAC_CATALOGUES__SOURCES"),
        ("VTAC_CATALOG_SERVICES__VIZIER_URL", "http://viz.local", "VTAC_CATALOGUES__SERVICES__VIZIER_URL"),
        ("VTAC_CATALOG_SERVICES__CACHE_DIR", "/tmp/cones", "VTAC_CATALOGUES__SERVICES__CACHE_DIR"),
        ("VTAC_CATALOG_SERVICES", '{"deadline_s": 3}', "VTAC_CATALOGUES__SERVICES"),
        ("VTAC_CONE_PREFETCH__ENABLED", "false", "VTAC_CATALOGUES__PREFETCH__ENABLED"),
        ("VTAC_CONE_PREFETCH__MAX_RADIUS_ARCMIN", "30", "VTAC_CATALOGUES__PREFETCH__MAX_RADIUS_ARCMIN"),
        ("VTAC_CATALOG_DEADLINE_S", "3", "VTAC_CATALOGUES__SERVICES__DEADLINE_S"),
    ],
)
def test_a_retired_catalogue_variable_stops_the_start_naming_its_new_name(monkeypatch, variable, value, now):
    monkeypatch.setenv(variable, value)

    with pytest.raises(ConfigurationError, match=f"^{variable} is now {now}$"):
        load_settings()


def test_every_retired_variable_stops_the_start(monkeypatch):
    for variable, now in RETIRED_VARIABLES.items():
        monkeypatch.setenv(variable, "1")
        with pytest.raises(ConfigurationError, match=f"^{variable} is now {now}$"):
            load_settings()
        monkeypatch.delenv(variable)


def test_a_retired_catalogue_secret_file_stops_the_start(clean_environment):
    (clean_environment / "vtac_catalog_services__cache_dir").write_text("/tmp/cones\n")

    with pytest.raises(
        ConfigurationError,
        match=r"vtac_catalog_services__cache_dir is now .*vtac_catalogues__services__cache_dir",
    ):
        load_settings()


@pytest.mark.parametrize(
    ("text", "key", "now"),
    [
        ('catalogs = ["SDSS12=vizier"]\n', "catalogs", "catalogues.sources"),
        ("[catalog_services]\ndeadline_s = 12\n", "catalog_services", "catalogues.services"),
        ("[cone_prefetch]\nenabled = false\n", "cone_prefetch", "catalogues.prefetch"),
        ('amqp_url = "amqp://broker"\n', "amqp_url", "broker.url"),
    ],
)
def test_a_retired_key_of_the_file_stops_the_start_naming_its_new_place(capsys, tmp_path, text, key, now):
    path = toml(tmp_path, text + "[broker]\nmax_unacked = 0\n")  # another error: the retired key is named

    with pytest.raises(
        ConfigurationError, match=f"^setting {key} \\({path}\\) is now {now} \\(and 1 more\\)$"
    ):
        load_settings(path)
    assert cli.main(["config", "check", str(path)]) == 2
    assert f"setting {key} ({path}) is now {now}" in capsys.readouterr().err
