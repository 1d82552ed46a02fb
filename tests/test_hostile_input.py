"""Hostile and careless input: every bound holds, fast, with a reason that names it (issue 9, item 1).

Each case here once hung, crashed or exhausted memory: a 4 KB FITS header claiming 10**12 axes, a negative
axis length, a gzip bomb, JSON nested a thousand deep, strings where numbers belong, ``..`` as a burst id.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
from pathlib import Path

import pytest
from test_processor import BURST_ID, SDSS, inputs_of, position, product

from vtac.adapters.mxt import read_qpo_mxt
from vtac.adapters.rawfits import FITS_BLOCK, fits_hdus
from vtac.adapters.srclist import read_srclists
from vtac.errors import InputError
from vtac.service.config import ServiceSettings
from vtac.service.messages import check_body_bounds, parse_input
from vtac.service.outcome import Action
from vtac.service.processor import Processor
from vtac.service.sdb import FileSdb
from vtac.service.state import open_sqlite_store

pytest_plugins = ["test_processor"]


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
def bounded(tmp_path) -> Processor:
    settings = ServiceSettings(
        state_dir=tmp_path, catalogs=[SDSS], max_fits_bytes=1024 * 1024, max_message_bytes=2 * 1024 * 1024
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
