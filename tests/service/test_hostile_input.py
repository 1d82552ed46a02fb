"""Hostile and careless input: every bound holds, fast, with a reason that names it (issue 9, item 1).

Each case here once hung, crashed or exhausted memory: a 4 KB FITS header claiming 10**12 axes, a negative
axis length, a gzip bomb, JSON nested a thousand deep, strings where numbers belong, ``..`` as a burst id.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from paths import SDSS
from service_rig import (
    BURST_ID,
    all_off_sky,
    best_of,
    deliver,
    inputs_of,
    position,
    product,
    store_unchecked,
    with_tables,
)

from vtac.adapters.mxt import read_qpo_mxt
from vtac.adapters.rawfits import FITS_BLOCK, fits_hdus
from vtac.adapters.srclist import read_srclists
from vtac.errors import InputError, TransientError
from vtac.service.messages import check_body_bounds, parse_input
from vtac.service.outcome import Action
from vtac.service.processor import Processor, unreadable_is_permanent
from vtac.service.sdb import FileSdb
from vtac.service.state import open_sqlite_store
from vtac.settings import VtacSettings


def header_block(*cards: str) -> bytes:
    """One FITS header block made of these cards (``KEY = value``), END and blank padding."""
    text = "".join(card.ljust(80) for card in (*cards, "END"))
    return text.encode("ascii").ljust(FITS_BLOCK, b" ")


def primary(*cards: str) -> bytes:
    return header_block("SIMPLE  =                    T", *cards)


def card(keyword: str, value: object) -> str:
    return f"{keyword:<8}= {value!s:>20}"


# --- FITS header values -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cards", "named"),
    [
        ((card("BITPIX", 8), card("NAXIS", 10**12)), "NAXIS = 1000000000000"),
        ((card("BITPIX", 8), card("NAXIS", 1), card("NAXIS1", -2880)), "NAXIS1 = -2880"),
        ((card("BITPIX", 8), card("NAXIS", 2), card("NAXIS1", 10**9), card("NAXIS2", 10**9)), "beyond"),
        ((card("BITPIX", 7), card("NAXIS", 0)), "BITPIX = 7"),
        ((card("BITPIX", 8), card("NAXIS", 1)), "NAXIS1 missing"),
        ((card("BITPIX", 8), card("NAXIS", "1.5")), "NAXIS = 1.5"),
        ((card("BITPIX", 8), card("NAXIS", 1), card("NAXIS1", 8), card("PCOUNT", -8)), "PCOUNT = -8"),
        ((card("BITPIX", 8), card("NAXIS", 1), card("NAXIS1", 8), card("GCOUNT", "T")), "GCOUNT = True"),
        ((card("BITPIX", 16), card("NAXIS", 1), card("NAXIS1", 10**6)), "data shorter than the header"),
    ],
    ids=[
        "naxis-1e12",
        "negative-axis",
        "huge-product",
        "bitpix",
        "missing-axis",
        "real-naxis",
        "pcount",
        "gcount",
        "data-beyond-file",
    ],
)
def test_a_fits_header_that_sizes_the_data_wrongly_is_refused_at_once(cards, named):
    started = time.monotonic()
    with pytest.raises(InputError, match=named) as error:
        fits_hdus(primary(*cards), "hostile.fits")

    assert "file hostile.fits, HDU 0" in str(error.value)
    assert time.monotonic() - started < 0.5


def test_a_gzip_bomb_is_refused_naming_the_bound_without_inflating_it(tmp_path):
    bomb = gzip.compress(primary(card("BITPIX", 8), card("NAXIS", 0)) + bytes(64 * 1024 * 1024))
    assert len(bomb) < 100_000

    with pytest.raises(InputError, match="max_fits_bytes=1048576"):
        fits_hdus(bomb, "QPO_MXT.fits.gz", max_bytes=1024 * 1024)
    with pytest.raises(InputError, match="gzip"):
        fits_hdus(bomb[: len(bomb) // 2], "cut.fits.gz")
    with pytest.raises(InputError, match="max_fits_bytes=2880"):
        fits_hdus(primary() + primary(), "big.fits", max_bytes=2880)


def test_a_fits_file_cut_inside_its_padding_is_an_error_not_missing_sequences(burst, tmp_path):
    whole = burst[1]["srclist_R"].read_bytes()
    hdus = fits_hdus(whole, "R.fits")
    first_table = hdus[1]
    cut_at = len(hdus[0].header_bytes) + len(first_table.header_bytes) + len(first_table.data) + 10
    cut = tmp_path / "QSRCLIST_VT_R_cut.fits"
    cut.write_bytes(whole[:cut_at])

    with pytest.raises(InputError, match="truncated inside the padding") as error:
        read_srclists([cut])
    assert "QSRCLIST_VT_R_cut.fits" in str(error.value)
    mxt = tmp_path / "QPO_MXT_cut.fits"
    mxt.write_bytes(burst[1]["mxt"].read_bytes()[:-10])
    with pytest.raises(InputError, match="truncated"):
        read_qpo_mxt(mxt)


# --- message bounds and strict wire types -------------------------------------------------------------------


@pytest.mark.parametrize("depth", [17, 1000, 100_000])
def test_deep_json_is_refused_before_parsing_naming_the_bound(depth):
    body = b'{"kind": "product", "x": ' + b"[" * depth + b"]" * depth + b"}"
    with pytest.raises(InputError, match="max_json_depth=16"):
        parse_input(body)


def test_brackets_inside_strings_do_not_count_and_size_is_bounded():
    check_body_bounds(b'{"a": "[[[[[[[[[[[[[[[[[[[[\\"[[[["}', max_bytes=100, max_depth=2)
    with pytest.raises(InputError, match="max_message_bytes=1024"):
        parse_input(b" " * 1025, max_bytes=1024)


@pytest.mark.parametrize(
    ("field", "value"),
    [("ra", "12"), ("dec", True), ("r90_arcsec", True), ("position_version", "1"), ("position_version", 1.0)],
)
def test_numbers_on_the_wire_are_json_numbers_never_coerced(field, value):
    message = json.loads(position(12.0, 5.0, 10.0))
    with pytest.raises(InputError, match=f"column {field}"):
        parse_input(json.dumps({**message, field: value}))


@pytest.mark.parametrize("burst_id", [".", "..", ".hidden", "a/b", "x/../../escaped", "a\\b", ""])
def test_unsafe_burst_ids_are_refused(burst_id):
    message = json.loads(position(12.0, 5.0, 10.0))
    with pytest.raises(InputError, match="column burst_id"):
        parse_input(json.dumps({**message, "burst_id": burst_id}))


# --- the processor: rejected, nothing stored, fast ----------------------------------------------------------


@pytest.fixture
def bounded(tmp_path) -> Iterator[Processor]:
    settings = VtacSettings(
        state_dir=tmp_path,
        catalogues={"sources": [SDSS]},
        max_fits_bytes=1024 * 1024,
        max_message_bytes=2 * 1024 * 1024,
    )
    store = open_sqlite_store(tmp_path / "state.db")
    yield Processor(settings, store=store, sdb=FileSdb(tmp_path / "sdb"))
    store.close()


def _inline(acronym: str, content: bytes, burst_id: str = BURST_ID) -> bytes:
    message = json.loads(position(1.0, 1.0, 1.0))
    return json.dumps(
        {
            "kind": "product",
            "schema_version": "1",
            "acronym": acronym,
            "burst_id": burst_id,
            "product_time": message["position_time"],
            "product_version": 1,
            "content": base64.b64encode(content).decode(),
        }
    ).encode()


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (_inline("QPO_MXT", primary(card("BITPIX", 8), card("NAXIS", 10**12))), "NAXIS = 1000000000000"),
        (
            _inline("QSRCLIST_VT", primary(card("BITPIX", 8), card("NAXIS", 1), card("NAXIS1", -2880))),
            "NAXIS1",
        ),
        (_inline("QPO_MXT", gzip.compress(primary() + bytes(8 * 1024 * 1024))), "max_fits_bytes=1048576"),
        (b"[" * 50_000 + b"]" * 50_000, "max_json_depth"),
        (b'{"burst_id": "sb1", "pad": "' + b" " * (2 * 1024 * 1024) + b'"}', "max_message_bytes"),
        (_inline("QPO_MXT", primary(), burst_id=".."), "burst_id"),
    ],
    ids=["naxis", "negative", "gzip-bomb", "deep", "large", "dotdot"],
)
def test_a_hostile_message_is_rejected_naming_the_bound_and_nothing_is_stored(bounded, body, named):
    started = time.monotonic()
    outcome = bounded.process(body)

    assert outcome.action is Action.REJECT and named in outcome.reason
    assert time.monotonic() - started < 2.0
    assert bounded.store.burst_state(BURST_ID).version == 0
    assert bounded.store.burst_state("..").version == 0
    assert not list(Path(bounded.settings.state_dir, "sdb").glob("*"))


def test_good_inputs_still_pass_the_bounds(bounded, burst):
    outcome = bounded.process(inputs_of(burst)["R"])
    assert outcome.action is Action.ACK and outcome.product_version == 1
    assert bounded.process(product("QPO_MXT", burst[1]["mxt"])).action is Action.ACK


# --- issue 21: linear-time checks, reader failures permanent, no poisoned burst -----------------------------


def bintable(*cards: str, data: bytes = bytes(8)) -> bytes:
    """A BINTABLE extension: a header block with these cards, then ``data`` padded with zeros to a block."""
    head = header_block(
        card("XTENSION", "'BINTABLE'"), card("BITPIX", 8), card("PCOUNT", 0), card("GCOUNT", 1), *cards
    )
    return head + data + bytes(-len(data) % FITS_BLOCK)


@pytest.mark.parametrize(
    ("extension", "named"),
    [
        (
            bintable(card("NAXIS", 2), card("NAXIS1", 8), card("NAXIS2", 1), card("TFIELDS", 10**7)),
            "TFIELDS = 10000000 is not",
        ),
        (
            bintable(card("NAXIS", 2), card("NAXIS1", 0), card("NAXIS2", 0), card("TFIELDS", "'abc'")),
            "TFIELDS",
        ),
        (
            bintable(
                card("NAXIS", 2),
                card("NAXIS1", 8),
                card("NAXIS2", 1),
                card("TFIELDS", 1),
                card("TFORM1", "'ZZ'"),
            ),
            "TFORM1 = 'ZZ'",
        ),
        (
            bintable(
                card("NAXIS", 2),
                card("NAXIS1", 0),
                card("NAXIS2", 5),
                card("TFIELDS", 1),
                card("TFORM1", "'D'"),
            ),
            "NAXIS1 = 0 differs from the 8 bytes",
        ),
        (
            bintable(
                card("NAXIS", 2),
                card("NAXIS1", 8),
                card("NAXIS2", 1),
                card("TFIELDS", 1),
                card("TFORM1", "'D'"),
                data=b"\x01" * 24,
            ),
            "in the padding of this HDU",
        ),
        (
            bintable(card("NAXIS", 1), card("NAXIS1", 8), card("TFIELDS", 1), card("TFORM1", "'D'")),
            "NAXIS = 1",
        ),
    ],
    ids=["tfields-1e7", "tfields-text", "tform-zz", "naxis1-zero", "naxis2-understated", "naxis-1"],
)
def test_binary_table_cards_are_checked_against_each_other_before_any_read(extension, named):
    with pytest.raises(InputError, match=named) as error:
        fits_hdus(primary(card("BITPIX", 8), card("NAXIS", 0)) + extension, "list.fits")

    assert "file list.fits, HDU 1" in str(error.value)


def test_bytes_after_the_last_hdu_are_refused_not_silently_dropped(burst):
    whole = burst[1]["srclist_R"].read_bytes()
    hdus = fits_hdus(whole, "R.fits")
    assert [hdu.name for hdu in hdus[1:]] == ["FINDCH_R0", "FINDCH_R1", "FINDCH_R2", "FINDCH_R3"]
    first = (
        len(hdus[0].header_bytes)
        + len(hdus[1].header_bytes)
        + -(-len(hdus[1].data) // FITS_BLOCK) * FITS_BLOCK
    )
    # The first table's header understates its size: the next HDUs no longer start where it ends.
    hidden = whole[:first] + b"\x01" + whole[first + 1 :]

    with pytest.raises(InputError, match=r"after the last HDU \(\d+ bytes\)"):
        fits_hdus(hidden, "R.fits")
    assert len(fits_hdus(whole + bytes(FITS_BLOCK), "R.fits")) == 5  # zero blocks at the end are padding


@pytest.mark.parametrize("seed", range(3))
def test_random_header_damage_is_an_input_error_or_a_good_read(burst, tmp_path, seed):
    whole = burst[1]["srclist_R"].read_bytes()
    spans, offset = [], 0
    for hdu in fits_hdus(whole, "R.fits"):
        spans.append((offset, offset + len(hdu.header_bytes)))
        offset += len(hdu.header_bytes) + -(-len(hdu.data) // FITS_BLOCK) * FITS_BLOCK
    rng = np.random.default_rng(seed)
    damaged = tmp_path / "R.fits"
    outcomes = {"read": 0, "refused": 0}
    for _ in range(100):
        start, end = spans[rng.integers(len(spans))]
        raw = bytearray(whole)
        raw[rng.integers(start, end)] = rng.integers(32, 127)
        damaged.write_bytes(bytes(raw))
        try:
            fits_hdus(bytes(raw), damaged.name)
            read_srclists([damaged])
            outcomes["read"] += 1
        except InputError as exc:
            assert "R.fits" in str(exc)
            outcomes["refused"] += 1
    assert outcomes["read"] and outcomes["refused"]


def test_any_reader_failure_is_permanent_and_names_the_file():
    unreadable = pytest.raises(InputError, match=r"file R\.fits: unreadable FITS: KeyError: 'TTYPE4'")
    with unreadable, unreadable_is_permanent("FITS", "R.fits"):
        raise KeyError("TTYPE4")
    # The SDB or the disk, not the bytes: retried.
    with pytest.raises(TransientError), unreadable_is_permanent("FITS", "R.fits"):
        raise TransientError("SDB unavailable")


def _string_of_escaped_quotes(size: int) -> bytes:
    return b'{"kind": "product", "filename": "' + b'\\"' * (size // 2)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (_string_of_escaped_quotes(256 * 1024), "unterminated JSON string"),
        (b"[" + b"[]," * ((4 * 1024 * 1024 - 8) // 3) + b"[]]", "max_json_elements=1000"),
        (b'{"a": [' + b"1," * 2000 + b'1], "b": "' + b"[],:" * 10_000 + b'"}', "max_json_elements=1000"),
    ],
    ids=["unterminated-256k", "lists-4mib", "numbers"],
)
def test_costly_json_is_dead_lettered_with_its_reason_before_parsing(processor, body, named):
    assert len(body) <= processor.settings.max_message_bytes
    outcome = processor.process(body)

    assert outcome.action is Action.REJECT and named in outcome.reason
    assert processor.store.burst_state(BURST_ID).version == 0


def test_string_bounds_follow_json_escapes():
    check_body_bounds(
        b'{"a": "\\\\", "b": "\\\\\\"[[[", "c": []}', max_bytes=100, max_depth=2, max_elements=7
    )
    with pytest.raises(InputError, match="max_json_depth=1"):
        check_body_bounds(b'{"a": "\\\\", "b": [[]]}', max_bytes=100, max_depth=1)
    with pytest.raises(InputError, match="unterminated JSON string from byte 6"):
        check_body_bounds(b'{"a": "\\\\\\"}', max_bytes=100, max_depth=1)
    with pytest.raises(InputError, match="max_json_elements=3"):
        check_body_bounds(b'{"a": 1, "b": 2}', max_bytes=100, max_depth=1, max_elements=3)


def test_a_position_time_that_is_a_json_number_is_refused():
    message = json.loads(position(12.0, 5.0, 10.0))
    with pytest.raises(InputError, match="column position_time"):
        parse_input(json.dumps({**message, "position_time": 1_778_364_120}))


def test_tfields_of_ten_million_is_dead_lettered_not_retried(processor):
    huge = primary(card("BITPIX", 8), card("NAXIS", 0)) + bintable(
        card("NAXIS", 2), card("NAXIS1", 8), card("NAXIS2", 1), card("TFIELDS", 10**7)
    )
    for acronym in ("QSRCLIST_VT", "QPO_MXT"):
        outcome = processor.process(_inline(acronym, huge))
        assert outcome.action is Action.REJECT and "TFIELDS = 10000000" in outcome.reason
    assert processor.store.burst_state(BURST_ID).version == 0


def test_an_empty_findch_extension_is_a_sequence_without_sources(processor, burst, tmp_path):
    simulated, paths = burst
    empty_r1 = with_tables(
        paths["srclist_R"], tmp_path / "R_empty.fits", lambda n, rows: rows[:0] if n == 1 else rows
    )
    deliver(processor, position(simulated.mxt.ra, simulated.mxt.dec, simulated.mxt.r90_arcsec))

    outcome = deliver(processor, product("QSRCLIST_VT", empty_r1))

    assert outcome.action is Action.ACK and len(outcome.notifications) == 2
    stored = next(Path(processor.settings.state_dir, "sdb").rglob("QPO_VT_*.fits"))
    with fits.open(stored) as qpo:
        assert qpo[0].header["BURST_ID"] == BURST_ID


def test_a_list_without_usable_rows_is_refused_before_it_can_poison_its_burst(processor, burst, tmp_path):
    simulated, paths = burst
    deliver(processor, position(simulated.mxt.ra, simulated.mxt.dec, simulated.mxt.r90_arcsec))

    def all_off_sky(_: int, rows):
        rows["RA"] = -1.0
        return rows

    bad = with_tables(paths["srclist_R"], tmp_path / "R_bad.fits", all_off_sky)
    refused = deliver(processor, product("QSRCLIST_VT", bad))
    corrected = deliver(processor, product("QSRCLIST_VT", paths["srclist_R"], version=2))
    other_band = deliver(processor, product("QSRCLIST_VT", paths["srclist_B"]))

    assert refused.action is Action.REJECT and "every row was rejected" in refused.reason
    assert "R_bad.fits" in refused.reason
    assert corrected.action is Action.ACK and corrected.product_version == 1
    assert other_band.action is Action.ACK and other_band.product_version == 2
    assert processor.store.burst_state(BURST_ID).published == 2


def test_a_stored_input_that_cannot_build_is_set_aside_with_its_reason(processor, burst, tmp_path):
    simulated, paths = burst
    bad = with_tables(paths["srclist_R"], tmp_path / "R_bad.fits", all_off_sky)
    store_unchecked(processor, product("QSRCLIST_VT", bad), ["R0", "R1", "R2", "R3"])
    mxt_body = position(simulated.mxt.ra, simulated.mxt.dec, simulated.mxt.r90_arcsec)

    mxt = deliver(processor, mxt_body)
    good = deliver(processor, product("QSRCLIST_VT", paths["srclist_R"], version=2))

    assert mxt.action is Action.ACK and mxt.reason == "no QSRCLIST_VT yet"
    (reason,) = processor.store.set_aside_versions(BURST_ID).values()
    assert "R_bad.fits" in reason and "no usable source row" in reason
    assert good.action is Action.ACK and [note.product_version for note in good.notifications] == [3, 3]
    assert processor.store.burst_state(BURST_ID).published == 3
    assert deliver(processor, mxt_body).reason == "repeated input"


def test_a_version_that_cannot_build_does_not_hold_back_the_others(processor, burst, tmp_path):
    simulated, paths = burst
    deliver(processor, position(simulated.mxt.ra, simulated.mxt.dec, simulated.mxt.r90_arcsec))
    bad = with_tables(paths["srclist_R"], tmp_path / "R_bad.fits", all_off_sky)
    store_unchecked(processor, product("QSRCLIST_VT", bad, version=2), ["R0", "R1", "R2", "R3"])

    outcome = deliver(processor, product("QSRCLIST_VT", paths["srclist_B"]))

    assert outcome.action is Action.ACK and [note.product_version for note in outcome.notifications] == [2, 2]
    assert list(processor.store.set_aside_versions(BURST_ID)) == [1]
    assert processor.store.burst_state(BURST_ID).published == 2
    assert best_of(outcome)["flags"]["in_mxt"] is True  # the position that came first was kept
    assert processor.store.claim(BURST_ID, "another instance", 60.0)  # the claim was given back
