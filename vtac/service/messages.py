"""Versioned JSON messages of the service: what comes in from the upstream pipelines, what goes out.

Inbound models ignore unknown keys (producers may add fields without breaking us); outbound models forbid
them (we never emit a typo). Every message carries ``kind`` and ``schema_version``; the pair is the tag of a
discriminated union, so an unknown kind or version is one clear error instead of a cascade of mismatches.
Parse raw bodies with :func:`parse_input` (bytes straight from the broker, no ``json.loads`` first).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import unquote

import numpy as np
from numpy.typing import NDArray
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    HttpUrl,
    PlainSerializer,
    Tag,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from vtac.adapters.summary import Candidate, QpoVtSummary
from vtac.core.naming import BURST_ID_PATTERN
from vtac.core.records import MxtPosition
from vtac.errors import InputError

SCHEMA_VERSION: Literal["1"] = "1"
PRODUCT_ACRONYMS = ("QSRCLIST_VT", "QPO_MXT")
OUTPUT_ACRONYMS = ("QPO_VT", "QCANDI_VT", "QPO_VT_SUMMARY")

BurstId = Annotated[str, Field(min_length=1, max_length=64, pattern=BURST_ID_PATTERN)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
#: On the wire a number is a JSON number: "12" or true is refused, never coerced.
StrictFinite = Annotated[float, Field(allow_inf_nan=False, strict=True)]
StrictCount = Annotated[int, Field(ge=0, strict=True)]
#: On the wire a time is an ISO 8601 string with its zone: a JSON number (epoch?) is refused, never guessed.
StrictTime = Annotated[AwareDatetime, Field(strict=True)]
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_JSON_DEPTH = 16
#: Most values (array items, object members) a body may hold: an input message has a dozen.
DEFAULT_MAX_JSON_ELEMENTS = 1000
_QUOTE, _BACKSLASH = ord('"'), ord("\\")
#: Byte -> +1 (opens a container), -1 (closes one), 2 (separates values), 0 (anything else).
_STRUCTURE = np.zeros(256, dtype=np.int8)
_STRUCTURE[list(b"[{")], _STRUCTURE[list(b"]}")], _STRUCTURE[list(b",:")] = 1, -1, 2


def _strict_base64(value: Any) -> bytes:
    """Decode strictly: a truncated or corrupted payload must be rejected, not silently shortened."""
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a base64 string")
    try:
        decoded = base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"not valid base64 ({exc})") from None
    if not decoded:
        raise ValueError("empty content")
    return decoded


def _no_dot_segments(value: Any) -> Any:
    """Refuse ``.``/``..`` path segments (also percent-encoded or with backslashes) in the URL as sent: the
    URL type would resolve them away, and the SDB allow-list must judge the path the sender wrote."""
    if isinstance(value, str):
        path = unquote(value.split("?", 1)[0].split("#", 1)[0]).replace("\\", "/")
        if any(segment in (".", "..") for segment in path.split("/")):
            raise ValueError("dot segments ('.', '..') in the path are refused")
    return value


Base64Content = Annotated[
    bytes,
    BeforeValidator(_strict_base64),
    PlainSerializer(lambda data: base64.b64encode(data).decode("ascii"), return_type=str),
    WithJsonSchema({"type": "string", "contentEncoding": "base64"}),
]


def _tag_required(schema: dict[str, Any]) -> None:
    """The union tag has defaults for convenience in Python, but on the wire it is mandatory."""
    if "kind" in schema.get("properties", {}):
        required = [name for name in schema.get("required", []) if name not in ("kind", "schema_version")]
        schema["required"] = ["kind", "schema_version", *required]


class _Inbound(BaseModel):
    """Tolerant reader: extra keys ignored, values frozen once validated."""

    model_config = ConfigDict(
        extra="ignore", frozen=True, str_strip_whitespace=True, json_schema_extra=_tag_required
    )


class _Outbound(BaseModel):
    """Strict writer: a misspelt field is a bug, never a silent extra key."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_tag_required)


class ProductNotificationV1(_Inbound):
    """An upstream product is available: by reference (``sdb_url``) or inline (``content``, base64 FITS)."""

    kind: Literal["product"] = "product"
    schema_version: Literal["1"] = SCHEMA_VERSION
    acronym: Literal["QSRCLIST_VT", "QPO_MXT"]
    burst_id: BurstId
    product_time: StrictTime = Field(description="When the upstream pipeline made the product (UTC).")
    product_version: StrictCount = Field(description="The upstream product's own version number.")
    filename: str | None = Field(None, max_length=255, description="Original file name, for logs only.")
    sdb_url: Annotated[HttpUrl | None, BeforeValidator(_no_dot_segments)] = Field(
        None, description="Where to fetch the product in the SDB."
    )
    content: Base64Content | None = Field(None, description="The FITS file itself, base64-encoded.")

    @model_validator(mode="after")
    def _exactly_one_source(self) -> ProductNotificationV1:
        if (self.sdb_url is None) == (self.content is None):
            raise ValueError("give exactly one of sdb_url and content")
        return self

    def content_key(self) -> bytes:
        """Bytes that identify the product: a resent product hashes the same, a new version differs."""
        if self.content is not None:
            return hashlib.sha256(self.content).hexdigest().encode("ascii")
        return f"{self.acronym}|{self.burst_id}|{self.product_version}|{self.sdb_url}".encode()


class MxtPositionV1(_Inbound):
    """An MXT position (or an update of it), sent on its own without a QPO_MXT file."""

    kind: Literal["mxt_position"] = "mxt_position"
    schema_version: Literal["1"] = SCHEMA_VERSION
    burst_id: BurstId
    ra: StrictFinite = Field(ge=0.0, lt=360.0, description="Right ascension, degrees (ICRS).")
    dec: StrictFinite = Field(ge=-90.0, le=90.0, description="Declination, degrees (ICRS).")
    r90_arcsec: StrictFinite = Field(gt=0.0, description="90 % error radius, arcsec.")
    position_time: StrictTime
    position_version: StrictCount

    acronym: ClassVar[str] = "MXT_POSITION"

    def content_key(self) -> bytes:
        """Bytes that identify this position; resending it is a no-op, a moved position is a change."""
        return (
            f"{self.burst_id}|{self.ra!r}|{self.dec!r}|{self.r90_arcsec!r}|{self.position_version}".encode()
        )

    def to_core(self) -> MxtPosition:
        """The science core's view of the position."""
        return MxtPosition(ra=self.ra, dec=self.dec, r90_arcsec=self.r90_arcsec)


class PositionAlertV1(_Inbound):
    """A GCN notice with an X-ray error circle (SVOM ECLAIRs/MXT, EP WXT/FXT, Swift BAT/XRT ...), as received.

    ``content`` is the notice itself, a VOEvent 2.0 packet or a GCN Kafka JSON notice (base64): VTAC reads
    the circle, the mission and the instrument from it (:mod:`vtac.adapters.alerts`). ``burst_id`` files it
    under the SVOM burst it is followed up for (an SVOM notice's own ``Burst_Id`` must agree).
    """

    kind: Literal["alert"] = "alert"
    schema_version: Literal["1"] = SCHEMA_VERSION
    burst_id: BurstId
    content: Base64Content = Field(description="The notice, VOEvent 2.0 XML or GCN JSON, base64-encoded.")
    filename: str | None = Field(None, max_length=255, description="Original name, for logs only.")

    acronym: ClassVar[str] = "ALERT"

    def content_key(self) -> bytes:
        """A resent notice hashes the same (a no-op); another notice is a change."""
        return hashlib.sha256(self.content).hexdigest().encode("ascii")


def _input_tag(value: Any) -> str | None:
    """``kind.vN`` from a dict (raw JSON) or a model, for the discriminated union."""
    if isinstance(value, dict):
        kind, version = value.get("kind"), value.get("schema_version")
    else:
        kind, version = getattr(value, "kind", None), getattr(value, "schema_version", None)
    return None if kind is None or version is None else f"{kind}.v{version}"


INPUT_TAGS = ("product.v1", "mxt_position.v1", "alert.v1")
AnyInput = ProductNotificationV1 | MxtPositionV1 | PositionAlertV1
InputMessage = Annotated[
    Annotated[ProductNotificationV1, Tag("product.v1")]
    | Annotated[MxtPositionV1, Tag("mxt_position.v1")]
    | Annotated[PositionAlertV1, Tag("alert.v1")],
    Discriminator(
        _input_tag,
        custom_error_type="unknown_message",
        custom_error_message="unknown kind/schema_version (known: product v1, mxt_position v1, alert v1)",
    ),
]
INPUT_ADAPTER: TypeAdapter[AnyInput] = TypeAdapter(InputMessage)


def parse_input(
    body: bytes | str,
    *,
    max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    max_depth: int = DEFAULT_MAX_JSON_DEPTH,
    max_elements: int = DEFAULT_MAX_JSON_ELEMENTS,
) -> AnyInput:
    """Validate one raw message body; InputError (one line, naming the field or the bound) if it is not
    acceptable. Size, nesting and element count are checked before any parsing, in linear time, so no body
    can cost more than its bytes.
    """
    check_body_bounds(
        body.encode() if isinstance(body, str) else body,
        max_bytes=max_bytes,
        max_depth=max_depth,
        max_elements=max_elements,
    )
    try:
        return INPUT_ADAPTER.validate_json(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(part) for part in first["loc"] if part not in INPUT_TAGS) or None
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise InputError(f"invalid input message: {first['msg']}{more}", column=field) from None


def check_body_bounds(
    body: bytes, *, max_bytes: int, max_depth: int, max_elements: int = DEFAULT_MAX_JSON_ELEMENTS
) -> None:
    """InputError naming the bound when ``body`` is larger than ``max_bytes``, has an unterminated string,
    nests deeper than ``max_depth`` or holds more than ``max_elements`` values (brackets, commas and colons
    inside strings do not count).

    Vectorised over the bytes (numpy, no regex, no recursion, no parsing): linear time whatever the body,
    a few milliseconds for the largest one allowed.
    """
    if len(body) > max_bytes:
        raise InputError(f"message of {len(body)} bytes exceeds the limit max_message_bytes={max_bytes}")
    codes = np.frombuffer(body, dtype=np.uint8)
    structure = _STRUCTURE[codes]
    structure = structure[(structure != 0) & _outside_strings(codes)]
    steps = np.where(structure == 2, 0, structure).astype(np.int32)
    depth = int(np.cumsum(steps).max()) if steps.size else 0
    if depth > max_depth:
        raise InputError(f"JSON nested {depth} deep exceeds the limit max_json_depth={max_depth}")
    elements = int(np.count_nonzero(structure > 0))  # each opener and separator starts one more value
    if elements > max_elements:
        raise InputError(f"JSON of {elements}+ values exceeds the limit max_json_elements={max_elements}")


def _outside_strings(codes: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """Which bytes lie outside JSON strings (quotes count as inside); InputError for an unterminated one.

    A quote ends or starts a string unless an odd run of backslashes precedes it; strings then alternate.
    """
    quotes = np.flatnonzero(codes == _QUOTE)
    delimiters = quotes[~_escaped(quotes, np.flatnonzero(codes == _BACKSLASH))]
    if delimiters.size % 2:
        raise InputError(f"unterminated JSON string from byte {int(delimiters[-1])}")
    edges = np.zeros(codes.size + 1, dtype=np.int8)
    edges[delimiters[0::2]] += 1  # each index once per assignment: a string may start where one ended
    edges[delimiters[1::2] + 1] -= 1
    outside: NDArray[np.bool_] = np.cumsum(edges[:-1], dtype=np.int8) == 0
    return outside


def _escaped(quotes: NDArray[np.intp], backslashes: NDArray[np.intp]) -> NDArray[np.bool_]:
    """For each quote position, whether an odd run of backslashes ends just before it."""
    if not backslashes.size:
        return np.zeros(quotes.size, dtype=bool)
    run_starts = np.where(np.diff(backslashes, prepend=-2) != 1, backslashes, 0)
    run_start = np.maximum.accumulate(run_starts)  # start of the run each backslash belongs to
    before = np.searchsorted(backslashes, quotes - 1)
    found = before < backslashes.size
    follows_run = found & (backslashes[np.minimum(before, backslashes.size - 1)] == quotes - 1)
    run_length = quotes - np.where(follows_run, run_start[np.minimum(before, backslashes.size - 1)], quotes)
    escaped: NDArray[np.bool_] = follows_run & (run_length % 2 == 1)
    return escaped


class Magnitude(_Outbound):
    """One calibrated VT magnitude (AB) and its error."""

    mag: Finite
    err: Finite | None = None


class CandidateFlags(_Outbound):
    """Why a candidate ranks where it does: the flags of the QPO_VT COMBINED table."""

    in_mxt: bool | None = None
    new_src: list[str] = Field(default_factory=list)
    dmag_cat: list[str] = Field(default_factory=list)
    mag_var: list[str] = Field(default_factory=list)
    eflag_max: int | None = None
    verified: bool = False


class BestCandidate(_Outbound):
    """A best candidate, as much as a Burst Advocate needs to act without opening the FITS file."""

    rank: int = Field(ge=1)
    vt_id: int
    ra: Finite
    dec: Finite
    score: Finite | None = None
    probability: Finite | None = Field(None, description="P(afterglow); the field's P sum to 1 with P(none).")
    reasons: list[str] = Field(default_factory=list, description="Strongest reasons, in words.")
    n_det: int | None = Field(None, ge=0)
    mxt_dist_r90: Finite | None = Field(None, description="Distance to the MXT centre in units of r90.")
    magnitudes: dict[str, Magnitude | None] = Field(default_factory=dict)
    b_minus_r: Finite | None = None
    redshift_hint: str | None = None
    flags: CandidateFlags = CandidateFlags()


class SdbLocation(_Outbound):
    """Where the products of one version are stored."""

    qpo_vt: str
    qcandi_vt: str
    summary: str


class ExtrasLocation(_Outbound):
    """Where the extras of one version will be stored: made after the notification, ready ~2 s later."""

    page: str = Field(description="Self-contained HTML burst page (chart, light curves, candidates).")
    chart: str = Field(description="Finding chart, PNG.")
    circular: str = Field(description="GCN circular draft, plain text, never sent.")
    voevent: str | None = Field(None, description="VOEvent 2.0 of the best candidate; null without one.")
    notice: str | None = Field(None, description="GCN-style JSON notice; null without a best candidate.")
    light_curves: dict[str, str] = Field(
        default_factory=dict, description="Light-curve PNG per best candidate, by VT_ID."
    )
    may_be_superseded: bool = Field(
        True,
        description="True: these addresses hold files only if no newer version of the burst came before they "
        "were drawn; a superseded version's extras are never stored (the newer version's are).",
    )


class QpoVtNotificationV1(_Outbound):
    """Outgoing: a new QPO_VT version exists; sent to the Burst Advocate and to VT post-processing."""

    kind: Literal["qpo_vt"] = "qpo_vt"
    schema_version: Literal["1"] = SCHEMA_VERSION
    burst_id: BurstId
    product_version: int = Field(ge=1)
    created: AwareDatetime
    sdb: SdbLocation
    verified: bool
    n_candidates: int = Field(ge=0)
    best_candidates: list[BestCandidate]
    extras: ExtrasLocation | None = Field(
        None, description="The extras, stored after this notification went out (a 404 meanwhile: not yet)."
    )


def notification_from_summary(
    summary: QpoVtSummary,
    *,
    product_version: int,
    sdb: SdbLocation,
    created: datetime,
    extras: ExtrasLocation | None = None,
) -> QpoVtNotificationV1:
    """Build the notification from the version's JSON summary."""
    best_ids = set(summary.best_candidates)
    best = [_best_candidate(item) for item in summary.candidates if item.vt_id in best_ids]
    return QpoVtNotificationV1(
        burst_id=summary.burst_id,
        product_version=product_version,
        created=created,
        sdb=sdb,
        verified=summary.verified,
        n_candidates=summary.n_candidates,
        best_candidates=sorted(best, key=lambda candidate: candidate.rank),
        extras=extras,
    )


def _best_candidate(item: Candidate) -> BestCandidate:
    return BestCandidate(
        rank=item.rank,
        vt_id=item.vt_id,
        ra=item.ra,
        dec=item.dec,
        score=item.score,
        probability=item.probability,
        reasons=item.reasons,
        n_det=item.n_det,
        mxt_dist_r90=item.mxt_dist_r90,
        magnitudes={
            seq: None if value is None else Magnitude(mag=value.mag, err=value.err)
            for seq, value in item.magnitudes.items()
        },
        b_minus_r=item.b_minus_r,
        redshift_hint=item.redshift_hint,
        flags=CandidateFlags(**{name: getattr(item, name) for name in list(CandidateFlags.model_fields)}),
    )


def message_json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schemas of every message, by file stem, for ``vtac schema`` and the ICD."""
    return {
        "vtac_input.v1": INPUT_ADAPTER.json_schema(),
        "qpo_vt_notification.v1": QpoVtNotificationV1.model_json_schema(),
    }
