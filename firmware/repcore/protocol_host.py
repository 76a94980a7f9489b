"""The host's side of the BLE protocol (version 1.2): decoders of what the band sends,
encoders of what the host writes, and the names the host shows.

Everything in repcore.protocol (the band's side: UUIDs, layouts, constants) is
re-exported here under public names, so host code uses one module:
`from repcore import protocol_host as P`. The values and layouts are defined once, in
repcore.protocol; this module only reads and writes them from the other end. The board
never imports it, and it runs in CPython only: repcore.protocol's values are private
const()s, which MicroPython folds into the band's code and does not keep by name.
"""
import struct

from repcore import records
from repcore.protocol import *  # noqa: F403 - the band's encoders and decoders
from repcore.protocol import (  # noqa: F401 - re-exported for the host
    _PROTO_MAJOR as PROTO_MAJOR,
    _PROTO_MINOR as PROTO_MINOR,
    _IDENTITY_SIZE as IDENTITY_SIZE,
    _DIS_SERVICE as DIS_SERVICE,
    _DIS_MANUFACTURER as DIS_MANUFACTURER,
    _DIS_MODEL as DIS_MODEL,
    _DIS_FIRMWARE as DIS_FIRMWARE,
    _DIS_SOFTWARE as DIS_SOFTWARE,
    _BATTERY_SERVICE as BATTERY_SERVICE,
    _BATTERY_LEVEL as BATTERY_LEVEL,
    _CTS_SERVICE as CTS_SERVICE,
    _CTS_CURRENT_TIME as CTS_CURRENT_TIME,
    _LIVE_SIZE as LIVE_SIZE,
    _LIVE_SESSION as LIVE_SESSION,
    _LIVE_HOLD as LIVE_HOLD,
    _LIVE_CALIBRATED as LIVE_CALIBRATED,
    _LIVE_STORAGE_FULL as LIVE_STORAGE_FULL,
    _LIVE_RAW as LIVE_RAW,
    _LIVE_TIME_SET as LIVE_TIME_SET,
    _LIVE_SENSOR_FAULT as LIVE_SENSOR_FAULT,
    _LIVE_LOW_BATTERY as LIVE_LOW_BATTERY,
    _N_CELLS as N_CELLS,
    _CELL_BRIDGE as CELL_BRIDGE,
    _CELL_CLAM_LEFT as CELL_CLAM_LEFT,
    _CELL_CLAM_RIGHT as CELL_CLAM_RIGHT,
    _CELL_STRETCH_LEFT as CELL_STRETCH_LEFT,
    _CELL_STRETCH_RIGHT as CELL_STRETCH_RIGHT,
    _STATUS_SIZE as STATUS_SIZE,
    _BATTERY_UNKNOWN as BATTERY_UNKNOWN,
    _RACP_REPORT as RACP_REPORT,
    _RACP_DELETE as RACP_DELETE,
    _RACP_ABORT as RACP_ABORT,
    _RACP_REPORT_NUMBER as RACP_REPORT_NUMBER,
    _RACP_NUMBER_RESPONSE as RACP_NUMBER_RESPONSE,
    _RACP_RESPONSE as RACP_RESPONSE,
    _OPR_NULL as OPR_NULL,
    _OPR_ALL as OPR_ALL,
    _OPR_LE as OPR_LE,
    _OPR_GE as OPR_GE,
    _OPR_RANGE as OPR_RANGE,
    _OPR_FIRST as OPR_FIRST,
    _OPR_LAST as OPR_LAST,
    _FILTER_SEQ as FILTER_SEQ,
    _RC_SUCCESS as RC_SUCCESS,
    _RC_OP_NOT_SUPPORTED as RC_OP_NOT_SUPPORTED,
    _RC_INVALID_OPERATOR as RC_INVALID_OPERATOR,
    _RC_OPERATOR_NOT_SUPPORTED as RC_OPERATOR_NOT_SUPPORTED,
    _RC_INVALID_OPERAND as RC_INVALID_OPERAND,
    _RC_NO_RECORDS as RC_NO_RECORDS,
    _RC_ABORT_UNSUCCESSFUL as RC_ABORT_UNSUCCESSFUL,
    _RC_NOT_COMPLETED as RC_NOT_COMPLETED,
    _RC_OPERAND_NOT_SUPPORTED as RC_OPERAND_NOT_SUPPORTED,
    _RC_BUSY as RC_BUSY,
    _FRAME_START as FRAME_START,
    _FRAME_COUNTER as FRAME_COUNTER,
    _CTRL_START as CTRL_START,
    _CTRL_STOP as CTRL_STOP,
    _CTRL_MODE as CTRL_MODE,
    _CTRL_LEG as CTRL_LEG,
    _CTRL_PLACEMENT as CTRL_PLACEMENT,
    _CTRL_TARGETS as CTRL_TARGETS,
    _CTRL_CALIBRATE as CTRL_CALIBRATE,
    _CTRL_RAW as CTRL_RAW,
    _CTRL_IDENTIFY as CTRL_IDENTIFY,
    _CTRL_FACTORY_RESET as CTRL_FACTORY_RESET,
    _FACTORY_RESET_MAGIC as FACTORY_RESET_MAGIC,
    _CTRL_RESPONSE as CTRL_RESPONSE,
    _RESULT_SUCCESS as RESULT_SUCCESS,
    _RESULT_NOT_SUPPORTED as RESULT_NOT_SUPPORTED,
    _RESULT_INVALID as RESULT_INVALID,
    _RESULT_FAILED as RESULT_FAILED,
    _CTRL_NAMES as CTRL_NAMES,
    _RAW_HEADER as RAW_HEADER,
    _RAW_SAMPLE as RAW_SAMPLE,
    _SETTINGS_SIZE as SETTINGS_SIZE,
    _SET_GYRO as SET_GYRO,
    _SET_VIBRATION as SET_VIBRATION,
    _SET_BUZZER as SET_BUZZER,
    _SET_LED as SET_LED,
    _CTS_SIZE as CTS_SIZE,
    _SERVICE_UUID16,
    _STATUS_UUID16,
    _LIVE_UUID16,
    _RECORDS_UUID16,
    _RACP_UUID16,
    _CONTROL_UUID16,
    _RAW_UUID16,
    _SETTINGS_UUID16,
    _IDENTITY_UUID16,
    _CTRL_FMT,
    _CTRL_LEN,
    _LIVE_FMT,
    _RAW_HDR_FMT,
    _SETTINGS_FMT,
    _STATUS_FMT,
    ProtocolError,
    _exact,
    encode_live_into,
    encode_raw_into,
    uuid128,
)

# The UUID strings of the custom service and its characteristics (bleak finds them so).
SERVICE_UUID = uuid128(_SERVICE_UUID16)
STATUS_UUID = uuid128(_STATUS_UUID16)
LIVE_UUID = uuid128(_LIVE_UUID16)
RECORDS_UUID = uuid128(_RECORDS_UUID16)
RACP_UUID = uuid128(_RACP_UUID16)
CONTROL_UUID = uuid128(_CONTROL_UUID16)
RAW_UUID = uuid128(_RAW_UUID16)
SETTINGS_UUID = uuid128(_SETTINGS_UUID16)
IDENTITY_UUID = uuid128(_IDENTITY_UUID16)


def sig_uuid(short):
    """The 128-bit string of a Bluetooth SIG 16-bit UUID (as bleak names them)."""
    return "0000%04x-0000-1000-8000-00805f9b34fb" % short


CELL_NAMES = ("bridge", "clam_left", "clam_right", "stretch_left", "stretch_right")
RESULT_NAMES = ("", "success", "op code not supported", "invalid parameter", "operation failed")


class VersionError(ProtocolError):
    """The peer speaks a protocol major version this side does not know."""


def _need(buf, n, what):
    if buf is None:
        raise ProtocolError("%s: no data" % what)
    if len(buf) < n:
        raise ProtocolError("%s truncated: %d bytes, expected %d" % (what, len(buf), n))



def check_version(major, minor=0):
    """Refuse a protocol major version this side does not speak (VersionError)."""
    if major != PROTO_MAJOR:
        raise VersionError("the band speaks protocol %d.%d, this repband speaks %d.%d: update %s"
                           % (major, minor, PROTO_MAJOR, PROTO_MINOR,
                              "repband on this computer" if major > PROTO_MAJOR else "the band's firmware"))


def parse_version_string(s):
    """(major, minor) from "1.0" (bytes or str); ProtocolError if it is not that."""
    try:
        if not isinstance(s, str):
            s = bytes(s).decode()
        parts = s.strip().split(".")
        if len(parts) != 2:
            raise ValueError
        major = int(parts[0])
        minor = int(parts[1])
    except (ValueError, TypeError, UnicodeError):
        raise ProtocolError("not a protocol version: %r" % (s,))
    if major < 0 or minor < 0 or major > 255 or minor > 255:
        raise ProtocolError("not a protocol version: %r" % (s,))
    return major, minor



def encode_live(flags, counter, session, exercise, side, set_count, hold_ds, counts):
    buf = bytearray(LIVE_SIZE)
    encode_live_into(buf, flags, counter, session, exercise, side, set_count, hold_ds, counts)
    return bytes(buf)


def decode_live(buf):
    _exact(buf, LIVE_SIZE, "live state")
    v = struct.unpack_from(_LIVE_FMT, buf, 0)
    counts = v[6:]
    d = {"flags": v[0], "counter": v[1], "session": v[2], "exercise": v[3] & 0x0F,
         "side": v[3] >> 4, "set_count": v[4], "hold_ds": v[5], "counts": counts,
         "session_active": bool(v[0] & LIVE_SESSION), "hold_active": bool(v[0] & LIVE_HOLD),
         "calibrated": bool(v[0] & LIVE_CALIBRATED), "storage_full": bool(v[0] & LIVE_STORAGE_FULL),
         "raw": bool(v[0] & LIVE_RAW), "time_set": bool(v[0] & LIVE_TIME_SET),
         "sensor_fault": bool(v[0] & LIVE_SENSOR_FAULT), "low_battery": bool(v[0] & LIVE_LOW_BATTERY)}
    for i in range(N_CELLS):
        d[CELL_NAMES[i]] = counts[i]
    return d


MAX_LOG_CAPACITY = 4 << 20  # bytes: no band's log is larger (the firmware's is 256 KiB); the host
# refuses a band reporting more, since the records one sync takes are bounded by it


def decode_status(buf):
    """The status dict; VersionError for another major version (checked first), extra
    bytes of a newer minor version are ignored."""
    _need(buf, 2, "status")
    check_version(buf[0], buf[1])
    _need(buf, STATUS_SIZE, "status")
    v = struct.unpack_from(_STATUS_FMT, buf, 0)
    if v[3] != BATTERY_UNKNOWN and v[3] > 100:
        raise ProtocolError("status: battery %d %% out of range" % v[3])
    return {"major": v[0], "minor": v[1], "flags": v[2],
            "battery": None if v[3] == BATTERY_UNKNOWN else v[3],
            "used": v[4], "capacity": v[5], "unsynced": v[6], "first_seq": v[7], "next_seq": v[8]}



RC_NAMES = ("", "success", "op code not supported", "invalid operator", "operator not supported",
            "invalid operand", "no records found", "abort unsuccessful", "procedure not completed",
            "operand not supported", "server busy")


def rc_name(code):
    return RC_NAMES[code] if 0 < code < len(RC_NAMES) else "response code %d" % code


def encode_racp(op, operator=OPR_NULL, lo=0, hi=0):
    """A RACP request. lo is the operand of <= and >=; lo, hi of a range."""
    if operator == OPR_LE or operator == OPR_GE:
        return struct.pack("<BBBI", op, operator, FILTER_SEQ, lo)
    if operator == OPR_RANGE:
        return struct.pack("<BBBII", op, operator, FILTER_SEQ, lo, hi)
    return bytes((op, operator))



def decode_racp_response(buf):
    """An indication of the RACP -> dict: {"op": 5, "count"} or {"op": 6, "request",
    "code", "records", "frames"} (records -1 when absent)."""
    _need(buf, 2, "RACP response")
    op = buf[0]
    if buf[1] != OPR_NULL:
        raise ProtocolError("RACP response with operator %d (null expected)" % buf[1])
    if op == RACP_NUMBER_RESPONSE:
        _exact(buf, 6, "RACP number response")
        return {"op": op, "count": struct.unpack_from("<I", buf, 2)[0]}
    if op == RACP_RESPONSE:
        if len(buf) != 4 and len(buf) != 12:
            raise ProtocolError("RACP response code of %d bytes, expected 4 or 12" % len(buf))
        req = buf[2]
        code = buf[3]
        if code < RC_SUCCESS or code > RC_BUSY:
            raise ProtocolError("RACP response code %d unknown" % code)
        d = {"op": op, "request": req, "code": code, "records": -1, "frames": 0}
        if len(buf) == 12:
            d["records"], d["frames"] = struct.unpack_from("<II", buf, 4)
        return d
    raise ProtocolError("not a RACP response: op code %d" % op)



MAX_BAD_STRETCH = 1024  # bytes of a stretch out of step handed on as one item: memory stays bounded


class Reassembler:
    """Host side: frames of one report in, records (bytes) out.

    The link's faults raise ProtocolError: a missing frame (a counter jump) or a lost
    tail (`finish`); the caller re-requests from the next seq it needs. A repeated
    frame (same counter and bytes as the previous one) is dropped and counted in
    `duplicates`. Bytes that arrived whole but are not a valid record (the band's own
    data: a bad CRC, a header out of step) are handed on as they are, for the caller
    to check and quarantine: a record whose header is sane as its length says, bytes
    out of step up to the next frame that starts a record, in pieces of at most
    MAX_BAD_STRETCH bytes (`bad` counts them)."""

    def __init__(self):
        self.buf = bytearray()
        self.frames = 0  # frames accepted
        self.records = 0
        self.duplicates = 0
        self.bad = 0  # items handed on that are not valid records
        self._skip = False  # out of step: bytes go to buf until a frame starts a record
        self._last = None

    def _flush_bad(self, out):
        if self.buf:
            out.append(bytes(self.buf))
            self.bad += 1
            self.buf = bytearray()
        self._skip = False

    def feed(self, frame):
        if frame is None or len(frame) < 2:
            raise ProtocolError("record frame of %d bytes: a header and data expected"
                                % (0 if frame is None else len(frame)))
        h = frame[0]
        counter = h & FRAME_COUNTER
        expect = self.frames & FRAME_COUNTER
        if counter != expect:
            if self.frames and counter == (expect - 1) & FRAME_COUNTER and self._last == bytes(frame):
                self.duplicates += 1
                return []
            raise ProtocolError("record frame %d missing (frame %d came)" % (expect, counter))
        self._last = bytes(frame)
        self.frames += 1
        out = []
        if h & FRAME_START:
            self._flush_bad(out)  # a record starts here: whatever was pending was not one
        elif not self.buf:
            self._skip = True  # no record starts here and none is pending
        self.buf.extend(memoryview(frame)[1:])
        if self._skip:
            while len(self.buf) >= MAX_BAD_STRETCH:  # a band may send nothing but this
                out.append(bytes(self.buf[:MAX_BAD_STRETCH]))
                self.buf = self.buf[MAX_BAD_STRETCH:]
                self.bad += 1
            return out
        buf = self.buf
        off = 0
        end = len(buf)
        while end - off >= 6:
            n = buf[off + 4] | (buf[off + 5] << 8)
            if buf[off] != records.MAGIC or buf[off + 1] != records.VERSION or n > records.MAX_PAYLOAD:
                self.buf = buf[off:]
                self._skip = True  # out of step until a frame starts a record
                return out
            size = records.OVERHEAD + n
            if end - off < size:
                break
            rec = bytes(buf[off:off + size])
            try:
                records.check(rec)
                self.records += 1
            except records.RecordError:
                self.bad += 1
            out.append(rec)
            off += size
        if off:
            self.buf = buf[off:]  # (MicroPython's bytearray has no slice deletion)
        return out

    def finish(self, n_records, n_frames):
        """The end of a report, checked against its response: a lost tail raises
        ProtocolError; bytes left over (not a whole record) come back as one item."""
        if n_frames != self.frames:
            raise ProtocolError("report sent %d records in %d frames, %d records in %d frames arrived"
                                % (n_records, n_frames, self.records, self.frames))
        out = []
        self._flush_bad(out)
        if not self.bad and n_records >= 0 and n_records != self.records:
            raise ProtocolError("report sent %d records in %d frames, %d records in %d frames arrived"
                                % (n_records, n_frames, self.records, self.frames))
        return out



def encode_control(op, a=None, b=None):
    if op < 1 or op >= len(_CTRL_FMT):
        raise ProtocolError("control op code %d unknown" % op, RESULT_NOT_SUPPORTED)
    fmt = _CTRL_FMT[op]
    if not fmt:
        return bytes((op,))
    if len(fmt) == 3:  # "<HH": two parameters
        return bytes((op,)) + struct.pack(fmt, a, b)
    return bytes((op,)) + struct.pack(fmt, a)



def decode_control_response(buf):
    """(op, result) of a control point indication."""
    _exact(buf, 3, "control response")
    if buf[0] != CTRL_RESPONSE:
        raise ProtocolError("not a control response: 0x%02x" % buf[0])
    if buf[2] < RESULT_SUCCESS or buf[2] > RESULT_FAILED:
        raise ProtocolError("control response: result %d unknown" % buf[2])
    return buf[1], buf[2]



def encode_raw(seq, t_ms, period_10us, samples):
    n = len(samples) // 6
    buf = bytearray(RAW_HEADER + RAW_SAMPLE * n)
    encode_raw_into(buf, seq, t_ms, period_10us, samples, n)
    return bytes(buf)


def decode_raw(buf):
    """{"seq", "t_ms", "period_us", "samples": [(ax, ay, az, gx, gy, gz), ...]}."""
    _need(buf, RAW_HEADER + RAW_SAMPLE, "raw packet")
    if (len(buf) - RAW_HEADER) % RAW_SAMPLE:
        raise ProtocolError("raw packet of %d bytes: not a header and whole samples" % len(buf))
    seq, t, period = struct.unpack_from(_RAW_HDR_FMT, buf, 0)
    if period == 0:
        raise ProtocolError("raw packet: sample period 0")
    out = []
    for off in range(RAW_HEADER, len(buf), RAW_SAMPLE):
        out.append(struct.unpack_from("<hhhhhh", buf, off))
    return {"seq": seq, "t_ms": t, "period_us": period * 10, "samples": out}


def raw_gap(prev_seq, seq):
    """Packets missing between two consecutive raw packets (u16 seq, wraps)."""
    return (seq - prev_seq - 1) & 0xFFFF




def decode_identity(buf):
    """The band's identity (1.2) as hex; ProtocolError unless it is IDENTITY_SIZE bytes."""
    from binascii import hexlify

    _exact(buf, IDENTITY_SIZE, "identity")
    return hexlify(bytes(buf)).decode()


MODE_NAMES = ("auto", "bridge", "clam", "stretch")  # repcore.events MODE_*
LEG_NAMES = ("", "left", "right")
PLACEMENT_NAMES = ("thigh", "hip")


def decode_settings(buf):
    """The band's settings (1.1) as the names of its config.json; extra bytes of a newer
    minor version are ignored, values out of the layout's range raise ProtocolError."""
    _need(buf, SETTINGS_SIZE, "settings")
    v = struct.unpack_from(_SETTINGS_FMT, buf, 0)
    if v[1] >= len(MODE_NAMES) or not 1 <= v[2] <= 2 or v[3] >= len(PLACEMENT_NAMES):
        raise ProtocolError("settings: mode %d, leg %d, placement %d out of range" % v[1:4])
    if v[10] > 100:
        raise ProtocolError("settings: low battery %d %% out of range" % v[10])
    flags = v[9]
    return {"schema": v[0], "mode": MODE_NAMES[v[1]], "leg": LEG_NAMES[v[2]],
            "placement": PLACEMENT_NAMES[v[3]], "target_reps": v[4], "target_hold_s": v[5],
            "session_idle_s": v[6], "sleep_idle_s": v[7], "odr_hz": v[8],
            "gyro": bool(flags & SET_GYRO), "vibration": bool(flags & SET_VIBRATION),
            "buzzer": bool(flags & SET_BUZZER), "led": bool(flags & SET_LED),
            "low_battery_pct": v[10]}
