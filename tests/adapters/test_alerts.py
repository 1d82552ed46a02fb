"""Error circles from real GCN notices (tests/data/alerts): what is taken, what is refused and why."""

import argparse
from datetime import UTC, datetime

import pytest
from paths import DATA

from vtac.adapters.alerts import DEFAULT_MAX_RADIUS_DEG, read_alert, read_alert_file
from vtac.core.positions import choose_position
from vtac.core.records import MxtPosition
from vtac.entrypoints.publish import build_message
from vtac.errors import InputError
from vtac.service.publish import check_message, routing_key

ALERTS = DATA / "alerts"


def read(name: str, **kwargs):
    return read_alert_file(ALERTS / name, max_radius_deg=DEFAULT_MAX_RADIUS_DEG, **kwargs)


def test_an_svom_eclairs_voevent_gives_its_circle_burst_and_instrument():
    alert = read("eclairs_313.xml")
    position = alert.position
    assert (position.ra, position.dec) == (176.887, 0.2095)
    assert position.r90_arcsec == pytest.approx(0.0787 * 3600)
    assert (position.mission, position.instrument) == ("SVOM", "ECLAIRs")
    assert position.origin == "ivo://org.svom/fsc#sb26050905_eclairs-wakeup"
    assert alert.burst_id == "sb26050905" and not alert.test
    assert alert.issued == datetime(2026, 5, 9, 21, 52, 11, tzinfo=UTC)


def test_an_svom_mxt_voevent_is_mxt():
    position = read("mxt_48.xml").position
    assert (position.source, position.r90_arcsec) == ("SVOM/MXT", pytest.approx(0.0324 * 3600))


def test_a_gcn_classic_swift_bat_voevent_takes_mission_and_instrument_from_the_ivorn():
    position = read("SWIFT_bat_position_v2.0_example.xml").position
    assert (position.mission, position.instrument) == ("Swift", "BAT")
    assert (position.ra, position.dec, position.r90_arcsec) == (74.7412, -9.3137, pytest.approx(180.0))


def test_an_einstein_probe_kafka_json_notice_gives_its_90_percent_circle():
    alert = read("alert_247.json")
    assert (alert.position.mission, alert.position.instrument, alert.kind) == ("EP", "WXT", "GCN JSON")
    assert alert.position.r90_arcsec == pytest.approx(0.05174976 * 3600)
    assert alert.position.origin == "EP WXT notice 01709259773"
    assert alert.burst_id is None


def test_a_radius_at_another_containment_is_scaled_to_90_percent():
    """GBM gives 68 %: 8.32 deg becomes 11.83 deg at 90 % (circular Gaussian), then is refused."""
    with pytest.raises(InputError, match=r"Fermi/GBM error radius 11.8 deg exceeds max_position_radius_deg"):
        read("fermi_gbm_trigger.flight1.example.json")
    alert = read_alert_file(ALERTS / "fermi_gbm_trigger.flight1.example.json", max_radius_deg=20.0)
    assert alert.position.r90_arcsec / 3600 == pytest.approx(11.83, abs=0.01)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (
            "fermi_gbm_flt_pos_8126.xml",
            "Fermi/GBM error radius 13.3 deg exceeds max_position_radius_deg=0.25",
        ),
        ("fermi_gbm_alert_3785.xml", "Error2Radius: error radius 0: unknown"),
        ("grm_334.xml", "Error2Radius: error radius -1: unknown"),
        ("eclairs_304.xml", "retraction notice"),
        ("svom_voevent_sb25082402_eclairs-catalog.xml", "catalogued X-ray source 'GX 340-00'"),
        ("SWIFT_xrt_position_v1.1_example.xml", "not a VOEvent 2.0 packet .*VOEvent/v1.1"),
        ("no_namespace_packet.xml", "not a VOEvent 2.0 packet .*no namespace"),
        ("swift_bat_grb_pos_test_9264.xml", "test notice"),
        ("svom_eclairs_trigger.slewing.example.json", "test notice"),
    ],
)
def test_an_unusable_notice_is_refused_with_a_reason_naming_the_file(name, reason):
    with pytest.raises(InputError, match=reason) as error:
        read(name)
    assert name in str(error.value)


def test_test_notices_are_taken_in_a_rehearsal():
    assert read("swift_bat_grb_pos_test_9264.xml", accept_tests=True).test


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"RA=10 DEC=20", "neither a VOEvent"),
        (b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x/>", "DOCTYPE"),
        (b"<VOEvent", "not well-formed XML"),
        (b'{"ra": 10', "not valid JSON"),
        (b"[1, 2]", "neither a VOEvent"),
        (b'{"ra": 400, "dec": 0, "ra_dec_error": 0.1}', r"outside the sky"),
        (b'{"ra": true, "dec": 0, "ra_dec_error": 0.1}', "column ra: missing or not a number"),
        (b'{"ra": 10, "dec": 0, "ra_dec_error": 0.1, "containment_probability": 1.5}', "outside"),
        (b'{"alert_type": "retraction", "ra": 10}', "retraction"),
    ],
)
def test_careless_or_hostile_content_is_one_clear_input_error(content, reason):
    with pytest.raises(InputError, match=reason):
        read_alert(content, "notice", max_radius_deg=1.0)


def test_the_radius_limit_is_a_setting():
    with pytest.raises(InputError, match=r"max_position_radius_deg=0\.05"):
        read_alert_file(ALERTS / "eclairs_313.xml", max_radius_deg=0.05)


ECLAIRS = MxtPosition(10.0, 20.0, 300.0, "SVOM", "ECLAIRs")
MXT = MxtPosition(10.01, 20.0, 40.0, "SVOM", "MXT")
BAT = MxtPosition(10.02, 20.0, 180.0, "Swift", "BAT")


def test_a_later_smaller_circle_supersedes_an_earlier_one():
    assert choose_position([(ECLAIRS, 1), (MXT, 2)]) == MXT


def test_a_later_larger_circle_of_another_instrument_does_not():
    assert choose_position([(MXT, 1), (BAT, 2)]) == MXT


def test_an_instruments_later_position_replaces_its_own_earlier_one_even_when_larger():
    update = MxtPosition(10.03, 20.0, 60.0, "SVOM", "MXT")
    assert choose_position([(MXT, 1), (update, 2), (ECLAIRS, 3)]) == update


def test_equal_radii_the_later_wins_and_nothing_gives_none():
    other = MxtPosition(11.0, 20.0, 40.0, "EP", "FXT")
    assert choose_position([(MXT, 1), (other, 2)]) == other
    assert choose_position([(other, 1), (MXT, 2)]) == MXT
    assert choose_position([]) is None


def test_vtac_publish_sends_a_notice_file_as_an_alert_message():
    arguments = {"acronym": "ALERT", "burst_id": "sb26040203", "mxt_position": None, "sdb_url": None}
    message = build_message(
        argparse.Namespace(file=ALERTS / "mxt_48.xml", input_version=1, time=None, **arguments)
    )
    assert (message.kind, routing_key(message)) == ("alert", "position.ALERT")
    assert message.content == (ALERTS / "mxt_48.xml").read_bytes() and message.filename == "mxt_48.xml"
    with pytest.raises(InputError, match="cannot read the notice"):
        build_message(argparse.Namespace(file=ALERTS / "none.xml", input_version=1, time=None, **arguments))
    check_message(message)  # vtac publish sends it
    other = message.model_copy(update={"burst_id": "sb26040299"})
    with pytest.raises(
        InputError, match=r"file mxt_48\.xml: Burst_Id sb26040203 differs from --burst-id sb26040299"
    ):
        check_message(other)
    not_a_notice = message.model_copy(update={"content": b"SIMPLE  =  T"})
    with pytest.raises(InputError, match="neither a VOEvent"):
        check_message(not_a_notice)


def _edited(name: str, old: str, new: str) -> bytes:
    text = (ALERTS / name).read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new).encode()


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ('<Position2D unit="deg">', '<Position2D unit="rad">', "unit 'rad', expected 'deg'"),
        ('AstroCoordSystem id="UTC-ICRS-GEO"', 'AstroCoordSystem id="UTC-GAL-GEO"', "not ICRS or FK5"),
        ('role="observation"', 'role="utility"', "role='utility': carries no observation"),
        ("<C1>176.8870</C1>", "<C1>east</C1>", "'east' is not a number"),
        ("<C2>0.2095</C2>", "<C2>NaN</C2>", "'NaN' is not finite"),
    ],
)
def test_a_voevent_edited_into_nonsense_is_refused_naming_the_field(old, new, reason):
    with pytest.raises(InputError, match=reason):
        read_alert(_edited("eclairs_313.xml", old, new), "edited.xml", max_radius_deg=1.0)


def test_an_ellipse_is_held_by_its_semi_major_axis_and_an_odd_time_is_no_time():
    notice = b'{"ra": 10, "dec": 20, "ra_dec_error": [0.1, 0.05, 30], "alert_datetime": "yesterday"}'
    alert = read_alert(notice, "ellipse.json", max_radius_deg=1.0)
    assert alert.position.r90_arcsec == pytest.approx(360.0) and alert.issued is None
    assert alert.position.source == "unknown/unknown"
    with pytest.raises(InputError, match="containment_probability: not a number"):
        read_alert(
            b'{"ra": 10, "dec": 20, "ra_dec_error": 0.1, "containment_probability": "90%"}',
            "x",
            max_radius_deg=1,
        )
