"""Fault and fuzz suite (issue 9, item 8): `vtac serve` processes on a RabbitMQ node and a PostgreSQL cluster
started here (other ports), never the shared ones. Each fault class publishes good bursts (R, B, then the
MXT position: three versions each), at the default timings with the extras on, and checks what the Burst
Advocate received: every version once, none lost, the service up, RSS bounded. ``VTAC_FAULT_BURSTS`` /
``VTAC_FAULT_HOSTILE`` scale it up (``make reliability`` writes bench/reliability.md).
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pika
import psycopg
import pytest
from fault_rig import (
    HEADER,
    BrokerNode,
    FlakyFileServer,
    Observer,
    PostgresCluster,
    Service,
    Tally,
    new_service,
    service_env,
    tools_available,
)
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from paths import SDSS

from vtac.errors import InputError
from vtac.service.messages import MxtPositionV1, parse_input
from vtac.service.publish import mxt_position_message, product_message, publish_inputs
from vtac.service.topology import declare_topology
from vtac.settings import BrokerSettings
from vtac.simulation import simulate_burst
from vtac.simulation.sky import DEMO_CENTRE, afterglow_burst_spec

N_BURSTS = int(os.environ.get("VTAC_FAULT_BURSTS", "3"))
N_HOSTILE = int(os.environ.get("VTAC_FAULT_HOSTILE", "1000"))
REPORT = os.environ.get("VTAC_FAULT_REPORT")  # a path: write the table there (make reliability)
RSS_LIMIT_MB = 400
VERSIONS_PER_BURST = 3

pytestmark = [
    pytest.mark.subprocess,
    pytest.mark.skipif(
        not os.environ.get("CI") and (os.geteuid() != 0 or not tools_available()),
        reason="needs root, initdb/pg_ctl and rabbitmq-server to start a node and a cluster of its own",
    ),
]
TALLIES: list[Tally] = []


@pytest.fixture(scope="module")
def node() -> Iterator[BrokerNode]:
    broker = BrokerNode()
    yield broker
    broker.destroy()


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    postgres = PostgresCluster()
    yield postgres
    postgres.destroy()


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    yield
    if REPORT and (TALLIES or COSTLY_ROWS):
        Path(REPORT).write_text(
            "# Reliability: faults and hostile input (`make reliability`)\n\n"
            f"Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} cores: "
            "`vtac serve` on a RabbitMQ node and a PostgreSQL cluster of the test's own, "
            f"{N_BURSTS} simulated bursts per fault class "
            f"(R, B, MXT position: {VERSIONS_PER_BURST} versions each), at the service's default timings "
            f"with the extras on, {N_HOSTILE} hypothesis-generated hostile messages interleaved with the "
            "good ones in the first class, each accounted for by its message_id (dead-lettered once with "
            'its reason, or a valid X-ray position kept). "versions notified" counts distinct (burst, '
            'version) received by the Burst Advocate; "folded" the versions with a source list built with a '
            "later one (stored while an earlier build was pending: docs/ICD.md); "
            '"lost" the bursts whose newest version was never notified (a position stored '
            'before any list makes no product); "duplicated" the extra copies; '
            f"peak RSS is the largest VmHWM of the service processes (target <= {RSS_LIMIT_MB} MB).\n\n"
            + HEADER
            + "\n"
            + "\n".join(tally.row() for tally in TALLIES)
            + "\n\nThe same classes run in `make test` with 3 bursts each (tests/system/test_faults.py).\n"
            + (
                "\n## Single costly messages\n\nEach published alone to a running `vtac serve` (default "
                "bounds); seconds from publication until its copy is in the dead-letter queue (polled every "
                "0.2 s), the reason it carries, and how many `/live` probes answered 200 meanwhile.\n\n"
                "| message | KB | s to dead-letter | reason | /live 200 |\n|---|---:|---:|---|---:|\n"
                + "\n".join(COSTLY_ROWS)
                + "\n"
                if COSTLY_ROWS
                else ""
            )
        )


@pytest.fixture
def observer(node: BrokerNode) -> Iterator[Observer]:
    config = BrokerSettings(url=node.url)
    seen = Observer(node, config)
    seen.drain()
    seen.seen.clear()
    # each fault class counts its own dead letters and consumes its own inputs only
    seen.purge(config.dead_letter_queue, config.inputs_queue, config.retry_queue)
    yield seen
    seen.connection.close()


def _bursts(sky, folder: Path, count: int, *, sdb_base: str | None = None) -> dict[str, list[Any]]:
    """``count`` simulated bursts: R, B (inline, or by reference under ``sdb_base``), the MXT position."""
    bursts = {}
    for index in range(count):
        burst_id = f"sbf{uuid.uuid4().hex[:8]}"
        ra, dec = DEMO_CENTRE[0] + 0.05, DEMO_CENTRE[1] - 0.05
        spec = afterglow_burst_spec(ra, dec, burst_id, half_width_arcmin=2.0, mxt_r90_arcsec=60.0)
        simulated = simulate_burst(sky, spec, np.random.default_rng(index))
        paths = simulated.write(folder / burst_id)
        lists = []
        for band in "RB":
            path = paths[f"srclist_{band}"]
            url = f"{sdb_base}/{burst_id}/{path.name}" if sdb_base else None
            lists.append(product_message(path, acronym="QSRCLIST_VT", burst_id=burst_id, sdb_url=url))
        mxt = simulated.mxt
        assert mxt is not None  # the spec has an MXT circle
        bursts[burst_id] = [*lists, mxt_position_message(mxt.ra, mxt.dec, mxt.r90_arcsec, burst_id=burst_id)]
    return bursts


def _wait(condition: Callable[[], bool], timeout_s: float, tick: Callable[[], None] = lambda: None) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        tick()
        if condition():
            return True
        time.sleep(0.2)
    return False


def _stored(cluster: PostgresCluster, burst_ids: set[str]) -> tuple[int, set[tuple[str, int]]]:
    """Inputs stored, and the (burst, version) with a source list to build from (a position before any list
    makes no version, docs/ICD.md: stored as version 0); (-1, empty) while PostgreSQL is down."""
    try:
        with psycopg.connect(cluster.url, autocommit=True, connect_timeout=2) as connection:
            rows = connection.execute(
                "SELECT v.burst_id, v.version, EXISTS (SELECT 1 FROM vtac_input s "
                "WHERE s.burst_id = v.burst_id AND s.acronym = 'QSRCLIST_VT' AND s.version <= v.version) "
                "FROM vtac_input v WHERE v.burst_id = ANY(%s)",
                (list(burst_ids),),
            ).fetchall()
    except psycopg.OperationalError:
        return -1, set()
    return len(rows), {(burst, int(version)) for burst, version, buildable in rows if buildable}


def _newest(buildable: set[tuple[str, int]]) -> dict[str, int]:
    """Each burst's newest version: the one that must be notified (the older ones may be folded into it)."""
    newest: dict[str, int] = {}
    for burst, version in buildable:
        newest[burst] = max(version, newest.get(burst, 0))
    return newest


def _settle(  # noqa: PLR0917  # the pieces of one fault class
    name: str,
    services: list[Service],
    observer: Observer,
    cluster: PostgresCluster,
    bursts: dict[str, list[Any]],
    started: float,
    timeout_s: float = 120.0,
) -> Tally:
    """Wait until every input is stored and every burst's newest version reached the Burst Advocate (or
    the timeout), then count."""
    ids = set(bursts)
    inputs = sum(len(messages) for messages in bursts.values())

    def tick() -> None:
        observer.drain()
        for service in services:
            service.sample_rss()

    def done() -> bool:
        stored, buildable = _stored(cluster, ids)
        notified = observer.versions(ids)
        return stored == inputs and all(item in notified for item in _newest(buildable).items())

    _wait(done, timeout_s, tick)
    time.sleep(1.0)  # a late duplicate would show now
    tick()
    versions = observer.versions(ids)
    stored, buildable = _stored(cluster, ids)
    newest = _newest(buildable)
    live = [service for service in services if service.process and service.process.poll() is None]
    tally = Tally(
        name=name,
        inputs=inputs,
        stored=stored,
        expected=len(buildable),
        notified=len(versions),
        folded=len(buildable - set(versions) - set(newest.items())),
        lost=sum(item not in versions for item in newest.items()),
        duplicated=sum(count - 1 for count in versions.values()),
        peak_rss_mb=max(service.peak_rss_kb for service in services) / 1024,
        service_up=bool(live) and all(service.probe("/live") == 200 for service in live),
        dead_lettered=observer.dead_letters(),
        seconds=time.monotonic() - started,
    )
    TALLIES.append(tally)
    return tally


def _check(tally: Tally, *, allowed_repeats: int = 0) -> None:
    """0 lost, 0 duplicated (``allowed_repeats``: exact repeats the ICD allows, same message_id), up, RSS."""
    assert tally.lost == 0, f"{tally.name}: {tally.lost} burst(s) whose newest version was never notified"
    assert tally.duplicated <= allowed_repeats, f"{tally.name}: {tally.duplicated} duplicate notification(s)"
    assert tally.stored == tally.inputs
    assert tally.service_up and tally.peak_rss_mb <= RSS_LIMIT_MB


def _start(node, cluster, tmp_path, count: int = 1, **extra: str) -> list[Service]:
    env = service_env(node, cluster, tmp_path / "state", SDSS, **extra)
    services = [new_service(env) for _ in range(count)]
    assert _wait(lambda: all(service.probe("/ready") == 200 for service in services), 60)
    return services


def _interleaved(bursts: dict[str, list[Any]]) -> list[Any]:
    """R of every burst, then B of every burst, then the MXT positions (order kept within a burst)."""
    return [inputs[step] for step in range(VERSIONS_PER_BURST) for inputs in bursts.values()]


def _stop_all(services: list[Service]) -> None:
    for service in services:
        if service.process and service.process.poll() is None:
            service.stop()


# --- hostile messages -----------------------------------------------------------------------------------


def _fits(*cards: str) -> bytes:
    text = "".join(card.ljust(80) for card in ("SIMPLE  =                    T", *cards, "END"))
    return text.encode().ljust(2880, b" ")


GOOD_POSITION = json.loads(mxt_position_message(215.6, 53.1, 30.0, burst_id="sbfuzz").model_dump_json())
GOOD_PRODUCT = {
    "kind": "product",
    "schema_version": "1",
    "acronym": "QPO_MXT",
    "burst_id": "sbfuzz",
    "product_time": "2026-12-01T00:00:00Z",
    "product_version": 1,
}
BOMB = gzip.compress(_fits() + bytes(80 * 1024 * 1024))
NOT_A_NUMBER = st.one_of(st.text(max_size=8), st.booleans(), st.none(), st.lists(st.integers(), max_size=3))


def _with(base: dict[str, Any], **changes: Any) -> bytes:
    return json.dumps({**base, **changes}).encode()


HOSTILE = st.one_of(
    st.binary(max_size=200),
    st.integers(17, 5000).map(
        lambda depth: b'{"burst_id": "sbfuzz", "x": ' + b"[" * depth + b"]" * depth + b"}"
    ),
    st.sampled_from(["ra", "dec", "r90_arcsec", "position_version"]).flatmap(
        lambda key: NOT_A_NUMBER.map(lambda value: _with(GOOD_POSITION, **{key: value}))
    ),
    st.sampled_from([".", "..", "a/b", "../escaped", "", ".hidden", "x" * 65]).map(
        lambda burst_id: _with(GOOD_POSITION, burst_id=burst_id)
    ),
    st.sampled_from(
        [
            _fits("BITPIX  =                    8", "NAXIS   =        1000000000000"),
            _fits(
                "BITPIX  =                    8",
                "NAXIS   =                    1",
                "NAXIS1  =                -2880",
            ),
            _fits("BITPIX  =                    7", "NAXIS   =                    0"),
            BOMB,
            b"SIMPLE  = garbage" * 200,
        ]
    ).map(lambda content: _with(GOOD_PRODUCT, content=base64.b64encode(content).decode())),
    st.text(max_size=50).map(lambda text: _with(GOOD_PRODUCT, sdb_url=f"http://169.254.169.254/{text}")),
    st.sampled_from(
        ["ftp://x/y", "http://user:pw@127.0.0.1:1/x", "http://[::1]/x", "http://0x7f000001/x"]
    ).map(lambda url: _with(GOOD_PRODUCT, sdb_url=url)),
)


def _hostile_messages(count: int) -> list[bytes]:
    drawn: list[bytes] = []

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(HOSTILE)
    def collect(message: bytes) -> None:
        drawn.append(message)

    collect()
    return drawn[:count]


# --- the fault classes --------------------------------------------------------------------------------------


def test_hostile_messages_interleaved_with_good_bursts(node, cluster, sky, observer, tmp_path):
    hostile = _hostile_messages(N_HOSTILE)
    assert len(hostile) >= min(N_HOSTILE, 500)
    services = _start(node, cluster, tmp_path)
    bursts = _bursts(sky, tmp_path / "in", N_BURSTS)
    started = time.monotonic()
    before = 0
    good = _interleaved(bursts)
    every = max(1, len(hostile) // max(1, len(good)))
    for index, body in enumerate(hostile):
        observer.publish_input("product.QPO_MXT", body, message_id=f"hostile-{index}")
        if index % every == 0 and good:
            publish_inputs(observer.config, [good.pop(0)])
    publish_inputs(observer.config, good)
    tally = _settle("hostile messages (hypothesis)", services, observer, cluster, bursts, started, 240)
    unacceptable = sum(not _acceptable(body) for body in hostile)
    _wait(lambda: observer.dead_letters() - before >= unacceptable, 120)
    dead = observer.take_dead_letters()
    tally.hostile, tally.dead_lettered = len(hostile), len(dead)
    _stop_all(services)
    _check(tally)
    _account_for_each(hostile, dead)


def _acceptable(body: bytes) -> bool:
    """A drawn message that is, by chance, a valid X-ray position: the service may keep it. Every product
    notification drawn carries a hostile file or address and must be dead-lettered."""
    try:
        return isinstance(parse_input(body), MxtPositionV1)
    except InputError:
        return False


def _account_for_each(hostile: list[bytes], dead: list[tuple[str | None, str]]) -> None:
    """Each hostile message once in the dead-letter queue with its reason, or a valid input kept."""
    reasons: dict[str | None, list[str]] = {}
    for message_id, reason in dead:
        reasons.setdefault(message_id, []).append(reason)
    for index, body in enumerate(hostile):
        got = reasons.pop(f"hostile-{index}", [])
        assert len(got) <= 1, f"hostile message {index} dead-lettered {len(got)} times"
        assert got or _acceptable(body), f"hostile message {index} kept but not valid: {body[:80]!r}"
        assert all(got), f"hostile message {index} dead-lettered without a reason"


def _disrupted_mid_stream(label, disrupt, *, node, cluster, sky, observer, tmp_path) -> None:
    """Half the bursts' inputs, then ``disrupt(services)``, then the rest: every burst must end published."""
    services = _start(node, cluster, tmp_path)
    bursts = _bursts(sky, tmp_path / "in", N_BURSTS)
    started = time.monotonic()
    messages = _interleaved(bursts)
    publish_inputs(observer.config, messages[: len(messages) // 2])
    time.sleep(1.0)
    disrupt(services)
    publish_inputs(observer.config, messages[len(messages) // 2 :])
    tally = _settle(label, services, observer, cluster, bursts, started)
    _stop_all(services)
    _check(tally)


def test_postgresql_restart_mid_stream(node, cluster, sky, observer, tmp_path):
    _disrupted_mid_stream(
        "PostgreSQL restart",
        lambda _services: cluster.restart(),
        node=node,
        cluster=cluster,
        sky=sky,
        observer=observer,
        tmp_path=tmp_path,
    )


def test_broker_stop_start_mid_stream(node, cluster, sky, observer, tmp_path):
    def restart_broker(services) -> None:
        node.restart(down_s=2.0)
        observer._connect()  # pylint: disable=protected-access
        assert _wait(lambda: services[0].probe("/ready") == 200, 60)

    _disrupted_mid_stream(
        "broker stop/start",
        restart_broker,
        node=node,
        cluster=cluster,
        sky=sky,
        observer=observer,
        tmp_path=tmp_path,
    )


def test_sigkill_mid_stream_then_a_new_instance(node, cluster, sky, observer, tmp_path):
    services = _start(node, cluster, tmp_path)
    bursts = _bursts(sky, tmp_path / "in", N_BURSTS)
    started = time.monotonic()
    publish_inputs(observer.config, _interleaved(bursts))
    time.sleep(1.5)
    services[0].kill()
    services += _start(node, cluster, tmp_path)
    tally = _settle("SIGKILL and restart", services, observer, cluster, bursts, started)
    _stop_all(services)
    # Killed between the broker's confirms and marking the version published, the instance leaves one
    # version to be notified again (same message_id: ICD section 5): at most one, never a loss.
    _check(tally, allowed_repeats=1)


def test_two_instances_with_every_input_sent_twice(node, cluster, sky, observer, tmp_path):
    services = _start(node, cluster, tmp_path, count=2, VTAC_BROKER__MAX_UNACKED="1")
    bursts = _bursts(sky, tmp_path / "in", N_BURSTS)
    started = time.monotonic()
    for message in _interleaved(bursts):
        publish_inputs(observer.config, [message, message])
    tally = _settle("two instances, duplicates", services, observer, cluster, bursts, started)
    _stop_all(services)
    _check(tally)


def test_sdb_outage_longer_than_the_old_retry_budget(node, cluster, sky, observer, tmp_path):
    files = FlakyFileServer(tmp_path / "in")
    try:
        services = _start(node, cluster, tmp_path, VTAC_SDB__FETCH_URLS=files.base)
        bursts = _bursts(sky, tmp_path / "in", N_BURSTS, sdb_base=files.base)
        started = time.monotonic()
        files.down = True
        # The source lists (by reference: they hit the outage) now, the MXT positions (inline) after it, so
        # no version can be notified during the outage.
        ordered = _interleaved(bursts)  # R of every burst, B of every burst, then the positions
        lists, positions = ordered[: 2 * len(bursts)], ordered[2 * len(bursts) :]
        publish_inputs(observer.config, lists)
        time.sleep(8.0)  # about 10 attempts each at 0.2..1 s: twice the 5 fixed attempts of old
        assert not observer.versions(set(bursts))
        files.down = False
        publish_inputs(observer.config, positions)
        tally = _settle("SDB outage > old retry budget", services, observer, cluster, bursts, started)
        _stop_all(services)
    finally:
        files.close()
    _check(tally)


def test_retries_pending_survive_a_broker_restart(node, observer):
    """The delay queue alone, no VTAC: 200 retries waiting when the broker restarts all reach the input
    queue (a classic delay queue dead-letters at most once: it dropped all 200)."""
    config = BrokerSettings(url=node.url, inputs_queue=f"fault.retry.{uuid.uuid4().hex[:6]}")
    channel = observer.channel
    declare_topology(channel, config)
    channel.confirm_delivery()
    started = time.monotonic()
    for index in range(200):
        properties = pika.BasicProperties(expiration="3000", delivery_mode=pika.DeliveryMode.Persistent)
        channel.basic_publish("", config.retry_queue, f"{index}".encode(), properties, mandatory=True)
    node.restart(down_s=1.0)
    observer._connect()  # pylint: disable=protected-access

    def waiting(queue: str) -> int:
        return int(observer.channel.queue_declare(queue, passive=True).method.message_count)

    # At least once: a copy may arrive twice (harmless, inputs are idempotent), none may be missing.
    arrived = _wait(lambda: waiting(config.inputs_queue) >= 200 and waiting(config.retry_queue) == 0, 60)
    in_input, in_delay = waiting(config.inputs_queue), waiting(config.retry_queue)
    tally = Tally(
        "retries pending, broker restart (no VTAC)",
        inputs=200,
        stored=200,
        expected=200,
        notified=min(in_input, 200),
        lost=max(0, 200 - in_input - in_delay),
        duplicated=max(0, in_input - 200),
        service_up=True,
        seconds=time.monotonic() - started,
    )
    TALLIES.append(tally)
    for queue in (config.inputs_queue, config.retry_queue):
        observer.channel.queue_delete(queue)
    assert arrived and tally.lost == 0


def test_broker_restart_with_retries_pending_loses_no_version(node, cluster, sky, observer, tmp_path):
    files = FlakyFileServer(tmp_path / "in")
    try:
        services = _start(
            node,
            cluster,
            tmp_path,
            VTAC_SDB__FETCH_URLS=files.base,
            VTAC_BROKER__RETRY_DELAY_S="2",
            VTAC_BROKER__RETRY_DELAY_CAP_S="4",
        )
        bursts = _bursts(sky, tmp_path / "in", N_BURSTS, sdb_base=files.base)
        started = time.monotonic()
        files.down = True
        ordered = _interleaved(bursts)  # the lists (by reference) hit the outage; positions come after it
        lists, positions = ordered[: 2 * len(bursts)], ordered[2 * len(bursts) :]
        publish_inputs(observer.config, lists)
        time.sleep(5.0)  # every list retried at least once: waiting in the delay queue
        node.restart(down_s=2.0)
        observer._connect()  # pylint: disable=protected-access
        assert _wait(lambda: services[0].probe("/ready") == 200, 60)
        files.down = False
        publish_inputs(observer.config, positions)
        tally = _settle("broker restart, retries pending", services, observer, cluster, bursts, started)
        _stop_all(services)
    finally:
        files.close()
    _check(tally)


# --- compound classes with an HTTP SDB whose PUTs and GETs both fail --------------------------------------


def _through_http_sdb(label, disrupt, *, node, cluster, sky, observer, tmp_path, count: int = 1) -> Counter:
    """Inputs by reference and products to an HTTP SDB stand-in, default timings, extras on: half the
    inputs, then ``disrupt(services, sdb, publish_rest)`` (which publishes the other half while the fault
    lasts): every version notified once, no good input dead-lettered. The SDB's refusals, by method."""
    sdb = FlakyFileServer(tmp_path / "in")
    try:
        env = {"VTAC_SDB__URL": sdb.base, "VTAC_SDB__FETCH_URLS": sdb.base}
        services = _start(node, cluster, tmp_path, count, **env)
        bursts = _bursts(sky, tmp_path / "in", N_BURSTS, sdb_base=sdb.base)
        started = time.monotonic()
        messages = _interleaved(bursts)
        publish_inputs(observer.config, messages[: len(messages) // 2])
        time.sleep(1.0)
        disrupt(services, sdb, lambda: publish_inputs(observer.config, messages[len(messages) // 2 :]))
        tally = _settle(label, services, observer, cluster, bursts, started, timeout_s=300)
        tally.notes += observer.dead_reasons()
        _stop_all(services)
    finally:
        sdb.close()
    _check(tally)
    assert not tally.notes, f"{label}: good inputs dead-lettered: {tally.notes}"
    return sdb.refused


def _sdb_outage(seconds: float, during: Callable[[], None] = lambda: None) -> Callable[..., None]:
    def disrupt(_services, sdb, publish_rest) -> None:
        sdb.down = True
        publish_rest()
        time.sleep(seconds / 2)
        during()
        time.sleep(seconds / 2)
        sdb.down = False

    return disrupt


def _restart_broker(node: BrokerNode, observer: Observer, down_s: float) -> None:
    node.restart(down_s=down_s)
    observer._connect()  # pylint: disable=protected-access


def test_sdb_outage_of_puts_and_gets(node, cluster, sky, observer, tmp_path):
    refused = _through_http_sdb(
        "SDB outage 20 s (PUT and GET)",
        _sdb_outage(20.0),
        node=node,
        cluster=cluster,
        sky=sky,
        observer=observer,
        tmp_path=tmp_path,
    )
    assert refused["GET"] and refused["PUT"]


def test_broker_stop_inside_an_sdb_outage(node, cluster, sky, observer, tmp_path):
    refused = _through_http_sdb(
        "broker stop 10 s inside an SDB outage of 30 s",
        _sdb_outage(30.0, lambda: _restart_broker(node, observer, 10.0)),
        node=node,
        cluster=cluster,
        sky=sky,
        observer=observer,
        tmp_path=tmp_path,
    )
    assert refused["GET"]


@pytest.mark.parametrize("seconds", [20, 60])
def test_postgresql_stopped(node, cluster, sky, observer, tmp_path, seconds):  # noqa: PLR0917  # fixtures
    def stop_postgresql(_services, _sdb, publish_rest) -> None:
        cluster.stop()
        publish_rest()
        time.sleep(seconds)
        cluster.start()

    _through_http_sdb(
        f"PostgreSQL stopped {seconds} s",
        stop_postgresql,
        node=node,
        cluster=cluster,
        sky=sky,
        observer=observer,
        tmp_path=tmp_path,
    )


def test_mixed_faults_with_two_instances(node, cluster, sky, observer, tmp_path):
    def mixed(services, sdb, publish_rest) -> None:
        sdb.down = True
        publish_rest()
        time.sleep(2.0)
        services[0].kill()
        cluster.restart()
        _restart_broker(node, observer, 2.0)
        time.sleep(5.0)
        sdb.down = False

    refused = _through_http_sdb(
        "mixed: SDB down, SIGKILL, PostgreSQL and broker restarts, 2 instances",
        mixed,
        node=node,
        cluster=cluster,
        sky=sky,
        observer=observer,
        tmp_path=tmp_path,
        count=2,
    )
    assert refused["GET"]


# --- single costly messages: each dead-lettered with its reason, /live answering throughout ---------------


def _tfields_of_ten_million() -> bytes:
    """A source list whose one BINTABLE says TFIELDS = 10^7 (a well-formed file otherwise)."""
    cards = (
        "XTENSION= 'BINTABLE'",
        "BITPIX  =                    8",
        "NAXIS   =                    2",
        "NAXIS1  =                    8",
        "NAXIS2  =                    1",
        "PCOUNT  =                    0",
        "GCOUNT  =                    1",
        "TFIELDS =             10000000",
        "END",
    )
    table = "".join(card.ljust(80) for card in cards).encode().ljust(2880, b" ") + bytes(2880)
    content = _fits("BITPIX  =                    8", "NAXIS   =                    0") + table
    return _with({**GOOD_PRODUCT, "acronym": "QSRCLIST_VT"}, content=base64.b64encode(content).decode())


COSTLY: dict[str, bytes] = {
    'unterminated string of \\" (256 KB)': b'{"kind": "product", "filename": "' + b'\\"' * (128 * 1024),
    "[[],[],...] (4 MiB)": b"[" + b"[]," * ((4 * 1024 * 1024 - 8) // 3) + b"[]]",
    "TFIELDS = 10^7 in a source list": _tfields_of_ten_million(),
}
COSTLY_ROWS: list[str] = []

#: A source-list notification whose last field is left open: the string shapes below fill it.
_OPEN_PRODUCT = json.dumps({**GOOD_PRODUCT, "acronym": "QSRCLIST_VT"}).encode()[:-1] + b', "'
#: JSON shapes, each grown to a given size: (opening, one repeated element, closing).
JSON_SHAPES: dict[str, tuple[bytes, bytes, bytes]] = {
    "empty arrays": (b"[", b"[],", b"[]]"),
    "numbers": (b"[", b"1e308,", b"0]"),
    "keys": (b'{"kind": "product", ', b'"k": 0, ', b'"z": 0}'),
    "nesting": (b'{"kind": "product", "x": ', b'{"a": ', b"0"),
    "file name": (_OPEN_PRODUCT + b'filename": "', b"x", b'.fits"}'),
    "escaped file name": (_OPEN_PRODUCT + b'filename": "', b"\\u0000", b'"}'),
    "base64 content": (_OPEN_PRODUCT + b'content": "', b"QUFB", b'"}'),
}
BODY_SIZES_KB = (1, 256, 4 * 1024, 16 * 1024)


def _grown(shape: tuple[bytes, bytes, bytes], kilobytes: int) -> bytes:
    opening, element, closing = shape
    repeats = max(1, (kilobytes * 1024 - len(opening) - len(closing)) // len(element))
    return opening + element * repeats + closing


def _extreme_cards() -> dict[str, bytes]:
    """Source lists whose BINTABLE header holds extreme values (a well-formed file otherwise)."""
    extremes = {
        "NAXIS2 = 2^63 - 1": ("NAXIS2  =  9223372036854775807", "TFORM1  = '1D'"),
        "NAXIS1 = -1": ("NAXIS1  =                   -1", "TFORM1  = '1D'"),
        "TFORM1 = 10^12 D": ("NAXIS2  =                    1", "TFORM1  = '1000000000000D'"),
        "PCOUNT = 10^15": ("PCOUNT  =     1000000000000000", "TFORM1  = '1D'"),
        "TFORM1 = 'ZZ'": ("NAXIS2  =                    1", "TFORM1  = 'ZZ'"),
    }
    bodies = {}
    for label, (extreme, tform) in extremes.items():
        cards = {
            "XTENSION": "XTENSION= 'BINTABLE'",
            "BITPIX": "BITPIX  =                    8",
            "NAXIS": "NAXIS   =                    2",
            "NAXIS1": "NAXIS1  =                    8",
            "NAXIS2": "NAXIS2  =                    1",
            "PCOUNT": "PCOUNT  =                    0",
            "GCOUNT": "GCOUNT  =                    1",
            "TFIELDS": "TFIELDS =                    1",
        }
        cards[extreme.split()[0]] = extreme
        header = "".join(card.ljust(80) for card in (*cards.values(), tform, "END"))
        table = header.encode().ljust(2880, b" ") + bytes(2880)
        content = _fits("BITPIX  =                    8", "NAXIS   =                    0") + table
        bodies[f"source list with {label}"] = _with(
            {**GOOD_PRODUCT, "acronym": "QSRCLIST_VT"}, content=base64.b64encode(content).decode()
        )
    return bodies


FUZZED: dict[str, bytes] = {
    **{
        f"JSON {name} ({kilobytes} KB)": _grown(shape, kilobytes)
        for name, shape in JSON_SHAPES.items()
        for kilobytes in BODY_SIZES_KB
    },
    **_extreme_cards(),
}


def _dead_letter_one(
    observer: Observer, service: Service, label: str, body: bytes
) -> tuple[str, str, list[int]]:
    """Publish one message; its report row, its dead-letter reason and the /live answers meanwhile."""
    before = observer.dead_letters()
    probes: list[int] = []
    started = time.monotonic()
    observer.publish_input("product.QSRCLIST_VT", body)
    _wait(lambda: observer.dead_letters() > before, 30, lambda: probes.append(service.probe("/live")))
    seconds = time.monotonic() - started
    _, reason = observer.take_dead_letter() or (None, "")
    service.sample_rss()
    row = f"| {label} | {len(body) / 1024:.0f} | {seconds:.2f} | {reason[:100]} | "
    return row + f"{sum(code == 200 for code in probes)}/{len(probes)} |", reason, probes


@pytest.mark.parametrize("messages", [COSTLY, FUZZED], ids=["costly", "fuzzed 1 KB-16 MB"])
def test_costly_messages_are_dead_lettered_with_their_reason_while_live_answers(
    node, cluster, observer, tmp_path, messages
):
    services = _start(node, cluster, tmp_path)
    service = services[0]
    for label, body in messages.items():
        row, reason, probes = _dead_letter_one(observer, service, label, body)
        COSTLY_ROWS.append(row)
        assert reason and all(code == 200 for code in probes), (label, reason, probes)
    _stop_all(services)
    assert service.peak_rss_kb / 1024 <= RSS_LIMIT_MB
