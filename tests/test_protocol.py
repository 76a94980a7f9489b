"""The BLE protocol's bytes (repcore.protocol, the band's side, and
repcore.protocol_host, the host's) and the host helpers that decode them
(repband.link): round trips, error codes, framing at every MTU, and property-based
fuzzing of every decoder: garbage raises only ProtocolError / RecordError."""
from __future__ import annotations

import calendar
import shutil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repband.link import LiveTracker, RawGapDetector
from repcore import protocol_host as P
from repcore import records as R

ERRORS = (P.ProtocolError, R.RecordError)


def _recs(n, seq0=1):
    kinds = [
        (1, 1000, 1, 0, 0, 231, 800, 2000, 900),
        (2, 5000, 35000, 3, 2, 152),
        (3, 1000, 60000, 2, 1, 12, 1, 580, 4100),
        (4, 7000, 1),
        (5, 8000, 2),
        (6, 0, 0, 0, 2, 12, 30),
        (7, 0, 600000, 2, 3, 36, 2, 4, 120000, 0),
    ]
    return [R.encode_event(kinds[i % len(kinds)], 5, 2, seq0 + i, 1_767_225_600 if i % 2 else 0)
            for i in range(n)]


def _frames(recs, payload):
    """Frame a report the way the firmware does: stream cut into payload-sized frames."""
    stream = b"".join(recs)
    bounds = set()
    off = 0
    for r in recs:
        bounds.add(off)
        off += len(r)
    out = []
    pos = 0
    i = 0
    while pos < len(stream):
        chunk = stream[pos:pos + payload - 1]
        out.append(bytes([(P.FRAME_START if pos in bounds else 0) | (i & 0x7F)]) + chunk)
        pos += len(chunk)
        i += 1
    return out


# -- round trips -----------------------------------------------------------------------


def test_uuids_distinct_and_valid():
    uu = [P.SERVICE_UUID, P.STATUS_UUID, P.LIVE_UUID, P.RECORDS_UUID, P.RACP_UUID, P.CONTROL_UUID, P.RAW_UUID]
    assert len(set(uu)) == len(uu)
    import uuid
    for u in uu:
        assert str(uuid.UUID(u)) == u
    assert P.sig_uuid(0x2A19) == "00002a19-0000-1000-8000-00805f9b34fb"


def test_live_round_trip_and_clamping():
    b = P.encode_live(P.LIVE_SESSION | P.LIVE_CALIBRATED, 300, 77, 2, 1, 9, 123, (10, 3, 4, 1, 70000))
    assert len(b) == P.LIVE_SIZE == 20
    d = P.decode_live(b)
    assert d["counter"] == 300 & 0xFF and d["session"] == 77 and d["exercise"] == 2 and d["side"] == 1
    assert d["set_count"] == 9 and d["hold_ds"] == 123
    assert d["counts"] == (10, 3, 4, 1, 0xFFFF)  # clamped, not wrapped
    assert d["session_active"] and d["calibrated"] and not d["raw"]
    assert d["clam_left"] == 3
    assert P.cell_of(1, 0) == P.CELL_BRIDGE and P.cell_of(2, 1) == P.CELL_CLAM_LEFT
    assert P.cell_of(3, 2) == P.CELL_STRETCH_RIGHT and P.cell_of(0, 0) == -1


def test_status_round_trip_and_version():
    b = P.encode_status(0x09, 87, 4096, 262144, 120, 5, 125)
    d = P.decode_status(b)
    assert (d["major"], d["minor"], d["battery"], d["used"], d["capacity"]) == (1, 2, 87, 4096, 262144)
    assert (d["unsynced"], d["first_seq"], d["next_seq"], d["flags"]) == (120, 5, 125, 9)
    assert P.decode_status(P.encode_status(0, -1, 0, 0, 0, 0, 1))["battery"] is None
    assert P.decode_status(b + b"\x00\x01")["next_seq"] == 125  # a newer minor adds bytes
    with pytest.raises(P.VersionError, match="protocol 2.0.*update repband"):
        P.decode_status(bytes([2, 0]) + b[2:])
    with pytest.raises(P.VersionError, match="update the band's firmware"):
        P.check_version(0, 9)
    assert P.parse_version_string(b"1.0") == (1, 0)
    for bad in (b"1", b"x.y", b"1.2.3", b"\xff\xfe", "-1.0"):
        with pytest.raises(P.ProtocolError):
            P.parse_version_string(bad)


def test_settings_round_trip_and_refusals():
    b = P.encode_settings(1, 2, 1, 1, 15, 45, 300, 600, 208, P.SET_GYRO | P.SET_LED, 15)
    assert len(b) == P.SETTINGS_SIZE == 16
    assert P.decode_settings(b) == {
        "schema": 1, "mode": "clam", "leg": "left", "placement": "hip", "target_reps": 15,
        "target_hold_s": 45, "session_idle_s": 300, "sleep_idle_s": 600, "odr_hz": 208,
        "gyro": True, "vibration": False, "buzzer": False, "led": True, "low_battery_pct": 15}
    assert P.decode_settings(b + b"\x07")["target_reps"] == 15  # a newer minor adds bytes
    # Clamped into the layout, never wrapped.
    assert P.decode_settings(P.encode_settings(1, 0, 2, 0, 70000, -5, 1, 1, 104, 0, 150)
                             )["target_reps"] == 0xFFFF
    for bad in (b[:15], b"", None, b[:1] + b"\x09" + b[2:], b[:2] + b"\x00" + b[3:],
                b[:3] + b"\x02" + b[4:], b[:15] + b"\x65"):
        with pytest.raises(P.ProtocolError):
            P.decode_settings(bad)


@pytest.mark.parametrize("op", [P.RACP_REPORT, P.RACP_REPORT_NUMBER])
def test_racp_requests(op):
    assert P.decode_racp(P.encode_racp(op, P.OPR_ALL)) == (op, P.OPR_ALL, 0, 0xFFFFFFFF)
    assert P.decode_racp(P.encode_racp(op, P.OPR_GE, 17)) == (op, P.OPR_GE, 17, 0xFFFFFFFF)
    assert P.decode_racp(P.encode_racp(op, P.OPR_LE, 17)) == (op, P.OPR_LE, 0, 17)
    assert P.decode_racp(P.encode_racp(op, P.OPR_RANGE, 3, 9)) == (op, P.OPR_RANGE, 3, 9)
    assert P.decode_racp(P.encode_racp(op, P.OPR_FIRST))[:2] == (op, P.OPR_FIRST)
    assert P.decode_racp(P.encode_racp(op, P.OPR_LAST))[:2] == (op, P.OPR_LAST)
    assert P.encode_racp(op, P.OPR_GE, 0x01020304) == bytes([op, 3, 1, 4, 3, 2, 1])


@pytest.mark.parametrize("data,code", [
    (b"", P.RC_OP_NOT_SUPPORTED),
    (b"\x09\x01", P.RC_OP_NOT_SUPPORTED),
    (b"\x05\x00", P.RC_OP_NOT_SUPPORTED),  # a response is not a request
    (b"\x01", P.RC_INVALID_OPERAND),
    (b"\x01\x00", P.RC_INVALID_OPERATOR),
    (b"\x01\x07", P.RC_INVALID_OPERATOR),
    (b"\x03\x01", P.RC_INVALID_OPERATOR),
    (b"\x03\x00\x00", P.RC_INVALID_OPERAND),
    (b"\x02\x01", P.RC_OPERATOR_NOT_SUPPORTED),  # delete all: refused
    (b"\x02\x04\x01\x01\x00\x00\x00\x05\x00\x00\x00", P.RC_OPERATOR_NOT_SUPPORTED),
    (b"\x01\x03\x02\x01\x00\x00\x00", P.RC_OPERAND_NOT_SUPPORTED),  # filter: not seq
    (b"\x01\x03\x01\x01\x00\x00", P.RC_INVALID_OPERAND),
    (b"\x01\x01\x00", P.RC_INVALID_OPERAND),
    (b"\x01\x04\x01\x09\x00\x00\x00\x03\x00\x00\x00", P.RC_INVALID_OPERAND),  # empty range
])
def test_racp_request_errors_carry_the_response_code(data, code):
    with pytest.raises(P.ProtocolError) as e:
        P.decode_racp(data)
    assert e.value.code == code


def test_racp_responses():
    assert P.decode_racp_response(P.encode_racp_number(123456)) == {"op": 5, "count": 123456}
    d = P.decode_racp_response(P.encode_racp_response(P.RACP_DELETE, P.RC_NO_RECORDS))
    assert (d["request"], d["code"], d["records"]) == (2, 6, -1)
    d = P.decode_racp_response(P.encode_racp_response(P.RACP_REPORT, P.RC_SUCCESS, 40, 95))
    assert (d["records"], d["frames"]) == (40, 95)
    assert P.rc_name(P.RC_BUSY) == "server busy"
    assert P.decode_racp_response(b"\x06\x00\x09\x02")["request"] == 9  # an unknown op echoed
    for bad in (b"\x06\x00\x01", b"\x06\x00\x01\x0b", b"\x05\x00\x01", b"\x06\x01\x01\x01",
                b"\x01\x00"):
        with pytest.raises(P.ProtocolError):
            P.decode_racp_response(bad)


def test_control_round_trips_and_errors():
    cases = [(P.CTRL_START, None, None, ()), (P.CTRL_STOP, None, None, ()), (P.CTRL_MODE, 2, None, (2,)),
             (P.CTRL_LEG, 1, None, (1,)), (P.CTRL_PLACEMENT, 1, None, (1,)),
             (P.CTRL_TARGETS, 15, 30, (15, 30)), (P.CTRL_CALIBRATE, None, None, ()),
             (P.CTRL_RAW, 1, None, (1,)), (P.CTRL_IDENTIFY, 5, None, (5,)),
             (P.CTRL_FACTORY_RESET, P.FACTORY_RESET_MAGIC, None, (P.FACTORY_RESET_MAGIC,))]
    for op, a, b, params in cases:
        assert P.decode_control(P.encode_control(op, a, b)) == (op, params)
    for data, code in ((b"", P.RESULT_INVALID), (b"\x00", P.RESULT_NOT_SUPPORTED),
                       (b"\x0b", P.RESULT_NOT_SUPPORTED), (b"\x03", P.RESULT_INVALID),
                       (b"\x0a", P.RESULT_INVALID), (b"\x0aWIPF", P.RESULT_INVALID),  # no stray wipe
                       (b"\x03\x04", P.RESULT_INVALID), (b"\x04\x00", P.RESULT_INVALID),
                       (b"\x06\x00\x00\x10\x00", P.RESULT_INVALID), (b"\x01\x00", P.RESULT_INVALID),
                       (b"\x08\x02", P.RESULT_INVALID), (b"\x09\x00", P.RESULT_INVALID)):
        with pytest.raises(P.ProtocolError) as e:
            P.decode_control(data)
        assert e.value.code == code, data
    assert P.decode_control_response(P.encode_control_response(6, P.RESULT_INVALID)) == (6, 3)
    for bad in (b"\x80\x01", b"\x81\x01\x01", b"\x80\x01\x05"):
        with pytest.raises(P.ProtocolError):
            P.decode_control_response(bad)


def test_raw_round_trip_and_capacity():
    samples = [1, -2, 3, -32768, 32767, 0, 10, 20, 30, 40, 50, 60]
    b = P.encode_raw(65535, 123456, 962, samples)
    d = P.decode_raw(b)
    assert d["seq"] == 65535 and d["t_ms"] == 123456 and d["period_us"] == 9620
    assert d["samples"] == [tuple(samples[:6]), tuple(samples[6:])]
    assert P.raw_samples_per_packet(23) == 1
    assert P.raw_samples_per_packet(64) == 4  # 4 x 26 packets/s >= 104 Hz
    assert P.raw_samples_per_packet(247) == 19
    assert P.raw_gap(65535, 0) == 0 and P.raw_gap(10, 13) == 2
    for bad in (b"", b[:8], b[:-1], b[:2] + b"\x00" * 6 + b[8:20]):
        with pytest.raises(P.ProtocolError):
            P.decode_raw(bad)


@pytest.mark.parametrize("when", ["2024-02-29 23:59:59", "2026-01-01 00:00:00", "2099-12-31 12:34:56",
                                  "2100-03-01 00:00:00"])
def test_current_time_round_trip(when):
    import datetime
    dt = datetime.datetime.strptime(when, "%Y-%m-%d %H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    unix = calendar.timegm(dt.utctimetuple())
    b = P.encode_cts(unix)
    assert len(b) == P.CTS_SIZE
    assert (b[0] | b[1] << 8, b[2], b[3], b[4], b[5], b[6]) == (dt.year, dt.month, dt.day, dt.hour, dt.minute,
                                                               dt.second)
    assert b[7] == dt.isoweekday()
    assert P.decode_cts(b) == unix


def test_current_time_rejects_impossible_dates():
    good = P.encode_cts(1_767_225_600)
    for patch in ((0, 2019 & 0xFF, 2019 >> 8), (2, 13), (3, 0), (2, 2, 3, 30), (4, 24), (5, 60), (6, 60)):
        b = bytearray(good)
        if len(patch) == 3 and patch[0] == 0:
            b[0], b[1] = patch[1], patch[2]
        elif len(patch) == 4:
            b[patch[0]] = patch[1]
            b[patch[2]] = patch[3]
        else:
            b[patch[0]] = patch[1]
        with pytest.raises(P.ProtocolError):
            P.decode_cts(bytes(b))
    b = bytearray(P.encode_cts(calendar.timegm((2023, 2, 28, 0, 0, 0))))
    b[3] = 29  # 2023 is not a leap year
    with pytest.raises(P.ProtocolError):
        P.decode_cts(bytes(b))


# -- framing ------------------------------------------------------------------------------


@pytest.mark.parametrize("mtu", [23, 24, 27, 50, 64, 185, 247])
def test_frames_reassemble_at_every_mtu(mtu):
    recs = _recs(40)
    frames = _frames(recs, mtu - 3)
    assert all(len(f) <= mtu - 3 for f in frames)
    ra = P.Reassembler()
    out = []
    for f in frames:
        out += ra.feed(f)
    ra.finish(len(recs), len(frames))
    assert out == recs


def test_a_47_byte_record_crosses_three_frames_at_mtu_23():
    rec = _recs(7)[6]
    assert len(rec) == 47
    frames = _frames([rec], 20)
    assert [len(f) for f in frames] == [20, 20, 10]
    assert [f[0] for f in frames] == [0x80, 0x01, 0x02]


def test_duplicate_frames_are_dropped_lost_ones_detected():
    recs = _recs(10)
    frames = _frames(recs, 20)
    ra = P.Reassembler()
    out = []
    for i, f in enumerate(frames):
        out += ra.feed(f)
        if i % 3 == 0:
            assert ra.feed(f) == []  # a duplicated notification
    assert out == recs and ra.duplicates == len(range(0, len(frames), 3))
    for skip in range(1, len(frames)):
        ra = P.Reassembler()
        with pytest.raises(P.ProtocolError):
            for i, f in enumerate(frames):
                if i != skip:
                    ra.feed(f)
            ra.finish(len(recs), len(frames))
    ra = P.Reassembler()
    for f in frames[:-1]:
        ra.feed(f)
    with pytest.raises(P.ProtocolError, match="inside a record|arrived"):
        ra.finish(len(recs), len(frames))  # the lost tail


def test_lost_tail_on_a_record_boundary_is_caught_by_the_counts():
    recs = _recs(4)
    frames = _frames(recs, 185 - 3)
    ra = P.Reassembler()
    for f in frames:
        ra.feed(f)
    ra.finish(4, len(frames))
    ra = P.Reassembler()
    short = _frames(recs[:3], 182)
    for f in short:
        ra.feed(f)
    with pytest.raises(P.ProtocolError, match="sent 4 records"):
        ra.finish(4, len(frames) + 1)


def test_bytes_that_arrived_whole_but_are_no_record_are_handed_on_in_place():
    """Issue 11: a bad CRC made the host blame the link; bytes that arrived (every
    frame, in order) are the band's own: handed on, for the sync to quarantine."""
    recs = _recs(3)
    frames = _frames(recs, 20)
    bad = bytearray(frames[1])
    bad[5] ^= 0x40  # inside the first record's bytes
    ra = P.Reassembler()
    out = []
    for f in [frames[0], bytes(bad)] + frames[2:]:
        out += ra.feed(f)
    out += ra.finish(len(recs), len(frames))
    assert len(out) == 3 and out[1:] == recs[1:] and ra.bad == 1
    with pytest.raises(R.RecordError, match="bad CRC"):
        R.check(out[0])
    # a header out of step (a length no record has): one item up to the next record start
    junk = bytes([0x80, 0xA7, 0x01, 0x01, 0x00, 200, 0]) + bytes(25)
    rest = _frames(recs[1:], 182)
    frames = [junk] + [bytes([(f[0] & 0x80) | ((f[0] + 1) & 0x7F)]) + f[1:] for f in rest]
    ra = P.Reassembler()
    out = []
    for f in frames:
        out += ra.feed(f)
    out += ra.finish(-1, len(frames))
    assert out == [junk[1:]] + recs[1:] and ra.bad == 1


# -- host helpers -------------------------------------------------------------------------


def test_live_tracker_counts_missed_updates():
    t = LiveTracker()
    for c in (1, 2, 5, 6):
        d = t.feed(P.encode_live(0, c, 9, 1, 0, 1, 0, (c, 0, 0, 0, 0)))
    assert d["bridge"] == 6 and t.skipped == 2 and t.updates == 4


def test_raw_gap_detector():
    g = RawGapDetector()
    s = [0] * 12
    for seq in (65534, 65535, 2, 2, 3):
        g.feed(P.encode_raw(seq, 0, 962, s))
    assert g.lost == 2 and g.duplicates == 1 and g.packets == 4 and g.samples == 8


# -- fuzzing: every decoder, garbage in, only ProtocolError / RecordError out ---------------

DECODERS = [P.decode_live, P.decode_status, P.decode_racp, P.decode_racp_response, P.decode_control,
            P.decode_control_response, P.decode_raw, P.decode_cts, P.decode_settings,
            P.parse_version_string,
            lambda b: LiveTracker().feed(b), lambda b: RawGapDetector().feed(b), lambda b: P.Reassembler().feed(b)]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64), st.integers(0, len(DECODERS) - 1))
def test_fuzz_decoders_random_bytes(data, k):
    try:
        DECODERS[k](data)
    except ERRORS:
        pass


VALID = [P.encode_live(1, 2, 3, 1, 2, 3, 4, (1, 2, 3, 4, 5)), P.encode_status(1, 50, 1, 2, 3, 4, 5),
         P.encode_racp(P.RACP_REPORT, P.OPR_RANGE, 1, 9), P.encode_racp_response(1, 1, 3, 4),
         P.encode_racp_number(7), P.encode_control(P.CTRL_TARGETS, 10, 20), P.encode_control_response(1, 1),
         P.encode_raw(1, 2, 962, list(range(12))), P.encode_cts(1_767_225_600), b"1.0",
         P.encode_settings(1, 2, 1, 0, 12, 30, 180, 120, 104, 0x0F, 10)]


@settings(max_examples=400, deadline=None)
@given(st.integers(0, len(VALID) - 1), st.integers(0, len(DECODERS) - 4),
       st.lists(st.tuples(st.integers(0, 40), st.integers(0, 255)), max_size=4), st.integers(0, 40))
def test_fuzz_decoders_mutated_valid_payloads(i, k, flips, cut):
    b = bytearray(VALID[i])
    for pos, val in flips:
        if pos < len(b):
            b[pos] = val
    b = bytes(b[:cut]) if cut < len(b) else bytes(b)
    try:
        DECODERS[k](b)
    except ERRORS:
        pass


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=30), max_size=12), st.integers(0, 30))
def test_fuzz_reassembler_frame_sequences(garbage, splice):
    """Random frames, also spliced into a real report: only the two errors."""
    frames = _frames(_recs(5), 20)
    seq = frames[:splice] + garbage + frames[splice:]
    ra = P.Reassembler()
    try:
        for f in seq:
            for r in ra.feed(f):
                R.check(r)
        ra.finish(-1, ra.frames)
    except ERRORS:
        pass


def test_reassembler_holds_a_bounded_stretch_of_bad_bytes():
    """Issue 11 (a band streaming without limit): frames that never start a record were
    all kept in one buffer, so a hostile band could fill the host's memory within one
    report; now they come out in bounded pieces (each counted by the sync's limit)."""
    ra = P.Reassembler()
    out = ra.feed(bytes([P.FRAME_START]) + b"\x00" * 20)  # out of step at once
    for i in range(1, 20000):
        out += ra.feed(bytes([i & P.FRAME_COUNTER]) + bytes([0x5A]) * 180)
        assert len(ra.buf) <= P.MAX_BAD_STRETCH
    assert len(out) >= 20000 * 180 // P.MAX_BAD_STRETCH
    assert all(len(b) <= P.MAX_BAD_STRETCH for b in out) and ra.bad == len(out)
    good = _recs(2)[0]
    assert ra.feed(bytes([P.FRAME_START | (20000 & P.FRAME_COUNTER)]) + good)[-1] == good


# -- the band's side in MicroPython ------------------------------------------------------------


def test_host_names_are_the_bands_values():
    """repcore.protocol defines every value once, privately (folded on the band);
    protocol_host gives each its public name, unchanged."""
    import re
    from pathlib import Path

    from repcore import protocol as band

    src = Path(band.__file__).read_text()
    names = re.findall(r"^_([A-Z][A-Z0-9_]*) = const\(", src, re.M)
    layouts = {"BASE", "LIVE_FMT", "STATUS_FMT", "RAW_HDR_FMT", "SETTINGS_FMT", "CTRL_FMT",
               "CTRL_LEN", "CTRL_RANGE", "MDAYS"}
    assert len(names) > 80
    for name in names:
        if name in layouts:
            continue
        if name.endswith("_UUID16"):
            assert getattr(P, name[:-2]) == band.uuid128(getattr(band, "_" + name)), name
        else:
            assert getattr(P, name) == getattr(band, "_" + name), name
    assert P.STATUS_UUID == "cc600002-3b9a-427d-978a-2eda6ee2a6b9"
    assert P.CTRL_NAMES[P.CTRL_FACTORY_RESET] == "factory reset"


def test_protocol_runs_in_micropython(tmp_path):
    """The band's side (repcore.protocol) in MicroPython gives the bytes the host's side
    reads in CPython, and reads the bytes the host writes."""
    from repband import micropython as mp

    shutil.copytree(mp.core_dir(), tmp_path / "repcore", ignore=shutil.ignore_patterns("__pycache__"))
    code = (
        "import sys\n"
        "sys.path.insert(0, '/w')\n"
        "import binascii\n"
        "from repcore import protocol as B\n"
        "buf = bytearray(20)\n"
        "B.encode_live_into(buf, 3, 4, 5, 2, 1, 6, 7, (1, 2, 3, 4, 5))\n"
        "print(binascii.hexlify(buf).decode())\n"
        "print(binascii.hexlify(B.encode_cts(1767225600)).decode(), B.decode_cts(B.encode_cts(1767225600)))\n"
        f"print(B.decode_racp({P.encode_racp(1, 4, 3, 9)!r}))\n"
        "buf = bytearray(8 + 2 * 12)\n"
        "print(binascii.hexlify(buf[:B.encode_raw_into(buf, 1, 2, 962, list(range(12)), 2)]).decode())\n"
        "try:\n"
        "    B.decode_racp(b'\\x02\\x01')\n"
        "except B.ProtocolError as e:\n"
        "    print('E', e.code, e)\n"
        "print(binascii.hexlify(B.encode_status(0x21, 80, 1000, 2000, 3, 4, 5)).decode())\n"
        f"print(B.decode_control({P.encode_control(P.CTRL_TARGETS, 14, 45)!r}))\n"
        f"print(B.decode_control({P.encode_control(P.CTRL_FACTORY_RESET, P.FACTORY_RESET_MAGIC)!r}))\n"
        "try:\n"
        f"    B.decode_control({P.encode_control(P.CTRL_IDENTIFY, 61)!r})\n"
        "except B.ProtocolError as e:\n"
        "    print('E', e.code, e)\n"
        "print(binascii.hexlify(B.encode_settings(1, 2, 1, 0, 14, 45, 180, 120, 104, 9, 10)).decode())\n"
        "print(binascii.hexlify(B.encode_racp_response(1, 1, 7, 3)).decode())\n"
    )
    out = mp.run_guest(code, tmp_path).stdout.split("\n")
    assert out[0] == P.encode_live(3, 4, 5, 2, 1, 6, 7, (1, 2, 3, 4, 5)).hex()
    assert out[1] == "%s 1767225600" % P.encode_cts(1767225600).hex()
    assert out[2] == "(1, 4, 3, 9)"
    assert out[3] == P.encode_raw(1, 2, 962, list(range(12))).hex()
    assert out[4].startswith("E 4 RACP delete supports only")
    assert P.decode_status(bytes.fromhex(out[5])) == {
        "major": P.PROTO_MAJOR, "minor": P.PROTO_MINOR, "flags": 0x21, "battery": 80, "used": 1000,
        "capacity": 2000, "unsynced": 3, "first_seq": 4, "next_seq": 5}
    assert out[6] == "(6, (14, 45))"
    assert out[7] == "(10, (%d,))" % P.FACTORY_RESET_MAGIC
    assert out[8] == "E %d control identify: parameter 61 out of range 1..60" % P.RESULT_INVALID
    assert P.decode_settings(bytes.fromhex(out[9])) == {
        "schema": 1, "mode": "clam", "leg": "left", "placement": "thigh", "target_reps": 14,
        "target_hold_s": 45, "session_idle_s": 180, "sleep_idle_s": 120, "odr_hz": 104,
        "gyro": True, "vibration": False, "buzzer": False, "led": True, "low_battery_pct": 10}
    assert P.decode_racp_response(bytes.fromhex(out[10])) == {
        "op": 6, "request": 1, "code": 1, "records": 7, "frames": 3}
