"""The service processor: input messages in, stored products and notifications out, whatever the order."""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
import time
import uuid
from pathlib import Path

import pytest
from lxml import etree
from paths import SDSS
from service_rig import (
    BURST_ID,
    best_of,
    deliver,
    inputs_of,
    near,
    notification,
    position,
    product,
    simulate_files,
)
from werkzeug import Response

from vtac.adapters.http import HttpPolicy
from vtac.adapters.mxt import MxtRow, write_qpo_mxt
from vtac.adapters.providers import RemoteSettings
from vtac.errors import ConfigurationError
from vtac.service.messages import ProductNotificationV1, parse_input
from vtac.service.outcome import Action, Notification, ProcessOutcome
from vtac.service.processor import Processor, local_name, message_id_of, open_processor
from vtac.service.sdb import FileSdb, HttpSdb
from vtac.service.state import BurstState, open_sqlite_store
from vtac.settings import SdbSettings, VtacSettings

# --- the flow -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", list(itertools.permutations(("R", "B", "MXT"))), ids="-".join)
def test_inputs_in_any_order_make_versions_from_1_with_the_afterglow_first(processor, burst, order):
    bodies = inputs_of(burst)
    outcomes = [deliver(processor, bodies[name]) for name in order]

    # a position before any list has nothing to build: it waits, and the first list makes version 1
    versions = [None, 1, 2] if order[0] == "MXT" else [1, 2, 3]
    assert [outcome.action for outcome in outcomes] == [Action.ACK] * 3
    assert [outcome.product_version for outcome in outcomes] == versions
    assert [bool(outcome.notifications) for outcome in outcomes] == [order[0] != "MXT", True, True]
    final = notification(outcomes[-1])
    best = final["best_candidates"][0]
    glow = burst[0].truth.afterglow
    assert (final["burst_id"], final["product_version"], final["verified"]) == (BURST_ID, versions[-1], True)
    assert near(best, glow.ra, glow.dec)
    assert set(best["magnitudes"]) == {f"{band}{n}" for band in "RB" for n in range(4)}
    assert best["flags"]["in_mxt"] is True and best["mxt_dist_r90"] is not None
    assert processor.store.burst_state(BURST_ID).published == versions[-1]


def test_notifications_go_to_both_audiences_with_ids_fixed_by_burst_and_version(processor, burst, settings):
    outcome = deliver(processor, inputs_of(burst)["R"])

    assert [item.routing_key for item in outcome.notifications] == ["qpo_vt.ba", "qpo_vt.vtpp"]
    assert [item.message_id for item in outcome.notifications] == [
        message_id_of(BURST_ID, 1, "ba"),
        message_id_of(BURST_ID, 1, "vtpp"),
    ]
    assert outcome.notifications[0].body == outcome.notifications[1].body
    stored = notification(outcome)["sdb"]
    assert Path(stored["qpo_vt"].removeprefix("file://")).name == f"QPO_VT_{BURST_ID}.fits"
    assert Path(stored["summary"].removeprefix("file://")).is_file()
    assert (settings.state_dir / "sdb" / BURST_ID / "QCANDI_VT" / "v1").is_dir()


def test_a_burst_with_only_the_mxt_position_is_acked_with_nothing_to_build(processor, burst):
    outcome = deliver(processor, inputs_of(burst)["MXT"])

    assert (outcome.action, outcome.notifications, outcome.product_version) == (Action.ACK, [], None)
    assert "no QSRCLIST_VT" in outcome.reason
    assert processor.store.burst_state(BURST_ID).version == 0  # no version: the first list makes v1


# --- duplicates and redeliveries ----------------------------------------------------------------------------


def test_a_repeated_input_is_a_no_op(processor, burst):
    body = inputs_of(burst)["R"]
    first = deliver(processor, body)
    again = deliver(processor, body)

    assert (first.product_version, bool(first.notifications)) == (1, True)
    assert (again.action, again.product_version, again.notifications) == (Action.ACK, 1, [])
    assert processor.store.burst_state(BURST_ID).version == 1


def test_a_redelivery_before_the_confirms_redoes_the_same_version_with_the_same_ids(processor, burst):
    body = inputs_of(burst)["R"]
    lost = processor.process(body)  # published, but the confirms never came: the input was not acked
    redelivered = deliver(processor, body)

    assert redelivered.product_version == lost.product_version == 1
    assert [item.message_id for item in redelivered.notifications] == [
        item.message_id for item in lost.notifications
    ]
    assert processor.store.burst_state(BURST_ID).published == 1


def test_confirming_an_outcome_without_notifications_publishes_nothing(processor, burst):
    processor.confirmed(processor.process(inputs_of(burst)["MXT"]))
    processor.confirmed(ProcessOutcome(Action.REJECT, "bad"))

    assert processor.store.burst_state(BURST_ID).published == 0


def test_an_updated_source_list_replaces_the_older_one(processor, burst, sky, tmp_path):
    _, update = simulate_files(sky, tmp_path / "update", seed=6)
    first = deliver(processor, inputs_of(burst)["R"])
    updated = deliver(processor, product("QSRCLIST_VT", update["srclist_R"], version=2))

    assert (first.product_version, updated.action, updated.product_version) == (1, Action.ACK, 2)
    assert best_of(updated)["magnitudes"] != best_of(first)["magnitudes"]


def test_a_stale_source_list_arriving_late_does_not_replace_the_newer_one(processor, burst, sky, tmp_path):
    _, update = simulate_files(sky, tmp_path / "update", seed=6)
    newer = deliver(processor, product("QSRCLIST_VT", update["srclist_R"], version=2))
    stale = deliver(processor, product("QSRCLIST_VT", burst[1]["srclist_R"], version=1))

    assert (stale.action, stale.product_version) == (Action.ACK, 2)
    assert best_of(stale)["magnitudes"] == best_of(newer)["magnitudes"]


def test_the_most_recent_mxt_position_wins_even_when_it_arrived_first(processor, burst):
    glow = burst[0].truth.afterglow
    deliver(processor, position(glow.ra, glow.dec, 10.0, version=2))
    stale = deliver(processor, position(glow.ra + 0.5, glow.dec, 10.0, version=1))
    with_lists = deliver(processor, inputs_of(burst)["R"])

    assert stale.notifications == []
    assert notification(with_lists)["best_candidates"][0]["flags"]["in_mxt"] is True


def test_a_qpo_mxt_without_a_usable_row_is_rejected_and_keeps_the_position(processor, burst, tmp_path):
    glow = burst[0].truth.afterglow
    known_only = write_qpo_mxt(tmp_path / "QPO_MXT_known.fits", [[MxtRow(1.0, 1.0, 30.0, 1)]], BURST_ID)
    deliver(processor, position(glow.ra, glow.dec, 10.0, version=1))
    later_file = deliver(processor, product("QPO_MXT", known_only, version=2))
    with_lists = deliver(processor, inputs_of(burst)["R"])

    assert later_file.action is Action.REJECT and "no usable MXT position" in later_file.reason
    assert with_lists.product_version == 1  # the position waited for the first list, the useless file is none
    assert best_of(with_lists)["flags"]["in_mxt"] is True


# --- rejections ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b"{not json", "invalid input message"),
        (position(10.0, 0.0, 5.0).replace(b'"ra": 10.0, ', b""), "column ra"),
        (position(400.0, 0.0, 5.0), "column ra"),
    ],
)
def test_an_invalid_message_is_rejected_at_once_naming_the_field(processor, body, named):
    outcome = processor.process(body)

    assert outcome.action is Action.REJECT and named in outcome.reason
    assert processor.store.burst_state(BURST_ID).version == 0


def test_a_corrupt_product_is_rejected_naming_its_file_and_never_stored(processor, tmp_path):
    bad = tmp_path / "QSRCLIST_VT_R_broken.fits"
    bad.write_bytes(b"SIMPLE  = not really a FITS file" * 100)
    outcome = processor.process(product("QSRCLIST_VT", bad))

    assert outcome.action is Action.REJECT and "QSRCLIST_VT_R_broken.fits" in outcome.reason
    assert processor.store.burst_state(BURST_ID).version == 0


def test_a_source_list_of_another_burst_is_rejected(processor, burst):
    outcome = processor.process(product("QSRCLIST_VT", burst[1]["srclist_R"], burst_id="sb99999999"))

    assert outcome.action is Action.REJECT and "BURST_ID" in outcome.reason


def test_a_qpo_mxt_file_gives_the_position(processor, burst):
    simulated, paths = burst
    deliver(processor, product("QPO_MXT", paths["mxt"]))
    outcome = deliver(processor, inputs_of(burst)["R"])

    assert notification(outcome)["best_candidates"][0]["flags"]["in_mxt"] is True
    assert simulated.mxt is not None


def test_local_names_are_safe_and_keep_the_fits_suffix(burst):
    body = json.loads(product("QPO_MXT", burst[1]["mxt"], filename="../../etc/QPO MXT.fits.gz"))
    parsed = parse_input(json.dumps(body))

    assert isinstance(parsed, ProductNotificationV1)
    assert local_name(parsed, b"\x1f\x8b rest") == "QPO_MXT.fits.gz"
    assert local_name(parsed.model_copy(update={"filename": ".."}), b"SIMPLE") == f"QPO_MXT_{BURST_ID}.fits"


# --- the SDB over HTTP --------------------------------------------------------------------------------------


def http_processor(settings, tmp_path, httpserver) -> Processor:
    sdb = HttpSdb(
        httpserver.url_for("/sdb"), SdbSettings(max_attempts=1, connect_timeout_s=1.0, read_timeout_s=2.0)
    )
    settings = settings.model_copy(update={"sdb": SdbSettings(fetch_urls=[httpserver.url_for("/files")])})
    return Processor(settings, store=open_sqlite_store(tmp_path / "http.db"), sdb=sdb)


def test_sdb_500_then_201_is_a_retry_then_one_product(settings, tmp_path, httpserver, burst):
    stored: list[str] = []
    failures = [500]

    def sdb(request):
        if failures:
            return Response("down", status=failures.pop())
        stored.append(request.path)
        return Response(status=201)

    for acronym in ("QPO_VT", "QCANDI_VT", "QPO_VT_SUMMARY"):
        httpserver.expect_request(
            f"/sdb/v1/bursts/{BURST_ID}/products/{acronym}/versions/1", method="PUT"
        ).respond_with_handler(sdb)
    processor = http_processor(settings, tmp_path, httpserver)
    body = inputs_of(burst)["R"]

    first = deliver(processor, body)
    second = deliver(processor, body)

    assert (first.action, second.action) == (Action.RETRY, Action.ACK)
    assert "HTTP 500" in first.reason
    assert second.product_version == 1 and processor.store.burst_state(BURST_ID).version == 1
    assert sorted(stored) == [
        f"/sdb/v1/bursts/{BURST_ID}/products/{acronym}/versions/1"
        for acronym in ("QCANDI_VT", "QPO_VT", "QPO_VT_SUMMARY")
    ]
    assert notification(second)["sdb"]["qpo_vt"].endswith("/QPO_VT/versions/1")


def test_a_build_longer_than_the_claim_lease_keeps_its_burst(settings, tmp_path, httpserver, burst):
    def slow_sdb(_request):
        time.sleep(0.5)
        return Response(status=201)

    for acronym in ("QPO_VT", "QCANDI_VT", "QPO_VT_SUMMARY"):
        httpserver.expect_request(
            f"/sdb/v1/bursts/{BURST_ID}/products/{acronym}/versions/1", method="PUT"
        ).respond_with_handler(slow_sdb)
    settings = settings.model_copy(update={"claim_lease_s": 0.3})
    builder = http_processor(settings, tmp_path, httpserver)
    other = Processor(settings, store=open_sqlite_store(tmp_path / "http.db"), sdb=FileSdb(tmp_path / "sdb"))
    body = inputs_of(burst)["R"]
    built: list[ProcessOutcome] = []

    building = threading.Thread(target=lambda: built.append(builder.process(body)))
    building.start()
    time.sleep(1.0)  # the build is in its uploads (1.5 s), three leases after its claim
    duplicate = other.process(body)
    building.join()

    assert duplicate.action is Action.RETRY and "being built by another instance" in duplicate.reason
    assert built[0].action is Action.ACK and _versions(built[0]) == [1, 1]


def test_the_sweeper_notifies_a_version_whose_retry_was_lost(settings, tmp_path, httpserver, burst):
    failures = [503]

    def sdb(_request):
        return Response("down", status=failures.pop()) if failures else Response(status=201)

    for acronym in ("QPO_VT", "QCANDI_VT", "QPO_VT_SUMMARY"):
        httpserver.expect_request(
            f"/sdb/v1/bursts/{BURST_ID}/products/{acronym}/versions/1", method="PUT"
        ).respond_with_handler(sdb)
    processor = http_processor(settings.model_copy(update={"sweep_after_s": 0.0}), tmp_path, httpserver)
    assert processor.sweep() is None

    retried = processor.process(inputs_of(burst)["R"])  # then the retry is lost (broker, budget...)
    swept = processor.sweep()
    assert swept is not None
    processor.confirmed(swept)

    assert retried.action is Action.RETRY and processor.store.burst_state(BURST_ID).version == 1
    assert swept is not None and _versions(swept) == [1, 1]
    assert processor.store.burst_state(BURST_ID).published == 1
    assert processor.sweep() is None


def test_a_version_notified_while_the_state_store_is_down_is_not_notified_again(settings, tmp_path, burst):
    settings = settings.model_copy(update={"confirm_retry_s": 0.3})
    store = open_sqlite_store(tmp_path / "state.db", timeout_s=0.05)
    processor = Processor(settings, store=store, sdb=FileSdb(tmp_path / "sdb"))
    body = inputs_of(burst)["R"]
    built = processor.process(body)
    down = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    down.execute("BEGIN IMMEDIATE")  # the store refuses every write from now on

    processor.confirmed(built)  # the notifications went out: the input is acked, the mark waits
    while_down = processor.process(body)
    down.execute("ROLLBACK")
    after = deliver(processor, body)
    state = store.burst_state(BURST_ID)
    down.close()
    store.close()

    assert while_down.action is Action.RETRY
    assert (after.action, after.notifications) == (Action.ACK, [])
    assert state == BurstState(1, 1)


def test_a_product_the_sdb_refuses_for_good_is_rejected(settings, tmp_path, httpserver, burst):
    httpserver.expect_request("/sdb/v1/bursts/sb26050905/products/QPO_VT/versions/1").respond_with_data(
        "too large", status=413
    )
    outcome = http_processor(settings, tmp_path, httpserver).process(inputs_of(burst)["R"])

    assert outcome.action is Action.REJECT and "413" in outcome.reason


@pytest.mark.parametrize("answer", [(200, Action.ACK), (404, Action.REJECT), (503, Action.RETRY)], ids=str)
def test_a_product_by_reference_is_fetched_from_the_sdb(settings, tmp_path, httpserver, burst, answer):
    status, action = answer
    srclist = burst[1]["srclist_R"]
    httpserver.expect_request("/files/R.fits", method="GET").respond_with_data(
        srclist.read_bytes() if status == 200 else b"no", status=status
    )
    for acronym in ("QPO_VT", "QCANDI_VT", "QPO_VT_SUMMARY"):
        httpserver.expect_request(
            f"/sdb/v1/bursts/{BURST_ID}/products/{acronym}/versions/1"
        ).respond_with_data("", status=201)
    body = product("QSRCLIST_VT", srclist, content=None, sdb_url=httpserver.url_for("/files/R.fits"))

    outcome = http_processor(settings, tmp_path, httpserver).process(body)

    assert outcome.action is action
    assert bool(outcome.notifications) is (status == 200)


# --- catalogues ---------------------------------------------------------------------------------------------


def test_a_failing_catalogue_makes_a_product_marked_failed_not_a_retry(tmp_path, httpserver, burst):
    httpserver.expect_request("/viz-bin/asu-tsv").respond_with_data("overloaded", status=503)
    httpserver.expect_request("/", method="GET").respond_with_data("overloaded", status=503)
    settings = VtacSettings(state_dir=tmp_path, catalogues={"sources": ["SDSS12=vizier"]})
    remote = RemoteSettings(
        vizier_url=httpserver.url_for("/"),
        policy=HttpPolicy(0.5, 1.0, retries=0, backoff_s=0.0),
        deadline_s=2.0,
    )
    store = open_sqlite_store(tmp_path / "state.db")
    processor = Processor(settings, store=store, sdb=FileSdb(tmp_path / "sdb"), remote=remote)

    outcome = deliver(processor, inputs_of(burst)["R"])

    assert outcome.action is Action.ACK and outcome.notifications
    assert notification(outcome)["verified"] is False
    summary = json.loads(Path(notification(outcome)["sdb"]["summary"].removeprefix("file://")).read_text())
    assert [item["status"] for item in summary["catalogs"]] == ["failed"]


# --- wiring and concurrency ---------------------------------------------------------------------------------


def test_open_processor_uses_the_embedded_store_and_file_sdb_by_default(tmp_path, burst):
    processor = open_processor(VtacSettings(state_dir=tmp_path / "state", catalogues={"sources": [SDSS]}))
    try:
        outcome = deliver(processor, inputs_of(burst)["R"])
    finally:
        processor.store.close()

    assert outcome.action is Action.ACK
    assert (tmp_path / "state" / "state.db").is_file()
    assert (tmp_path / "state" / "sdb" / BURST_ID / "QPO_VT" / "v1" / f"QPO_VT_{BURST_ID}.fits").is_file()


def test_open_processor_with_an_http_sdb_uploads_there(tmp_path, httpserver, burst):
    for acronym in ("QPO_VT", "QCANDI_VT", "QPO_VT_SUMMARY"):
        httpserver.expect_request(
            f"/v1/bursts/{BURST_ID}/products/{acronym}/versions/1", headers={"Authorization": "Bearer s3cret"}
        ).respond_with_data("", status=201)
    settings = VtacSettings(
        state_dir=tmp_path,
        catalogues={"sources": [SDSS]},
        sdb={"url": httpserver.url_for("/"), "token": "s3cret"},
    )
    processor = open_processor(settings)
    try:
        outcome = processor.process(inputs_of(burst)["R"])
    finally:
        processor.store.close()

    assert outcome.action is Action.ACK and outcome.notifications


@pytest.mark.parametrize(
    ("catalog", "message"),
    [("SDSS12=/no/such/sdss.fits", "no such file"), ("LSDR10=vizier", "does not serve LSDR10")],
)
def test_a_catalogue_that_cannot_work_stops_the_service_at_start(tmp_path, catalog, message):
    settings = VtacSettings(state_dir=tmp_path, catalogues={"sources": [catalog]})

    with pytest.raises(ConfigurationError, match=message):
        Processor(settings, store=open_sqlite_store(":memory:"), sdb=FileSdb(tmp_path))


def test_the_sdb_token_goes_only_to_the_sdb(tmp_path, httpserver, burst):
    srclist = burst[1]["srclist_R"].read_bytes()
    httpserver.expect_request("/sdb/files/R.fits").respond_with_data(srclist)
    httpserver.expect_request("/elsewhere/R.fits").respond_with_data(srclist)
    for acronym in ("QPO_VT", "QCANDI_VT", "QPO_VT_SUMMARY"):
        for version in (1, 2):
            httpserver.expect_request(
                f"/sdb/v1/bursts/{BURST_ID}/products/{acronym}/versions/{version}"
            ).respond_with_data("", status=201)
    settings = VtacSettings(
        state_dir=tmp_path,
        catalogues={"sources": [SDSS]},
        sdb=SdbSettings(
            url=httpserver.url_for("/sdb"),
            token="s3cret",
            fetch_urls=[httpserver.url_for("/sdb"), httpserver.url_for("/elsewhere")],
        ),
    )
    processor = open_processor(settings)
    try:
        for where, version in (("/sdb/files/R.fits", 1), ("/elsewhere/R.fits", 2)):
            body = product(
                "QSRCLIST_VT",
                burst[1]["srclist_R"],
                content=None,
                sdb_url=httpserver.url_for(where),
                version=version,
            )
            assert processor.process(body).action is Action.ACK
    finally:
        processor.store.close()

    authorised = {request.path: request.headers.get("Authorization") for request, _ in httpserver.log}
    assert authorised["/sdb/files/R.fits"] == "Bearer s3cret"
    assert authorised["/elsewhere/R.fits"] is None
    assert authorised[f"/sdb/v1/bursts/{BURST_ID}/products/QPO_VT/versions/1"] == "Bearer s3cret"


def test_a_locked_store_is_a_retry_and_the_input_is_not_lost(settings, tmp_path, burst):
    store = open_sqlite_store(tmp_path / "locked.db", timeout_s=0.05)
    processor = Processor(settings, store=store, sdb=FileSdb(tmp_path / "sdb"))
    other = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the database

    locked = processor.process(inputs_of(burst)["R"])
    other.execute("ROLLBACK")
    other.close()
    later = deliver(processor, inputs_of(burst)["R"])
    store.close()

    assert locked.action is Action.RETRY and "input store unavailable" in locked.reason
    assert (later.action, later.product_version) == (Action.ACK, 1)


def _announced(note: Notification) -> int:
    """The version a notification announces (each one built announces its own)."""
    assert note.product_version is not None
    return note.product_version


def _race(instances: list[Processor], bodies: list[bytes]) -> list[ProcessOutcome]:
    """Each instance delivers its body at the same moment, as two consumers of one queue would."""
    outcomes: list[ProcessOutcome] = []
    start = threading.Barrier(len(instances))

    def run(instance: Processor, body: bytes) -> None:
        start.wait()
        outcome = deliver(instance, body)
        while outcome.action is Action.RETRY:  # the other instance holds the burst: the broker retries
            time.sleep(0.05)
            outcome = deliver(instance, body)
        outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=pair) for pair in zip(instances, bodies, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.parametrize("inputs", [("R", "R"), ("R", "B")])
def test_two_instances_racing_make_one_version_per_change(tmp_path, sky, settings, inputs, postgres_store):
    burst_id = f"sb{uuid.uuid4().hex[:10]}"
    _, paths = simulate_files(sky, tmp_path / "race", burst_id=burst_id)
    stores = [postgres_store(), postgres_store()]
    sdb = FileSdb(tmp_path / "shared-sdb")
    instances = [Processor(settings, store=store, sdb=sdb) for store in stores]
    bodies = [product("QSRCLIST_VT", paths[f"srclist_{band}"], burst_id=burst_id) for band in inputs]

    outcomes = _race(instances, bodies)
    state = stores[0].burst_state(burst_id)
    for store in stores:
        store.close()

    changes = len(set(inputs))
    assert [outcome.action for outcome in outcomes] == [Action.ACK, Action.ACK]
    notified = sorted(_announced(note) for outcome in outcomes for note in outcome.notifications)
    built = sorted(set(notified))  # v1 is folded into v2 when both were stored before either built
    assert notified == sorted(2 * built) and built[-1] == changes  # each once, to both audiences
    assert (state.version, state.published) == (changes, changes)
    assert sorted(path.name for path in (tmp_path / "shared-sdb" / burst_id / "QPO_VT").iterdir()) == [
        f"v{version}" for version in built
    ]


# --- extras: after the notification, never before -----------------------------------------------------------


def extras_processor(tmp_path, **changes) -> Processor:
    settings = VtacSettings(
        state_dir=tmp_path, catalogues={"sources": [SDSS]}, extras={"enabled": True}, **changes
    )
    return Processor(settings, store=open_sqlite_store(tmp_path / "x.db"), sdb=FileSdb(tmp_path / "sdb"))


def local(url: str) -> Path:
    return Path(url.removeprefix("file://"))


def test_the_ba_notification_references_extras_stored_only_after_it_was_confirmed(tmp_path, burst):
    processor = extras_processor(tmp_path)
    outcome = processor.process(inputs_of(burst)["R"])
    extras = notification(outcome)["extras"]
    page, voevent = local(extras["page"]), local(extras["voevent"])
    assert page.name == f"QPO_VT_{BURST_ID}.html" and "/QPO_VT_PAGE/v1/" in extras["page"]
    best_ids = {str(best["vt_id"]) for best in notification(outcome)["best_candidates"]}
    assert best_ids and set(extras["light_curves"]) == best_ids
    assert processor.wait_for_extras(5) and not page.exists()  # nothing started before the confirms

    processor.confirmed(outcome)
    assert processor.wait_for_extras(120)
    html = page.read_text(encoding="utf-8")
    assert notification(outcome)["sdb"]["qpo_vt"] in html  # the page links the stored products
    assert extras["voevent"] in html
    assert etree.parse(str(voevent)).getroot().get("role") == "observation"
    for url in [extras["chart"], extras["circular"], extras["notice"], *extras["light_curves"].values()]:
        assert local(url).is_file(), url
    processor.close()


def test_a_rehearsal_marks_its_notices_as_tests_and_a_failure_of_the_extras_is_only_logged(
    tmp_path, burst, caplog
):
    processor = extras_processor(tmp_path, simulated=True)
    first = deliver(processor, inputs_of(burst)["R"])
    assert processor.wait_for_extras(120)
    voevent = local(notification(first)["extras"]["voevent"]).read_text(encoding="utf-8")
    assert 'role="test"' in voevent
    (tmp_path / "sdb" / BURST_ID / "QPO_VT_PAGE").rename(tmp_path / "moved")
    (tmp_path / "sdb" / BURST_ID / "QPO_VT_PAGE").write_text("a file where the SDB wants a folder")
    second = deliver(processor, inputs_of(burst)["B"])
    assert processor.wait_for_extras(120)
    assert second.action is Action.ACK and processor.store.burst_state(BURST_ID).published == 2
    assert any("extras of v2 failed" in record.getMessage() for record in caplog.records)
    processor.close()


# --- every version accounted for (issue 9, item 4) --------------------------------------------------------


def _versions(outcome: ProcessOutcome) -> list[int | None]:
    return [note.product_version for note in outcome.notifications]


def _channels(outcome: ProcessOutcome) -> set[str]:
    """The VT channels whose magnitudes the best candidate of the notification carries."""
    return {name[0] for name in best_of(outcome)["magnitudes"]}


def test_a_version_never_published_is_folded_into_the_next_one(processor, burst):
    bodies = inputs_of(burst)
    lost = processor.process(bodies["R"])  # v1 built, but the broker went away before the confirms
    later = deliver(processor, bodies["B"])  # v2 arrives first after the reconnection
    redelivered = deliver(processor, bodies["R"])

    assert _versions(lost) == [1, 1]
    assert _versions(later) == [2, 2]  # v1 was never announced: v2, which holds it, is
    assert [json.loads(note.body)["product_version"] for note in later.notifications] == [2, 2]
    assert _channels(later) == {"R", "B"}
    assert (redelivered.action, redelivered.notifications) == (Action.ACK, [])
    assert processor.store.burst_state(BURST_ID).published == 2


def test_inputs_that_come_together_make_one_build_with_all_of_them(processor, burst):
    bodies = inputs_of(burst)
    waiting = [True, True, False]  # R, then B, were processed while the next input of the burst was in hand
    outcomes = [
        deliver(processor, bodies[name], newer_waiting=lambda _burst, more=more: more)
        for name, more in zip(("R", "B", "MXT"), waiting, strict=True)
    ]

    assert [outcome.action for outcome in outcomes] == [Action.ACK] * 3
    assert [outcome.reason for outcome in outcomes[:2]] == ["built with the next input of the burst"] * 2
    assert [_versions(outcome) for outcome in outcomes] == [[], [], [3, 3]]
    assert _channels(outcomes[2]) == {"R", "B"} and best_of(outcomes[2])["flags"]["in_mxt"] is True
    assert processor.store.burst_state(BURST_ID).published == 3
    assert processor.build_deferred(lambda _burst: False) is None  # nothing left to build
    assert sorted(
        path.name for path in (processor.settings.state_dir / "sdb" / BURST_ID / "QPO_VT").iterdir()
    ) == ["v3"]


def test_a_build_left_to_an_input_that_never_builds_is_made_once_that_input_is_gone(processor, burst):
    bodies = inputs_of(burst)
    left = deliver(processor, bodies["R"], newer_waiting=lambda _burst: True)
    hostile = deliver(processor, b'{"burst_id": "%s", "acronym": "QSRCLIST_VT"}' % BURST_ID.encode())

    assert processor.build_deferred(lambda _burst: True) is None  # another input of it is still in hand
    built = processor.build_deferred(lambda _burst: False)
    assert built is not None
    processor.confirmed(built)

    assert (left.reason, hostile.action) == ("built with the next input of the burst", Action.REJECT)
    assert _versions(built) == [1, 1] and _channels(built) == {"R"}
    assert processor.store.burst_state(BURST_ID).published == 1
    assert processor.build_deferred(lambda _burst: False) is None
    assert processor.store.claim(BURST_ID, "another instance", 60.0)  # the claim was given back


def test_a_duplicate_on_another_instance_waits_and_is_never_notified_twice(settings, tmp_path, burst):
    stores = [open_sqlite_store(tmp_path / "shared.db") for _ in range(2)]
    sdb = FileSdb(tmp_path / "sdb")
    first, second = (Processor(settings, store=store, sdb=sdb) for store in stores)
    body = inputs_of(burst)["R"]

    building = first.process(body)  # claimed, products stored, notifications not yet confirmed
    duplicate = second.process(body)
    first.confirmed(building)
    again = deliver(second, body)
    for store in stores:
        store.close()

    assert _versions(building) == [1, 1]
    assert duplicate.action is Action.RETRY and "being built by another instance" in duplicate.reason
    assert (again.action, again.notifications) == (Action.ACK, [])


def test_a_crashed_instance_claim_expires_and_another_builds_the_version(settings, tmp_path, burst):
    settings = settings.model_copy(update={"claim_lease_s": 0.2})
    stores = [open_sqlite_store(tmp_path / "shared.db") for _ in range(2)]
    sdb = FileSdb(tmp_path / "sdb")
    crashed, survivor = (Processor(settings, store=store, sdb=sdb) for store in stores)
    body = inputs_of(burst)["R"]

    crashed.process(body)  # then SIGKILL: never confirmed, never released
    time.sleep(0.3)
    outcome = deliver(survivor, body)
    for store in stores:
        store.close()

    assert outcome.action is Action.ACK and _versions(outcome) == [1, 1]
