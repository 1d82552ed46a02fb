"""Service messages: what upstream may send, what is refused (and why), and what the BA receives."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest
from paths import REPO
from pydantic import ValidationError
from results import make_result

from vtac.adapters.summary import build_summary
from vtac.core.records import MxtPosition
from vtac.errors import InputError
from vtac.provenance import CodeVersion
from vtac.service.messages import (
    INPUT_ADAPTER,
    MxtPositionV1,
    ProductNotificationV1,
    QpoVtNotificationV1,
    SdbLocation,
    message_json_schemas,
    notification_from_summary,
    parse_input,
)

ICD = REPO / "docs" / "ICD.md"
FITS_START = b"SIMPLE  =                    T"

PRODUCT = {
    "kind": "product",
    "schema_version": "1",
    "acronym": "QSRCLIST_VT",
    "burst_id": "sb25020504",
    "product_time": "2025-02-05T04:12:30Z",
    "product_version": 1,
    "content": base64.b64encode(FITS_START).decode(),
}
POSITION = {
    "kind": "mxt_position",
    "schema_version": "1",
    "burst_id": "sb25020504",
    "ra": 212.64,
    "dec": 29.69,
    "r90_arcsec": 12.5,
    "position_time": "2025-02-05T04:11:58Z",
    "position_version": 1,
}
LOCATION = SdbLocation(
    qpo_vt="file:///sdb/q.fits", qcandi_vt="file:///sdb/c.fits", summary="file:///sdb/s.json"
)


def _body(message: dict[str, Any], **changes: Any) -> bytes:
    return json.dumps({**message, **changes}).encode()


def _icd_examples() -> list[dict[str, Any]]:
    blocks = re.findall(r"```json\n(.*?)```", ICD.read_text(encoding="utf-8"), flags=re.DOTALL)
    return [json.loads(block) for block in blocks]


def test_inline_product_is_decoded_and_round_trips():
    message = parse_input(_body(PRODUCT, extra_key_from_a_newer_producer=1))
    assert isinstance(message, ProductNotificationV1)
    assert message.content == FITS_START
    assert message.product_time == datetime(2025, 2, 5, 4, 12, 30, tzinfo=UTC)
    assert parse_input(message.model_dump_json()) == message


def test_a_publisher_builds_messages_from_raw_bytes():
    message = ProductNotificationV1(
        acronym="QPO_MXT",
        burst_id="sb25020504",
        product_time=datetime(2025, 2, 5, tzinfo=UTC),
        product_version=3,
        content=FITS_START,
    )
    assert json.loads(message.model_dump_json())["content"] == PRODUCT["content"]
    assert parse_input(message.model_dump_json()) == message
    assert INPUT_ADAPTER.validate_python(message) is message


def test_product_by_reference():
    url = "https://sdb.example/files/v1/bursts/sb25020504/products/QSRCLIST_VT/versions/1"
    message = parse_input(_body({**PRODUCT, "content": None}, sdb_url=url))
    assert isinstance(message, ProductNotificationV1)
    assert str(message.sdb_url) == url


def test_position_message_gives_the_core_position():
    message = parse_input(_body(POSITION))
    assert isinstance(message, MxtPositionV1)
    assert message.acronym == "MXT_POSITION"
    assert message.to_core() == MxtPosition(ra=212.64, dec=29.69, r90_arcsec=12.5)


def test_content_key_ignores_resending_but_sees_a_new_product():
    first = parse_input(_body(PRODUCT))
    resent = parse_input(_body(PRODUCT, product_time="2025-02-05T05:00:00Z"))
    changed = parse_input(_body(PRODUCT, content=base64.b64encode(FITS_START + b" ").decode()))
    moved = parse_input(_body(POSITION, r90_arcsec=6.0))
    assert first.content_key() == resent.content_key() != changed.content_key()
    assert parse_input(_body(POSITION)).content_key() != moved.content_key()
    by_url = {**PRODUCT, "content": None, "sdb_url": "https://sdb.example/x"}
    assert (
        parse_input(_body(by_url)).content_key()
        != parse_input(_body(by_url, product_version=2)).content_key()
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", r"^invalid input message: Invalid JSON"),
        (_body(PRODUCT, kind="qpo_vt"), r"unknown kind/schema_version"),
        (_body(PRODUCT, schema_version="2"), r"unknown kind/schema_version"),
        (_body({k: v for k, v in PRODUCT.items() if k != "kind"}), r"unknown kind/schema_version"),
        (_body(PRODUCT, acronym="QPO_VT"), r"^column acronym: .*'QSRCLIST_VT' or 'QPO_MXT'"),
        (_body(PRODUCT, sdb_url="https://sdb.example/x"), r"exactly one of sdb_url and content"),
        (_body({**PRODUCT, "content": None}), r"exactly one of sdb_url and content"),
        (_body(PRODUCT, content="not base64!"), r"^column content: .*not valid base64"),
        (_body(PRODUCT, content=""), r"^column content: .*empty content"),
        (_body(PRODUCT, content=12), r"^column content: .*expected a base64 string"),
        (_body(PRODUCT, burst_id="sb1/../x"), r"^column burst_id: "),
        (_body(PRODUCT, product_time="2025-02-05T04:12:30"), r"^column product_time: .*timezone"),
        (_body(PRODUCT, product_version=-1), r"^column product_version: "),
        (_body(POSITION, ra=360.0), r"^column ra: .*less than 360"),
        (_body(POSITION, r90_arcsec=0), r"^column r90_arcsec: "),
        (_body(POSITION, dec=-91, ra=-1), r"^column ra: .*\(\+1 more\)$"),
        (json.dumps(POSITION).replace("212.64", "NaN").encode(), r"^column ra: .*finite"),
    ],
)
def test_invalid_inputs_are_refused_with_one_line_naming_the_field(body: bytes, reason: str):
    with pytest.raises(InputError, match=reason) as caught:
        parse_input(body)
    assert "\n" not in str(caught.value)
    assert not caught.value.retriable


def _notification() -> QpoVtNotificationV1:
    summary = build_summary(make_result(), code=CodeVersion("0.1.0", "unknown"))
    return notification_from_summary(
        summary, product_version=2, sdb=LOCATION, created=datetime(2025, 2, 5, 4, 13, 3, tzinfo=UTC)
    )


def test_notification_carries_the_best_candidates_best_first():
    summary = build_summary(make_result(), code=CodeVersion("0.1.0", "unknown"))
    notification = _notification()
    assert [item.vt_id for item in notification.best_candidates] == summary.best_candidates
    assert [item.rank for item in notification.best_candidates] == sorted(
        item.rank for item in notification.best_candidates
    )
    best = notification.best_candidates[0]
    assert best.flags.mag_var == summary.candidates[0].mag_var
    assert best.magnitudes["R0"] is not None
    assert notification.n_candidates == summary.n_candidates
    assert notification.sdb == LOCATION


def test_notification_json_is_strict_and_matches_its_schema():
    text = _notification().model_dump_json()
    assert "NaN" not in text
    schema = message_json_schemas()["qpo_vt_notification.v1"]
    jsonschema.Draft202012Validator(schema).validate(json.loads(text))
    assert QpoVtNotificationV1.model_validate_json(text) == _notification()
    with pytest.raises(ValidationError, match="extra_forbidden"):
        QpoVtNotificationV1.model_validate_json(text.replace('"verified"', '"typo":1,"verified"', 1))


def test_exported_schemas_require_the_union_tag():
    schemas = message_json_schemas()
    validator = jsonschema.Draft202012Validator(schemas["vtac_input.v1"])
    assert validator.is_valid(PRODUCT)
    assert validator.is_valid(POSITION)
    assert not validator.is_valid({k: v for k, v in POSITION.items() if k != "kind"})


def test_every_icd_example_is_valid():
    examples = _icd_examples()
    kinds = sorted(example["kind"] for example in examples)
    assert kinds == ["alert", "mxt_position", "product", "product", "qpo_vt"]
    for example in examples:
        if example["kind"] == "qpo_vt":
            QpoVtNotificationV1.model_validate(example)
        else:
            parse_input(json.dumps(example))
