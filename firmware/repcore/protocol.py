"""The BLE protocol (version 1.2): UUIDs and the bytes of every characteristic.

Runs unchanged in MicroPython 1.27 and CPython. This module is the band's side: the
layouts, the encoders of what the band sends and the decoders of what the host
writes; the firmware's GATT service (app/ble.py) uses it. The host's side
(repcore.protocol_host: decoders of what the band sends, encoders of what the host
writes) builds on the same layouts and is never imported on the board, so it costs the
band no RAM. Byte layouts, flows and the threat model are in docs/protocol.md. All
fields little-endian.

Every value is defined here once, as a private `_NAME = const(...)`: MicroPython folds
it into the code that uses it and keeps neither the name nor the value in RAM (a public
constant costs the band ~30 bytes: its name, a slot in the module's dictionary, the
code storing it). The host reads the same values under their public names from
repcore.protocol_host (CPython keeps private names); an app module that needs one
folds its own copy, tied to this one by tests/test_app_constants.py.

Every decoder raises ProtocolError (a ValueError) saying what is wrong on garbage or
truncated input, never anything else. Decoders the firmware runs on writes from the
host (RACP, control point, Current Time) give the error a `code`: the RACP response
code or control point result to answer with.
"""
import struct

from repcore.compat import const

_PROTO_MAJOR = const(1)
_PROTO_MINOR = const(2)  # 1.1 added the settings characteristic; 1.2 the identity,
# factory reset, damaged-range records in reports
VERSION_STRING = "1.2"  # Device Information, Software Revision String (0x2A28)

# -- UUIDs ---------------------------------------------------------------------------
# The custom service and its characteristics share one random 128-bit base; the
# 16 bits at bytes 2-3 tell them apart: uuid128(_STATUS_UUID16) is the status
# characteristic's UUID string.
_BASE = const("cc60%04x-3b9a-427d-978a-2eda6ee2a6b9")


def uuid128(short):
    """The 128-bit UUID string of a custom attribute (`short` = its 16-bit number)."""
    return _BASE % short


_SERVICE_UUID16 = const(0x0001)
_STATUS_UUID16 = const(0x0002)  # read: version, storage, battery
_LIVE_UUID16 = const(0x0003)  # read, notify: cumulative live counts
_RECORDS_UUID16 = const(0x0004)  # notify: framed records
_RACP_UUID16 = const(0x0005)  # write, indicate: record access control point
_CONTROL_UUID16 = const(0x0006)  # write, indicate: control point
_RAW_UUID16 = const(0x0007)  # notify: raw IMU packets
_SETTINGS_UUID16 = const(0x0008)  # read (1.1): the band's settings
_IDENTITY_UUID16 = const(0x0009)  # read, encrypted (1.2): the band's random identity
_IDENTITY_SIZE = const(16)  # bytes, made at the band's first boot (app.identity)

# Standard services and characteristics (16-bit SIG numbers).
_DIS_SERVICE = const(0x180A)
_DIS_MANUFACTURER = const(0x2A29)
_DIS_MODEL = const(0x2A24)
_DIS_FIRMWARE = const(0x2A26)
_DIS_SOFTWARE = const(0x2A28)  # carries the protocol version, readable unpaired
_BATTERY_SERVICE = const(0x180F)
_BATTERY_LEVEL = const(0x2A19)
_CTS_SERVICE = const(0x1805)
_CTS_CURRENT_TIME = const(0x2A2B)


class ProtocolError(ValueError):
    """Bytes that are not a valid payload; `code` is the answer to send (or 0)."""

    def __init__(self, msg, code=0):
        super().__init__(msg)
        self.code = code


def _exact(buf, n, what, code=0):
    if buf is None:
        raise ProtocolError("%s: no data" % what, code)
    if len(buf) != n:
        raise ProtocolError("%s: %d bytes, expected %d" % (what, len(buf), n), code)


# -- live state ----------------------------------------------------------------------
# 20 bytes (fits one notification at the default MTU). Counts are cumulative over the
# session, so a lost or collapsed notification loses nothing.
_LIVE_SIZE = const(20)
_LIVE_FMT = const("<BBIBBHHHHHH")

_LIVE_SESSION = const(0x01)  # a session is running
_LIVE_HOLD = const(0x02)  # a hold is running (hold_ds counts)
_LIVE_CALIBRATED = const(0x04)
_LIVE_STORAGE_FULL = const(0x08)
_LIVE_RAW = const(0x10)  # raw streaming on
_LIVE_TIME_SET = const(0x20)  # the host set the clock since boot
_LIVE_SENSOR_FAULT = const(0x40)
_LIVE_LOW_BATTERY = const(0x80)

# Cumulative count cells, in payload order: (exercise, side) of repcore.events.
_N_CELLS = const(5)
_CELL_BRIDGE = const(0)  # reps, any side
_CELL_CLAM_LEFT = const(1)
_CELL_CLAM_RIGHT = const(2)
_CELL_STRETCH_LEFT = const(3)  # holds
_CELL_STRETCH_RIGHT = const(4)


def cell_of(exercise, side):
    """The count cell of an exercise (1 bridge, 2 clam, 3 stretch) and side (1 left,
    2 right), or -1. A clam or stretch without a side counts as right."""
    if exercise == 1:
        return _CELL_BRIDGE
    if exercise == 2:
        return _CELL_CLAM_LEFT if side == 1 else _CELL_CLAM_RIGHT
    if exercise == 3:
        return _CELL_STRETCH_LEFT if side == 1 else _CELL_STRETCH_RIGHT
    return -1


def _c(v, hi):
    v = int(v)
    return 0 if v < 0 else (hi if v > hi else v)


def encode_live_into(buf, flags, counter, session, exercise, side, set_count, hold_ds, counts):
    """Write the live state into `buf` (>= 20 bytes); values are clamped."""
    struct.pack_into(_LIVE_FMT, buf, 0, flags & 0xFF, counter & 0xFF, _c(session, 0xFFFFFFFF),
                     (exercise & 0x0F) | ((side & 0x0F) << 4), _c(set_count, 255), _c(hold_ds, 0xFFFF),
                     _c(counts[0], 0xFFFF), _c(counts[1], 0xFFFF), _c(counts[2], 0xFFFF),
                     _c(counts[3], 0xFFFF), _c(counts[4], 0xFFFF))
    return _LIVE_SIZE


# -- status ----------------------------------------------------------------------------
# Read-only, 24 bytes. Major and minor come first so any later layout can be refused.
_STATUS_SIZE = const(24)
_STATUS_FMT = const("<BBBBIIIII")
_BATTERY_UNKNOWN = const(255)


def encode_status(flags, battery, used, capacity, unsynced, first_seq, next_seq):
    buf = bytearray(_STATUS_SIZE)
    struct.pack_into(_STATUS_FMT, buf, 0, _PROTO_MAJOR, _PROTO_MINOR, flags & 0xFF,
                     _BATTERY_UNKNOWN if battery is None or battery < 0 else _c(battery, 100),
                     _c(used, 0xFFFFFFFF), _c(capacity, 0xFFFFFFFF), _c(unsynced, 0xFFFFFFFF),
                     _c(first_seq, 0xFFFFFFFF), _c(next_seq, 0xFFFFFFFF))
    return bytes(buf)


# -- record access control point -----------------------------------------------------
_RACP_REPORT = const(1)
_RACP_DELETE = const(2)
_RACP_ABORT = const(3)
_RACP_REPORT_NUMBER = const(4)
_RACP_NUMBER_RESPONSE = const(5)
_RACP_RESPONSE = const(6)

_OPR_NULL = const(0)
_OPR_ALL = const(1)
_OPR_LE = const(2)
_OPR_GE = const(3)
_OPR_RANGE = const(4)
_OPR_FIRST = const(5)
_OPR_LAST = const(6)

_FILTER_SEQ = const(1)  # the only filter type: the record sequence number (u32)

_RC_SUCCESS = const(1)
_RC_OP_NOT_SUPPORTED = const(2)
_RC_INVALID_OPERATOR = const(3)
_RC_OPERATOR_NOT_SUPPORTED = const(4)
_RC_INVALID_OPERAND = const(5)
_RC_NO_RECORDS = const(6)
_RC_ABORT_UNSUCCESSFUL = const(7)
_RC_NOT_COMPLETED = const(8)
_RC_OPERAND_NOT_SUPPORTED = const(9)
_RC_BUSY = const(10)

def decode_racp(buf):
    """A RACP request -> (op, operator, lo, hi): the records with lo <= seq <= hi
    (hi 0xFFFFFFFF when open; first/last leave lo, hi 0). Raises ProtocolError whose
    `code` is the response code to answer with."""
    if buf is None or len(buf) < 2:
        raise ProtocolError("RACP request of %d bytes, at least 2 expected" % (0 if buf is None else len(buf)),
                            _RC_INVALID_OPERAND if buf is not None and len(buf) == 1 else _RC_OP_NOT_SUPPORTED)
    op = buf[0]
    operator = buf[1]
    if op < _RACP_REPORT or op > _RACP_REPORT_NUMBER:
        raise ProtocolError("RACP op code %d not supported" % op, _RC_OP_NOT_SUPPORTED)
    if op == _RACP_ABORT:
        if operator != _OPR_NULL:
            raise ProtocolError("RACP abort takes the null operator, not %d" % operator, _RC_INVALID_OPERATOR)
        if len(buf) != 2:
            raise ProtocolError("RACP abort takes no operand", _RC_INVALID_OPERAND)
        return op, operator, 0, 0
    if operator == _OPR_NULL or operator > _OPR_LAST:
        raise ProtocolError("RACP operator %d is invalid" % operator, _RC_INVALID_OPERATOR)
    if op == _RACP_DELETE and operator != _OPR_LE:
        # The log deletes a prefix; the host deletes only what it committed.
        raise ProtocolError("RACP delete supports only the <= operator", _RC_OPERATOR_NOT_SUPPORTED)
    if operator == _OPR_ALL or operator == _OPR_FIRST or operator == _OPR_LAST:
        if len(buf) != 2:
            raise ProtocolError("RACP operator %d takes no operand" % operator, _RC_INVALID_OPERAND)
        return op, operator, 0, (0xFFFFFFFF if operator == _OPR_ALL else 0)
    n = 7 if operator != _OPR_RANGE else 11
    if len(buf) < 3:
        raise ProtocolError("RACP operand missing", _RC_INVALID_OPERAND)
    if buf[2] != _FILTER_SEQ:
        raise ProtocolError("RACP filter type %d not supported (1 = sequence number)" % buf[2],
                            _RC_OPERAND_NOT_SUPPORTED)
    if len(buf) != n:
        raise ProtocolError("RACP operand of %d bytes, expected %d" % (len(buf) - 2, n - 2), _RC_INVALID_OPERAND)
    if operator == _OPR_RANGE:
        lo, hi = struct.unpack_from("<II", buf, 3)
        if lo > hi:
            raise ProtocolError("RACP range %d..%d is empty" % (lo, hi), _RC_INVALID_OPERAND)
        return op, operator, lo, hi
    v = struct.unpack_from("<I", buf, 3)[0]
    if operator == _OPR_LE:
        return op, operator, 0, v
    return op, operator, v, 0xFFFFFFFF


def encode_racp_number(count):
    return struct.pack("<BBI", _RACP_NUMBER_RESPONSE, _OPR_NULL, _c(count, 0xFFFFFFFF))


def encode_racp_response(req_op, code, n_records=-1, n_frames=0):
    """Response code indication; a successful report also says how many records and
    frames it sent, so the host sees a lost tail."""
    if n_records >= 0:
        return struct.pack("<BBBBII", _RACP_RESPONSE, _OPR_NULL, req_op & 0xFF, code & 0xFF,
                           _c(n_records, 0xFFFFFFFF), _c(n_frames, 0xFFFFFFFF))
    return bytes((_RACP_RESPONSE, _OPR_NULL, req_op & 0xFF, code & 0xFF))


# -- record frames ---------------------------------------------------------------------
# A report streams its records back to back, cut into notifications of any size
# (at most MTU - 3 bytes): each starts with a header byte, bit 7 = a record starts
# at the first data byte, bits 0-6 = frame counter (0 at the first frame of a
# report, +1 per frame, mod 128).
_FRAME_START = const(0x80)
_FRAME_COUNTER = const(0x7F)


# -- control point ---------------------------------------------------------------------
_CTRL_START = const(0x01)
_CTRL_STOP = const(0x02)
_CTRL_MODE = const(0x03)  # u8 mode (repcore.events MODE_*)
_CTRL_LEG = const(0x04)  # u8 side (1 left, 2 right)
_CTRL_PLACEMENT = const(0x05)  # u8 (0 thigh, 1 hip)
_CTRL_TARGETS = const(0x06)  # u16 target reps, u16 target hold s
_CTRL_CALIBRATE = const(0x07)
_CTRL_RAW = const(0x08)  # u8 0 off, 1 on
_CTRL_IDENTIFY = const(0x09)  # u8 seconds (1..60)
_CTRL_FACTORY_RESET = const(0x0A)  # u32 the magic below (1.2): wipe the band, reboot
_FACTORY_RESET_MAGIC = const(0x45504957)  # b"WIPE" little-endian: no stray write wipes a band
_CTRL_RESPONSE = const(0x80)

_RESULT_SUCCESS = const(1)
_RESULT_NOT_SUPPORTED = const(2)
_RESULT_INVALID = const(3)
_RESULT_FAILED = const(4)

_CTRL_NAMES = const(("", "start", "stop", "mode", "leg", "placement", "targets", "calibrate", "raw", "identify",
                      "factory reset"))
# Parameter struct formats by op code (index = op code).
_CTRL_FMT = const(("", "", "", "<B", "<B", "<B", "<HH", "", "<B", "<B", "<I"))
_CTRL_LEN = const((0, 0, 0, 1, 1, 1, 4, 0, 1, 1, 4))
# Inclusive ranges of the first (and second) parameter.
_CTRL_RANGE = const(((), (), (), (0, 3), (1, 2), (0, 1), (1, 1000, 1, 3600), (), (0, 1), (1, 60),
                     (_FACTORY_RESET_MAGIC, _FACTORY_RESET_MAGIC)))


def decode_control(buf):
    """A control point write -> (op, params tuple); ProtocolError with the result code."""
    if buf is None or len(buf) < 1:
        raise ProtocolError("empty control point write", _RESULT_INVALID)
    op = buf[0]
    if op < 1 or op >= len(_CTRL_FMT):
        raise ProtocolError("control op code %d not supported" % op, _RESULT_NOT_SUPPORTED)
    n = _CTRL_LEN[op]
    if len(buf) != 1 + n:
        raise ProtocolError("control %s: %d parameter bytes, expected %d" % (_CTRL_NAMES[op], len(buf) - 1, n),
                            _RESULT_INVALID)
    if not n:
        return op, ()
    params = struct.unpack_from(_CTRL_FMT[op], buf, 1)
    rng = _CTRL_RANGE[op]
    for i in range(len(params)):
        if params[i] < rng[2 * i] or params[i] > rng[2 * i + 1]:
            raise ProtocolError("control %s: parameter %d out of range %d..%d"
                                % (_CTRL_NAMES[op], params[i], rng[2 * i], rng[2 * i + 1]), _RESULT_INVALID)
    return op, params


def encode_control_response(op, result):
    return bytes((_CTRL_RESPONSE, op & 0xFF, result & 0xFF))


# -- raw IMU stream --------------------------------------------------------------------
# u16 packet seq, u32 t_ms of the first sample, u16 sample period (10 us units), then
# samples of six int16 (ax ay az in the IMU's raw counts, gx gy gz likewise).
_RAW_HEADER = const(8)
_RAW_SAMPLE = const(12)
_RAW_HDR_FMT = const("<HIH")


def raw_samples_per_packet(mtu):
    """Samples that fit one notification at this ATT MTU (0 if none)."""
    n = (mtu - 3 - _RAW_HEADER) // _RAW_SAMPLE
    return n if n > 0 else 0


def encode_raw_into(buf, seq, t_ms, period_10us, samples, n):
    """Write a packet of the first `n` samples (flat sequence of 6n ints) into buf;
    returns its length."""
    struct.pack_into(_RAW_HDR_FMT, buf, 0, seq & 0xFFFF, _c(t_ms, 0xFFFFFFFF), _c(period_10us, 0xFFFF))
    off = _RAW_HEADER
    for i in range(n):
        j = 6 * i
        struct.pack_into("<hhhhhh", buf, off, samples[j], samples[j + 1], samples[j + 2],
                         samples[j + 3], samples[j + 4], samples[j + 5])
        off += _RAW_SAMPLE
    return off


# -- settings (1.1) ----------------------------------------------------------------------
# Read-only, encrypted: what the band's config.json holds (app.config), so the host
# shows the band's settings rather than what it last wrote. schema u8, mode u8
# (repcore.events MODE_*), leg u8 (1 left, 2 right), placement u8 (0 thigh, 1 hip),
# target reps u16, target hold s u16, session idle s u16, sleep idle s u16, output
# data rate Hz u16, flags u8 (_SET_*), low battery % u8. A newer minor version may
# append bytes.
_SETTINGS_SIZE = const(16)
_SETTINGS_FMT = const("<BBBBHHHHHBB")
_SET_GYRO = const(0x01)
_SET_VIBRATION = const(0x02)
_SET_BUZZER = const(0x04)
_SET_LED = const(0x08)


def encode_settings(schema, mode, leg, placement, target_reps, target_hold_s, session_idle_s,
                    sleep_idle_s, odr_hz, flags, low_battery_pct):
    buf = bytearray(_SETTINGS_SIZE)
    struct.pack_into(_SETTINGS_FMT, buf, 0, schema & 0xFF, mode & 0xFF, leg & 0xFF,
                     placement & 0xFF, _c(target_reps, 0xFFFF), _c(target_hold_s, 0xFFFF),
                     _c(session_idle_s, 0xFFFF), _c(sleep_idle_s, 0xFFFF), _c(odr_hz, 0xFFFF),
                     flags & 0xFF, _c(low_battery_pct, 100))
    return bytes(buf)


# -- Current Time (0x2A2B) -------------------------------------------------------------
# year u16, month, day, hours, minutes, seconds, day of week (1 Monday .. 7 Sunday),
# fractions256, adjust reason. repband writes UTC.
_CTS_SIZE = const(10)


def _days_from_civil(y, m, d):
    if m <= 2:
        y -= 1
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil_from_days(z):
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    if m <= 2:
        y += 1
    return y, m, d


_MDAYS = const((31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31))


def encode_cts(unix_s, fractions256=0, reason=1):
    """Current Time bytes of a Unix time (UTC). reason 1 = manual time update."""
    unix_s = int(unix_s)
    days = unix_s // 86400
    rem = unix_s - days * 86400
    y, m, d = _civil_from_days(days)
    dow = (days + 3) % 7 + 1  # 1970-01-01 was a Thursday (4)
    return struct.pack("<HBBBBBBBB", y, m, d, rem // 3600, (rem // 60) % 60, rem % 60, dow,
                       fractions256 & 0xFF, reason & 0xFF)


def decode_cts(buf):
    """Unix seconds (UTC) of a Current Time write; ProtocolError if it is not a date
    in 2020..2105."""
    _exact(buf, _CTS_SIZE, "current time")
    y, m, d, hh, mm, ss = struct.unpack_from("<HBBBBB", buf, 0)
    if y < 2020 or y > 2105:
        raise ProtocolError("current time: year %d out of range" % y)
    if m < 1 or m > 12:
        raise ProtocolError("current time: month %d" % m)
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    if d < 1 or d > _MDAYS[m - 1] + (1 if m == 2 and leap else 0):
        raise ProtocolError("current time: day %d of month %d" % (d, m))
    if hh > 23 or mm > 59 or ss > 59:
        raise ProtocolError("current time: %d:%d:%d" % (hh, mm, ss))
    return _days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss
