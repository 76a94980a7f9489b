"""The binary record format (repcore.records): layout, round trips, clamping, and every
kind of bad input rejected with RecordError (property-based), in CPython and in a real
MicroPython."""
from __future__ import annotations

import shutil
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repcore import events as ev
from repcore import recdecode as rd
from repcore import records as r

U16 = 0xFFFF
U32 = 0xFFFFFFFF

SAMPLES = [
    (ev.EV_REP, 12_345, ev.EX_BRIDGE, ev.SIDE_RIGHT, 0, 412, 900, 350, 1100),
    (ev.EV_REP, 99, ev.EX_CLAM, ev.SIDE_LEFT, 1, -35, 0, 0, 65535),
    (ev.EV_HOLD, 50_000, 81_250, ev.EX_STRETCH, ev.SIDE_LEFT, 655),
    (ev.EV_SET, 10_000, 70_000, ev.EX_BRIDGE, ev.SIDE_NONE, 12, 2, 398, 4100),
    (ev.EV_CALIBRATED, 3_000, ev.CAL_STANDING),
    (ev.EV_FAULT, 4_000_000_000, ev.FAULT_GAP),
    (r.K_SESSION_START, 1_000, ev.MODE_AUTO, ev.PLACEMENT_THIGH, ev.SIDE_RIGHT, 15, 30),
    (r.K_SESSION_END, 1_000, 1_801_000, r.END_IDLE, 3, 36, 4, 2, 60_500, 0),
]


def _enc(t, session=7, boot=3, seq=1234, epoch=1_700_000_000):
    return r.encode_event(t, session, boot, seq, epoch)


# ---------------------------------------------------------------------------
# layout


def test_kinds_match_event_codes():
    assert (r.K_REP, r.K_HOLD, r.K_SET, r.K_CALIBRATED, r.K_FAULT) == (
        ev.EV_REP, ev.EV_HOLD, ev.EV_SET, ev.EV_CALIBRATED, ev.EV_FAULT)
    kinds = {r.K_REP, r.K_HOLD, r.K_SET, r.K_CALIBRATED, r.K_FAULT, r.K_SESSION_START, r.K_SESSION_END,
             r.K_DAMAGED}
    assert len(kinds) == 8 and max(kinds) == r.N_KINDS - 1
    assert r.MIN_RECORD == r.OVERHEAD + min(r._PAYLOAD_LEN[1:])


def test_payload_sizes_match_formats():
    for kind in range(1, r.N_KINDS):
        assert struct.calcsize(r._PAYLOAD_FMT[kind]) == r._PAYLOAD_LEN[kind]
    assert r.HEADER_SIZE == 24 and r.CRC_SIZE == 4 and r.OVERHEAD == 28
    assert r.MAX_PAYLOAD == max(r._PAYLOAD_LEN)
    assert r.MAX_RECORD == r.OVERHEAD + r.MAX_PAYLOAD


def test_header_layout_as_documented():
    b = r.encode_event(SAMPLES[0], 0x01020304, 0x0506, 0x0708090A, 1_700_000_000)
    assert len(b) == r.HEADER_SIZE + 11 + r.CRC_SIZE
    assert b[0] == 0xA7 and b[1] == r.VERSION == 1 and b[2] == r.K_REP
    assert b[3] == r.FLAG_WALL
    assert struct.unpack_from("<H", b, 4)[0] == 11
    assert struct.unpack_from("<H", b, 6)[0] == 0x0506
    assert struct.unpack_from("<I", b, 8)[0] == 0x0708090A
    assert struct.unpack_from("<I", b, 12)[0] == 12_345
    assert struct.unpack_from("<I", b, 16)[0] == 1_700_000_000
    assert struct.unpack_from("<I", b, 20)[0] == 0x01020304
    # CRC-32 (zlib's) over header and payload, little-endian at the end
    assert struct.unpack_from("<I", b, len(b) - 4)[0] == zlib.crc32(b[:-4])
    # rep payload: exercise, side, partial, rom_x10 (i16), up, top, down (u16)
    assert struct.unpack_from("<BBBhHHH", b, 24) == (1, 2, 0, 412, 900, 350, 1100)


def test_records_are_small():
    sizes = {t[0]: len(_enc(t)) for t in SAMPLES}
    assert sizes[r.K_REP] == 39 and sizes[r.K_SET] == 44 and max(sizes.values()) == r.MAX_RECORD


# ---------------------------------------------------------------------------
# round trips


@pytest.mark.parametrize("t", SAMPLES, ids=[r.KIND_NAMES[t[0]] for t in SAMPLES])
def test_round_trip(t):
    d = rd.decode(_enc(t))
    assert d["tuple"] == t
    assert d["kind"] == t[0] and d["kind_name"] == r.KIND_NAMES[t[0]]
    assert (d["session"], d["boot"], d["seq"], d["epoch_s"]) == (7, 3, 1234, 1_700_000_000)
    assert d["t_ms"] == t[1] and d["version"] == 1 and d["size"] == len(_enc(t))
    assert d["wall"] and d["wall_ms"] == 1_700_000_000_000 + t[1]


def test_named_fields():
    d = rd.decode(_enc(SAMPLES[3]))
    assert (d["duration_ms"], d["count"], d["n_partial"], d["mean_rom_x10"], d["period_ms"]) == (
        60_000, 12, 2, 398, 4100)
    d = rd.decode(_enc(SAMPLES[7]))
    assert (d["reason"], d["n_sets"], d["reps"], d["holds"], d["hold_ms"], d["dropped"]) == (
        r.END_IDLE, 3, 36, 2, 60_500, 0)


def test_time_not_set_is_boot_relative():
    d = rd.decode(r.encode_event(SAMPLES[0], 1, 9, 5))
    assert d["flags"] == 0 and not d["wall"] and d["wall_ms"] is None
    assert d["epoch_s"] == 0 and d["boot"] == 9 and d["t_ms"] == 12_345


def test_encode_unknown_kind():
    with pytest.raises(r.RecordError, match="unknown record kind 9"):
        r.encode_event((9, 0), 1, 1, 1)
    with pytest.raises(r.RecordError, match="unknown record kind 0"):
        r.encode_event((0, 0), 1, 1, 1)


def test_encode_into_buffer():
    buf = bytearray(100)
    n = r.encode_into(buf, 10, SAMPLES[2], 4, 5, 6, 0)
    assert bytes(buf[10:10 + n]) == r.encode_event(SAMPLES[2], 4, 5, 6, 0)
    with pytest.raises(r.RecordError, match="buffer too small"):
        r.encode_into(bytearray(20), 0, SAMPLES[2], 4, 5, 6, 0)


def test_out_of_range_values_clamp_to_the_one_range_table():
    t = (ev.EV_REP, 2**33, 300, -1, 1, 99_999, 70_000, -5, 10**9)
    d = rd.decode(_enc(t))
    assert d["t_ms"] == U32
    assert (d["exercise"], d["side"], d["rom_x10"], d["up_ms"], d["top_ms"], d["down_ms"]) == (
        3, 0, 1800, U16, 0, U16)
    d = rd.decode(_enc((ev.EV_HOLD, 5_000, 1_000, 3, 1, -40_000)))  # end before start
    assert d["duration_ms"] == 0 and d["angle_x10"] == -1800
    d = rd.decode(_enc((ev.EV_HOLD, 0, 10**10, 3, 1, 0)))
    assert d["duration_ms"] == r.HOLD_MAX_MS
    d = rd.decode(_enc((ev.EV_HOLD, 0, 1000, 3, 1, 0), epoch=1_000_000))  # no wall clock then
    assert not d["wall"] and d["epoch_s"] == 0


def test_real_use_fits_the_ranges():
    """Wide enough for real use: a hold of many minutes, a set of 100 reps, a long
    session."""
    for t in [(ev.EV_HOLD, 0, 45 * 60_000, ev.EX_STRETCH, ev.SIDE_LEFT, 250),
              (ev.EV_SET, 0, 40 * 60_000, ev.EX_CLAM, ev.SIDE_RIGHT, 100, 12, 600, 24_000),
              (r.K_SESSION_START, 0, ev.MODE_AUTO, ev.PLACEMENT_HIP, ev.SIDE_LEFT, 100, 600),
              (r.K_SESSION_END, 0, 3 * 3600_000, r.END_BUTTON, 30, 900, 40, 20, 20 * 60_000, 300)]:
        assert rd.decode(_enc(t))["tuple"] == t


# Issue 11: valid CRCs over absurd contents were stored and shown.
ABSURD = [
    ("exercise 255", "<BBBhHHH", (255, 2, 0, 400, 900, 300, 1000), r.K_REP),
    ("rom_x10 -32768", "<BBBhHHH", (1, 2, 0, -32768, 900, 300, 1000), r.K_REP),
    ("duration_ms 4294967295", "<IBBh", (U32, 3, 1, 100), r.K_HOLD),
    ("count 65535", "<IBBHHhI", (60_000, 1, 0, 65535, 0, 400, 5000), r.K_SET),
    ("reps 65535", "<IBHHHHIH", (60_000, 1, 1, 65535, 0, 0, 0, 0), r.K_SESSION_END),
    ("reason 0", "<IBHHHHIH", (60_000, 0, 1, 10, 0, 0, 0, 0), r.K_SESSION_END),
    ("mean_rom_x10 -32768", "<IBBHHhI", (60_000, 1, 0, 10, 0, -32768, 5000), r.K_SET),
    ("method 9", "<B", (9,), r.K_CALIBRATED),
    ("mode 7", "<BBBHH", (7, 0, 1, 10, 30), r.K_SESSION_START),
]


def _forge(kind, fmt, payload, seq=5, epoch=1_700_000_000):
    """A record with a valid CRC over whatever payload (what a hostile band can send)."""
    body = struct.pack("<BBBBHHIIII", r.MAGIC, r.VERSION, kind, r.FLAG_WALL if epoch else 0,
                       struct.calcsize(fmt), 1, seq, 1000, epoch, 0) + struct.pack(fmt, *payload)
    return body + struct.pack("<I", zlib.crc32(body))


@pytest.mark.parametrize("what,fmt,payload,kind", ABSURD, ids=[a[0] for a in ABSURD])
def test_absurd_contents_with_a_valid_crc_are_refused(what, fmt, payload, kind):
    b = _forge(kind, fmt, payload)
    assert r.check(b) == len(b)  # the CRC is fine: the band's log keeps it
    with pytest.raises(r.RecordError, match=what.split()[0] + " .* out of range"):
        rd.decode(b)


def test_damaged_range_record():
    b = r.encode_event((r.K_DAMAGED, 0, 60), 0, 0, 53)
    d = rd.decode(b)
    assert (d["kind_name"], d["seq"], d["last_seq"]) == ("damaged", 53, 60)
    with pytest.raises(r.RecordError, match="before it starts"):
        rd.decode(r.encode_event((r.K_DAMAGED, 0, 52), 0, 0, 53))
    with pytest.raises(r.RecordError, match="before 2019"):
        rd.decode(_forge(r.K_REP, "<BBBhHHH", (1, 2, 0, 400, 900, 300, 1000), epoch=86_400))


def test_set_seq_rewrites_seq_and_crc():
    b = bytearray(_enc(SAMPLES[4], seq=1))
    r.set_seq(b, 0, 987_654)
    d = rd.decode(b)
    assert d["seq"] == 987_654 and d["tuple"] == SAMPLES[4]


def test_decode_all():
    blob = b"".join(_enc(t, seq=i) for i, t in enumerate(SAMPLES))
    out = rd.decode_all(blob)
    assert [d["tuple"] for d in out] == SAMPLES and [d["seq"] for d in out] == list(range(len(SAMPLES)))
    with pytest.raises(r.RecordError, match="truncated"):
        rd.decode_all(blob[:-1])


# ---------------------------------------------------------------------------
# bad input: clear errors


def test_bad_input_messages():
    good = _enc(SAMPLES[0])
    with pytest.raises(r.RecordError, match="magic"):
        rd.decode(b"\x00" + good[1:])
    with pytest.raises(r.RecordError, match="version 2 not supported"):
        rd.decode(good[:1] + b"\x02" + good[2:])
    with pytest.raises(r.RecordError, match="unknown record kind 42"):
        rd.decode(good[:2] + b"\x2a" + good[3:])
    with pytest.raises(r.RecordError, match="bad length"):
        rd.decode(good[:4] + b"\x0c\x00" + good[6:])
    with pytest.raises(r.RecordError, match="bad CRC"):
        rd.decode(good[:-1] + bytes([good[-1] ^ 1]))
    with pytest.raises(r.RecordError, match="truncated"):
        rd.decode(good[:10])
    with pytest.raises(r.RecordError, match="truncated rep record: 38 of 39"):
        rd.decode(good[:-1])
    with pytest.raises(r.RecordError, match="bad length: 40 bytes given"):
        rd.decode(good + b"\x00")
    with pytest.raises(r.RecordError):
        rd.decode(b"")


@pytest.mark.parametrize("t", SAMPLES, ids=[r.KIND_NAMES[t[0]] for t in SAMPLES])
def test_every_truncation_and_byte_flip_rejected(t):
    good = _enc(t)
    for n in range(len(good)):
        with pytest.raises(r.RecordError):
            rd.decode(good[:n])
    for i in range(len(good)):
        for mask in (0x01, 0x80, 0xFF):
            bad = bytearray(good)
            bad[i] ^= mask
            with pytest.raises(r.RecordError):
                rd.decode(bytes(bad))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=120))
def test_fuzz_garbage_only_raises_record_error(data):
    try:
        d = rd.decode(data)
    except r.RecordError:
        return
    assert r.encode_event(d["tuple"], d["session"], d["boot"], d["seq"], d["epoch_s"]) == data


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SAMPLES), st.data())
def test_fuzz_mutated_records(t, data):
    good = bytearray(_enc(t))
    i = data.draw(st.integers(0, len(good) - 1))
    good[i] = data.draw(st.integers(0, 255).filter(lambda v: v != good[i]))
    cut = data.draw(st.integers(0, len(good) + 3))
    blob = bytes(good[:cut]) + data.draw(st.binary(max_size=3))
    with pytest.raises(r.RecordError):
        rd.decode(blob)
    if blob:  # an empty batch is no records
        with pytest.raises(r.RecordError):
            rd.decode_all(blob)
    with pytest.raises(r.RecordError):
        r.check(blob, data.draw(st.integers(-2, len(blob) + 2)))


u8 = st.integers(0, 255)
u16 = st.integers(0, U16)
u32 = st.integers(0, U32)
i16 = st.integers(-32768, 32767)


def _in(draw, kind, i):
    rng = r.RANGES[kind]
    return draw(st.integers(rng[2 * i], rng[2 * i + 1]))


@st.composite
def record_tuples(draw):
    """Any tuple whose fields are within repcore.records.RANGES."""
    kind = draw(st.integers(1, r.N_KINDS - 1))
    t = draw(u32)
    n = len(r._PAYLOAD_FMT[kind]) - 1
    v = [_in(draw, kind, i) for i in range(n)]
    if kind in (r.K_HOLD, r.K_SET, r.K_SESSION_END):  # the first field is a duration
        return (kind, t, t + v[0]) + tuple(v[1:])
    return (kind, t) + tuple(v)


@settings(max_examples=300, deadline=None)
@given(record_tuples(), u32, u16, u32, st.one_of(st.just(0), st.integers(r.EPOCH_MIN, U32)))
def test_fuzz_round_trip(t, session, boot, seq, epoch):
    if t[0] == r.K_DAMAGED:
        t = t[:2] + (max(t[2], seq),)
    b = r.encode_event(t, session, boot, seq, epoch)
    d = rd.decode(b)
    assert d["tuple"] == t
    assert (d["session"], d["boot"], d["seq"], d["epoch_s"], d["wall"]) == (session, boot, seq, epoch, epoch != 0)
    assert r.check(b) == len(b) and r.seq_of(b) == seq and r.boot_of(b) == boot


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_software_crc_matches_zlib(data):
    assert r._crc32_soft(data) == zlib.crc32(data) == r.crc32(data)


# ---------------------------------------------------------------------------
# the same bytes in a real MicroPython


def test_micropython_same_bytes(tmp_path):
    from repband import micropython as mp

    shutil.copytree(mp.core_dir(), tmp_path / "repcore", ignore=shutil.ignore_patterns("__pycache__"))
    code = (
        "import sys\n"
        "sys.path.insert(0, '/w')\n"
        "import binascii\n"
        "from repcore import records as r\n"
        "from repcore import recdecode as rd\n"
        f"S = {SAMPLES!r}\n"
        "out = []\n"
        "for soft in (0, 1):\n"
        "    if soft:\n"
        "        r._crc32 = None\n"
        "    for t in S:\n"
        "        b = r.encode_event(t, 7, 3, 1234, 1700000000)\n"
        "        d = rd.decode(b)\n"
        "        assert d['tuple'] == t, (d['tuple'], t)\n"
        "        print(binascii.hexlify(b).decode())\n"
        "    try:\n"
        "        rd.decode(b[:-1] + bytes([b[-1] ^ 1]))\n"
        "        print('no error')\n"
        "    except r.RecordError as e:\n"
        "        print('E', e)\n"
    )
    out = mp.run_guest(code, tmp_path).stdout.split("\n")
    want = [_enc(t).hex() for t in SAMPLES]
    n = len(SAMPLES)
    assert out[:n] == want
    assert out[n].startswith("E bad CRC")
    assert out[n + 1:2 * n + 1] == want  # the software CRC gives the same bytes
    assert out[2 * n + 1].startswith("E bad CRC")
