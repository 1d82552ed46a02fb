"""The service's extras: after the notification, newest version first, every announced version accounted for,
a stop bounded by the grace period and what it interrupted redone at the next start."""

# pylint: disable=redefined-outer-name  # pytest fixtures
from __future__ import annotations

import json
import operator
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pika
import pytest
from lxml import etree
from paths import REPO, SDSS
from real_services import BROKER_URL, wait_for
from service_rig import (
    BURST_ID,
    all_off_sky,
    deliver,
    inputs_of,
    notification,
    position,
    product,
    simulate_files,
    store_unchecked,
    with_tables,
)

from vtac.service import extras as extras_module
from vtac.service.extras import IdleWorker, WorkerStoppedError
from vtac.service.outcome import Action
from vtac.service.processor import Processor, open_processor
from vtac.service.publish import product_message, publish_inputs
from vtac.service.sdb import FileSdb
from vtac.service.state import ExtrasRecord, InputStore, open_sqlite_store
from vtac.service.topology import declare_topology
from vtac.settings import VtacSettings


@pytest.fixture(scope="module")
def burst(sky, tmp_path_factory):
    return simulate_files(sky, tmp_path_factory.mktemp("inputs"))


def extras_settings(tmp_path: Path) -> VtacSettings:
    return VtacSettings(state_dir=tmp_path, catalogues={"sources": [SDSS]}, extras={"enabled": True})


def extras_processor(tmp_path: Path) -> Processor:
    store = open_sqlite_store(tmp_path / "state.db")
    return Processor(extras_settings(tmp_path), store=store, sdb=FileSdb(tmp_path / "sdb"))


def statuses(store: InputStore, burst_id: str, versions: range) -> list[str | None]:
    records = [store.extras_record(burst_id, version) for version in versions]
    return [None if record is None else record.status for record in records]


def page_of(tmp_path: Path, version: int, burst_id: str = BURST_ID) -> Path:
    return tmp_path / "sdb" / burst_id / "QPO_VT_PAGE" / f"v{version}" / f"QPO_VT_{burst_id}.html"


# --- the ledger ---------------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path, postgres_store):
    if request.param == "postgresql":
        yield postgres_store()  # closed by its fixture
        return
    opened = open_sqlite_store(tmp_path / "ledger.db")
    yield opened
    opened.close()


def test_the_ledger_keeps_a_stored_version_stored_and_hands_interrupted_ones_to_one_instance(store):
    burst = f"sbledger{time.time_ns()}"
    store.record_extras([ExtrasRecord(burst, 1, "stored"), ExtrasRecord(burst, 2, "pending")], "a", 60)
    store.record_extras(
        [ExtrasRecord(burst, 1, "pending"), ExtrasRecord(burst, 3, "interrupted", "stop")], "b", 60
    )
    assert statuses(store, burst, range(1, 5)) == ["stored", "pending", "interrupted", None]

    taken = [record for record in store.take_over_extras("c", 60) if record.burst_id == burst]
    assert [(record.version, record.reason) for record in taken] == [(3, "stop")]  # v2's lease still runs
    assert not [record for record in store.take_over_extras("d", 60) if record.burst_id == burst]
    store.record_extras([ExtrasRecord(burst, 2, "pending")], "a", -1)  # its owner gone, lease over
    assert [record.version for record in store.take_over_extras("d", 60) if record.burst_id == burst] == [2]
    store.record_extras([ExtrasRecord(burst, 4, "pending")], "host:1:crashed", 60)
    taken = store.take_over_extras("e", 60, gone=lambda owner: owner == "host:1:crashed")
    assert [record.version for record in taken if record.burst_id == burst] == [4]


@pytest.mark.subprocess
def test_an_owner_on_this_host_whose_process_ended_is_known_gone(tmp_path):
    processor = extras_processor(tmp_path)
    assert processor.extras is not None
    gone = processor.extras._gone  # pylint: disable=protected-access
    host, pid, token = processor._owner.rsplit(":", 2)  # pylint: disable=protected-access
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    assert gone(f"{host}:{int(ended.stdout)}:{token}")  # that process ended
    assert gone(f"{host}:{pid}:older")  # this PID under another token: a restarted container's PID 1
    assert not gone(f"{host}:{pid}:{token}")
    assert not gone(f"{host}:{os.getppid()}:x")  # running
    assert not gone(f"elsewhere:{int(ended.stdout)}:x")  # another host: only its lease tells
    assert not gone("no owner")
    processor.close()


# --- newest first, nothing silently lost --------------------------------------------------------------------


def test_versions_superseded_while_waiting_are_recorded_and_only_the_newest_is_drawn(tmp_path, burst):
    processor = extras_processor(tmp_path)
    assert processor.extras is not None
    held, release = threading.Event(), threading.Event()
    version_inputs = processor.extras._inputs_of  # pylint: disable=protected-access

    def hold_then_build(burst_id: str, version: int):
        if burst_id == "sbhold":  # occupies the extras thread, as a long drawing would
            held.set()
            release.wait(30)
            return None
        return version_inputs(burst_id, version)

    processor.extras._inputs_of = hold_then_build  # pylint: disable=protected-access
    processor.extras.published("sbhold", [1])
    assert held.wait(30)
    outcomes = [deliver(processor, body) for body in inputs_of(burst).values()]
    assert [notification(outcome)["product_version"] for outcome in outcomes] == [1, 2, 3]
    assert all(notification(outcome)["extras"]["page"] for outcome in outcomes)
    release.set()
    assert processor.wait_for_extras(180)

    assert statuses(processor.store, BURST_ID, range(1, 4)) == ["superseded", "superseded", "stored"]
    assert [page_of(tmp_path, version).exists() for version in (1, 2, 3)] == [False, False, True]
    # the notifications said so: their extras may never be stored once a newer version exists
    assert all(notification(outcome)["extras"]["may_be_superseded"] for outcome in outcomes)
    # v3's page lists the earlier versions as superseded (no page to link), its VOEvent cites none of them
    page = page_of(tmp_path, 3).read_text(encoding="utf-8")
    assert page.count("superseded: a newer version of the burst came before they were drawn") == 2
    voevent = next((tmp_path / "sdb" / BURST_ID / "QPO_VT_VOEVENT" / "v3").iterdir()).read_text(
        encoding="utf-8"
    )
    assert "Citations" not in voevent
    hold = processor.store.extras_record("sbhold", 1)
    assert hold is not None and (hold.status, hold.reason) == ("failed", "no QSRCLIST_VT in this version")
    processor.close()


def test_a_version_folded_into_the_next_is_superseded_in_the_ledger(tmp_path, burst):
    processor = extras_processor(tmp_path)
    bodies = inputs_of(burst)
    unconfirmed = processor.process(bodies["R"])  # notified, but the confirms never came
    both = deliver(processor, bodies["B"])
    assert sorted({json.loads(note.body)["product_version"] for note in both.notifications}) == [2]
    assert unconfirmed.notifications and both.folded == (1,)
    assert processor.wait_for_extras(180)
    assert statuses(processor.store, BURST_ID, range(1, 3)) == ["superseded", "stored"]
    processor.close()
    note = history_rows(page_of(tmp_path, 2).read_text(encoding="utf-8"))[1][2]
    assert note == "superseded: v2 was notified with it"


def history_rows(html: str) -> dict[int, tuple[str, str, str]]:
    """The page's version history: version -> (linked page or '', made, note)."""
    table = etree.fromstring(html.encode(), etree.HTMLParser()).find(".//table[@id='history-table']")
    rows = {}
    for row in table.findall("tr")[1:]:
        version, made, note = row.findall("td")
        link = version.find("a")
        number = int((link.text if link is not None else version.text).split()[0])
        rows[number] = ("" if link is None else link.get("href"), made.text, note.text)
    return rows


def test_every_stored_version_links_the_others_with_when_each_was_made(tmp_path, burst):
    processor = extras_processor(tmp_path)
    bodies = inputs_of(burst)
    for name in ("R", "B"):
        deliver(processor, bodies[name])
        assert processor.wait_for_extras(180)  # each version's extras stored before the next input
    processor.close()

    first, second = (history_rows(page_of(tmp_path, n).read_text(encoding="utf-8")) for n in (1, 2))
    made = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
    assert sorted(first) == [1, 2] and sorted(second) == [1, 2, 3]
    assert first[2][0] == page_of(tmp_path, 2).as_uri()  # v1 links v2, which exists now
    assert second[1][0] == page_of(tmp_path, 1).as_uri() and second[1][2] == "stored"
    assert all(made.fullmatch(row[1]) for row in (first[1], second[1], second[2]))
    assert "will be at this address if a newer version is made" in second[3][2]
    assert not page_of(tmp_path, 3).exists()


def test_a_set_aside_version_is_named_with_its_reason_in_the_next_page(tmp_path, burst):
    processor = extras_processor(tmp_path)
    _, paths = burst
    bad = with_tables(paths["srclist_R"], tmp_path / "R_bad.fits", all_off_sky)
    store_unchecked(processor, product("QSRCLIST_VT", bad), ["R0", "R1", "R2", "R3"])
    simulated = burst[0].mxt
    alone = deliver(processor, position(simulated.ra, simulated.dec, simulated.r90_arcsec))  # v2 cannot build
    outcome = deliver(processor, product("QSRCLIST_VT", paths["srclist_B"]))
    assert processor.wait_for_extras(180)
    processor.close()

    assert (alone.action, alone.notifications) == (Action.ACK, [])
    assert [note.product_version for note in outcome.notifications] == [3, 3]
    rows = history_rows(page_of(tmp_path, 3).read_text(encoding="utf-8"))
    assert rows[2][2] == "superseded: v3 was notified with it"
    link, made, note = rows[1]
    assert (link, made) == ("", "-")  # no page, and no time: it was never built
    assert note.startswith("set aside, not built: file ") and "R_bad.fits" in note
    assert "no usable source row" in note


def test_a_stop_interrupts_the_drawing_at_its_deadline_and_the_next_start_redoes_it(tmp_path, burst):
    processor = extras_processor(tmp_path)
    deliver(processor, inputs_of(burst)["R"])
    started = time.monotonic()
    processor.close(0.2)  # the worker is still starting: far from done
    assert time.monotonic() - started < 5
    record = processor.store.extras_record(BURST_ID, 1)
    assert record is not None and record.status == "interrupted" and "next start" in record.reason
    assert not page_of(tmp_path, 1).exists()
    processor.store.close()

    restarted = open_processor(extras_settings(tmp_path))  # same state.db and file SDB
    assert restarted.wait_for_extras(180)
    assert statuses(restarted.store, BURST_ID, range(1, 2)) == ["stored"]
    html = page_of(tmp_path, 1).read_text(encoding="utf-8")
    assert "/QPO_VT/v1/" in html  # the page links the products of the version it was redone for
    restarted.close()


def test_material_dropped_to_bound_memory_is_rebuilt_from_the_stored_inputs(tmp_path, burst, monkeypatch):
    monkeypatch.setattr(extras_module, "MAX_DEFERRED", 0)  # as under a flood of unconfirmed versions
    processor = extras_processor(tmp_path)
    outcome = deliver(processor, inputs_of(burst)["R"])
    assert processor.wait_for_extras(180)
    assert statuses(processor.store, BURST_ID, range(1, 2)) == ["stored"]
    html = page_of(tmp_path, 1).read_text(encoding="utf-8")
    assert notification(outcome)["sdb"]["qpo_vt"] in html
    processor.close()


def test_the_worker_reports_failures_and_is_replaced_after_a_time_out():
    worker = IdleWorker()
    try:
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            worker.call(operator.truediv, 1, 0, timeout_s=10)
        with pytest.raises(WorkerStoppedError, match=r"no answer within 0\.2 s"):
            worker.call(time.sleep, 5, timeout_s=0.2)
        assert worker.call(operator.add, 2, 3, timeout_s=10) == 5  # a fresh process
    finally:
        worker.terminate()


# --- `vtac serve` on the real broker: SIGTERM while the extras are drawn ------------------------------------

GRACE_S = 0.5
#: Interpreter and connection teardown after the grace period.
EXIT_MARGIN_S = 5.0


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def _serve(env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-m", "vtac.entrypoints.cli", "serve"], env=env, cwd=REPO)
    wait_for(lambda: process.poll() is not None or _ready(int(env["VTAC_HEALTH_PORT"])), 60)
    assert process.poll() is None, "vtac serve ended at start"
    return process


def _stop(process: subprocess.Popen[bytes]) -> float:
    """SIGTERM; how long until the process ended (it must end with 0)."""
    process.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    assert process.wait(timeout=60) == 0
    elapsed = time.monotonic() - sent
    print(f"vtac serve stopped {elapsed:.2f} s after SIGTERM")  # shown with -s
    return elapsed


@pytest.mark.broker
@pytest.mark.subprocess
def test_sigterm_while_extras_are_drawn_ends_within_the_grace_and_the_next_start_stores_them(
    tmp_path, burst, make_amqp_config
):
    _, paths = burst
    config = make_amqp_config("extras")
    connection = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
    channel = connection.channel()
    declare_topology(channel, config)
    queues = {
        key: channel.queue_declare("", exclusive=True).method.queue for key in ("qpo_vt.ba", "qpo_vt.vtpp")
    }
    for key, queue in queues.items():
        channel.queue_bind(queue, config.notifications_exchange, routing_key=key)
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("VTAC_")},
        "VTAC_BROKER__URL": BROKER_URL,
        "VTAC_BROKER__INPUTS_EXCHANGE": config.inputs_exchange,
        "VTAC_BROKER__INPUTS_QUEUE": config.inputs_queue,
        "VTAC_BROKER__NOTIFICATIONS_EXCHANGE": config.notifications_exchange,
        "VTAC_BROKER__DEAD_LETTER_EXCHANGE": config.dead_letter_exchange,
        "VTAC_BROKER__DEAD_LETTER_QUEUE": config.dead_letter_queue,
        "VTAC_BROKER__BA_QUEUE": "",
        "VTAC_BROKER__VTPP_QUEUE": "",
        "VTAC_STATE_DIR": str(tmp_path),
        "VTAC_CATALOGUES__SOURCES": SDSS,
        "VTAC_HEALTH_PORT": str(_free_port()),
        "VTAC_BROKER__SHUTDOWN_GRACE_S": str(GRACE_S),
        "VTAC_EXTRAS__ENABLED": "true",
        "VTAC_LOG_LEVEL": "WARNING",
    }
    ledger = None
    process = _serve(env)
    try:
        message = product_message(paths["srclist_R"], acronym="QSRCLIST_VT", burst_id=BURST_ID)
        publish_inputs(config, [message])
        wait_for(lambda: channel.basic_get(queues["qpo_vt.ba"], auto_ack=True)[0] is not None, 60)
        ledger = open_sqlite_store(tmp_path / "state.db")
        wait_for(lambda: statuses(ledger, BURST_ID, range(1, 2)) == ["pending"], 10)
        assert _stop(process) < GRACE_S + EXIT_MARGIN_S
        record = ledger.extras_record(BURST_ID, 1)
        assert record is not None and record.status == "interrupted", record
        assert not page_of(tmp_path, 1).exists()

        process = _serve(env)  # the next start redoes them
        wait_for(lambda: statuses(ledger, BURST_ID, range(1, 2)) == ["stored"], 180)
        assert page_of(tmp_path, 1).is_file()
        assert _stop(process) < GRACE_S + EXIT_MARGIN_S
    finally:
        if process.poll() is None:
            process.kill()
        if ledger is not None:
            ledger.close()
        for queue in (config.inputs_queue, config.retry_queue, config.dead_letter_queue):
            channel.queue_delete(queue)
        for exchange in (config.inputs_exchange, config.notifications_exchange, config.dead_letter_exchange):
            channel.exchange_delete(exchange)
        connection.close()


def amqp_keys() -> tuple[str, str]:
    """The two audiences' routing keys (both must be routable or the service retries)."""
    return ("qpo_vt.ba", "qpo_vt.vtpp")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.subprocess
def test_a_stop_signalled_to_the_process_group_does_not_kill_the_extras_worker(tmp_path):
    # A service in its own process group with a warm worker; Ctrl-C (SIGINT) to the whole group, as a shell
    # does: the service catches it and its worker still answers (a clean stop records nothing failed).
    script = tmp_path / "service.py"
    script.write_text(
        "import signal, time\n"
        "from vtac.service.extras import IdleWorker\n"
        "if __name__ == '__main__':\n"
        # as `vtac serve` does: a shell's background job starts with SIGINT ignored, which Python inherits
        "    signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "    worker = IdleWorker()\n"
        "    worker.call(abs, -1, timeout_s=10)\n"
        "    try:\n"
        "        print('ready', flush=True)\n"
        "        time.sleep(60)\n"
        "    except KeyboardInterrupt:\n"
        "        print('answer', worker.call(abs, -3, timeout_s=10), flush=True)\n",
        encoding="utf-8",
    )
    service = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, start_new_session=True, cwd=REPO
    )
    try:
        assert service.stdout is not None and service.stdout.readline().strip() == "ready"
        os.killpg(service.pid, signal.SIGINT)
        out, _ = service.communicate(timeout=30)
    finally:
        if service.poll() is None:
            service.kill()
    assert out.strip() == "answer 3"
