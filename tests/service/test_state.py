"""Per-burst input store: repeats are no-ops, one change is one version, even with two instances racing."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import pytest

from vtac.errors import ConfigurationError, TransientError
from vtac.service.state import (
    BurstState,
    RecordOutcome,
    SqlInputStore,
    open_input_store,
    open_sqlite_store,
)


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], SqlInputStore]]:
    """A factory of stores on one database: each call is one more service instance."""
    opened: list[SqlInputStore] = []
    if request.param == "postgres":
        factory = request.getfixturevalue("postgres_store")
        factory()  # creates the tables once, before any race
    else:

        def factory() -> SqlInputStore:
            opened.append(open_sqlite_store(tmp_path / "state.db"))
            return opened[-1]

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def burst() -> str:
    """A fresh burst id, so runs against the shared PostgreSQL database never collide."""
    return f"sb{uuid.uuid4().hex[:12]}"


def test_new_inputs_bump_the_version_and_repeats_do_not(open_store, burst):
    store = open_store()
    first = store.record(burst, "QSRCLIST_VT", b"R list", b'{"r": 1}')
    repeat = store.record(burst, "QSRCLIST_VT", b"R list", b'{"r": 1, "redelivered": true}')
    second = store.record(burst, "QSRCLIST_VT", b"B list", b'{"b": 1}')
    mxt = store.record(burst, "QPO_MXT", b"R list", b'{"mxt": 1}')  # same bytes, other product: a change

    assert (first.changed, first.state) == (True, BurstState(1, 0))
    assert (repeat.changed, repeat.state) == (False, BurstState(1, 0))
    assert (second.state.version, mxt.state.version) == (2, 3)
    assert [item.payload for item in store.inputs(burst)] == [b'{"r": 1}', b'{"b": 1}', b'{"mxt": 1}']
    assert [item.acronym for item in store.inputs(burst, version=2)] == ["QSRCLIST_VT", "QSRCLIST_VT"]


def test_positions_before_any_source_list_wait_for_version_1(open_store, burst):
    store = open_store()
    alert = store.record(burst, "POSITION_ALERT", b"ECLAIRs notice", b"alert")
    mxt = store.record(burst, "QPO_MXT", b"mxt", b"mxt")
    assert (alert.changed, mxt.changed) == (True, True)
    assert store.burst_state(burst) == BurstState(0, 0)  # no product to build: no version
    assert [item.payload for item in store.inputs(burst)] == [b"alert", b"mxt"]  # waiting, yet known

    assert store.record(burst, "QSRCLIST_VT", b"R list", b"r").state == BurstState(1, 0)
    assert store.record(burst, "QPO_MXT", b"better mxt", b"mxt2").state.version == 2  # now a change
    assert [item.payload for item in store.inputs(burst, version=1)] == [b"alert", b"mxt", b"r"]
    store.set_aside(burst, 1, "the list cannot build")  # the waiting positions stay: they are no version's
    assert [item.payload for item in store.inputs(burst)] == [b"alert", b"mxt", b"mxt2"]
    assert not store.record(burst, "POSITION_ALERT", b"ECLAIRs notice", b"alert").changed


def test_published_version_tells_a_redelivery_to_finish_the_job(open_store, burst):
    store = open_store()
    store.record(burst, "QSRCLIST_VT", b"R list", b"r")
    assert store.record(burst, "QSRCLIST_VT", b"R list", b"r").state.needs_products  # first attempt died

    store.mark_published(burst, 1)
    assert not store.record(burst, "QSRCLIST_VT", b"R list", b"r").state.needs_products
    store.record(burst, "QPO_MXT", b"mxt", b"m")
    store.mark_published(burst, 2)
    store.mark_published(burst, 1)  # a slow, older publication arriving late
    assert store.burst_state(burst) == BurstState(2, 2)


def test_a_set_aside_version_is_left_out_and_counts_as_done_once_the_earlier_ones_are(open_store, burst):
    store = open_store()
    for key in (b"R list", b"bad list", b"B list", b"worse list"):
        store.record(burst, "QSRCLIST_VT", key, key)

    store.set_aside(burst, 2, "file bad.fits: no usable source row")
    assert store.burst_state(burst) == BurstState(4, 0)  # v1 is not published yet: nothing skipped
    store.mark_published(burst, 3)
    store.set_aside(burst, 4, "file worse.fits: unreadable FITS")
    store.set_aside(burst, 4, "again")  # a second attempt keeps the first reason

    assert [item.payload for item in open_store().inputs(burst)] == [b"R list", b"B list"]
    assert store.set_aside_versions(burst) == {
        2: "file bad.fits: no usable source row",
        4: "file worse.fits: unreadable FITS",
    }
    assert not store.burst_state(burst).needs_products


def test_the_sweeper_finds_the_quiet_unnotified_bursts_with_a_list_and_no_live_claim(open_store):
    store = open_store()
    prefix = f"sb{uuid.uuid4().hex[:8]}"
    unbuilt, published, position_only, claimed, bad_list = (f"{prefix}{n}" for n in range(5))
    for burst in (unbuilt, published, claimed, bad_list):
        store.record(burst, "QSRCLIST_VT", b"R list", b"r")
    store.record(unbuilt, "QPO_MXT", b"mxt", b"m")
    store.mark_published(unbuilt, 1)  # v2 stored, never notified
    store.mark_published(published, 1)
    store.record(position_only, "MXT_POSITION", b"mxt", b"m")
    store.claim(claimed, "a live instance", 60.0)
    store.record(bad_list, "QPO_MXT", b"mxt", b"m")
    store.set_aside(bad_list, 1, "unreadable")

    def found(quiet_s: float) -> list[str]:  # the database is shared: other tests' bursts are there too
        listed = open_store().unnotified_bursts(quiet_s=quiet_s, limit=1_000_000)
        return [burst for burst in listed if burst.startswith(prefix)]

    assert found(0.0) == [unbuilt]
    assert found(3600.0) == []


def test_a_failed_record_leaves_no_trace(open_store, burst):
    store = open_store()
    with pytest.raises(Exception, match=r"(?i)null"):
        store.record(burst, "QSRCLIST_VT", b"R list", None)
    assert store.burst_state(burst) == BurstState(0, 0)
    assert store.record(burst, "QSRCLIST_VT", b"R list", b"r").state.version == 1


def test_unknown_burst_is_empty(open_store, burst):
    store = open_store()
    assert store.burst_state(burst) == BurstState(0, 0)
    assert store.inputs(burst) == []


def test_state_survives_a_restart(open_store, burst):
    open_store().record(burst, "QSRCLIST_VT", b"R list", b"r")
    restarted = open_store()
    assert restarted.record(burst, "QSRCLIST_VT", b"R list", b"r").changed is False
    assert restarted.burst_state(burst).version == 1


def _race(
    stores: list[SqlInputStore], action: Callable[[SqlInputStore, int], RecordOutcome]
) -> list[RecordOutcome]:
    """Run ``action`` on every store at the same instant, each in its own thread (one instance each)."""
    barrier = threading.Barrier(len(stores))
    results: list[RecordOutcome] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        barrier.wait()
        outcome = action(stores[index], index)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def _record_same(burst: str, store: SqlInputStore, _index: int) -> RecordOutcome:
    return store.record(burst, "QSRCLIST_VT", b"R", b"r")


def _record_own(burst: str, store: SqlInputStore, index: int) -> RecordOutcome:
    return store.record(burst, "QSRCLIST_VT", f"{index}".encode(), b"x")


def test_two_instances_racing_on_one_change_make_one_version(open_store):
    stores = [open_store(), open_store()]
    for _ in range(15):
        burst = f"sb{uuid.uuid4().hex[:12]}"
        outcomes = _race(stores, partial(_record_same, burst))
        assert sorted(outcome.changed for outcome in outcomes) == [False, True]
        assert stores[0].burst_state(burst).version == 1


def test_two_instances_racing_on_two_changes_make_two_versions(open_store):
    stores = [open_store(), open_store()]
    for _ in range(15):
        burst = f"sb{uuid.uuid4().hex[:12]}"
        stores[0].record(burst, "QSRCLIST_VT", b"R", b"r")  # an existing burst: the race is on its row
        outcomes = _race(stores, partial(_record_own, burst))
        assert sorted(outcome.state.version for outcome in outcomes) == [2, 3]
        assert [item.version for item in stores[1].inputs(burst)] == [1, 2, 3]


def test_open_input_store_dispatches_on_the_url(tmp_path):
    for url in (f"sqlite:///{tmp_path / 'a.db'}", str(tmp_path / "b.db"), "sqlite:///"):
        store = open_input_store(url)
        assert store.record("sb1", "QPO_MXT", b"k", b"p").changed
        store.close()
    assert (tmp_path / "a.db").exists()
    assert (tmp_path / "b.db").exists()
    with pytest.raises(ConfigurationError, match=r"mysql://vtac:\*\*\*@db/x"):
        open_input_store("mysql://vtac:secret@db/x")


def test_unreachable_postgres_is_transient_and_hides_the_password():
    with pytest.raises(TransientError, match=r"vtac:\*\*\*@127.0.0.1:1/x") as caught:
        open_input_store("postgresql://vtac:secret@127.0.0.1:1/x")
    assert "secret" not in str(caught.value)


def test_a_locked_database_is_a_transient_error(tmp_path):
    holder = open_sqlite_store(tmp_path / "state.db")
    waiter = open_sqlite_store(tmp_path / "state.db", timeout_s=0.05)
    holder._conn.execute("BEGIN IMMEDIATE")  # another instance in the middle of a long write
    try:
        with pytest.raises(TransientError, match="input store unavailable"):
            waiter.record("sb1", "QPO_MXT", b"k", b"p")
    finally:
        holder._conn.execute("ROLLBACK")
    assert waiter.record("sb1", "QPO_MXT", b"k", b"p").changed
