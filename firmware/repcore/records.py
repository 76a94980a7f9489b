"""The one binary record format: the flash log, the BLE records characteristic and the
host decoder all use these bytes (layout table in docs/storage.md).

A record is a 24-byte header, a payload of fixed size per kind and a CRC-32 (the ZIP
one, little-endian) over header and payload. All fields are little-endian.

  off size field
   0   1   magic 0xA7
   1   1   format version (1); a decoder refuses any other
   2   1   kind (K_*)
   3   1   flags: bit 0 FLAG_WALL = `epoch_s` is valid; other bits are 0 (ignored)
   4   2   payload length (bytes)
   6   2   boot counter (u16): which boot of the device `t_ms` counts from
   8   4   sequence number (u32): assigned by the log, only grows
  12   4   t_ms (u32): ms since that boot (the record's start time)
  16   4   epoch_s (u32): wall clock (Unix s, UTC) at t_ms = 0 of that boot; 0 when the
           time was not set yet (the host converts and marks the time approximate)
  20   4   session id (u32), 0 outside a session
  24   n   payload
24+n   4   CRC-32 of bytes 0 .. 24+n

Records are built from tuples: the detector's event tuples (repcore.events, the record
kind equals the event code), two session tuples and the damaged-range marker:

  (K_SESSION_START, t_ms, mode, placement, side, target_reps, target_hold_s)
  (K_SESSION_END, t_start_ms, t_end_ms, reason, n_sets, reps, partial, holds, hold_ms,
   dropped)
  (K_DAMAGED, 0, last_seq)   header seq = the first seq of the range

`dropped` counts records of the session the log refused (storage full). A K_DAMAGED
record is never stored: the log makes one when it reads a range of seqs whose bytes
on flash are damaged (repcore.store), so a report covers every seq.

Every payload field has one inclusive range (RANGES, below): the encoder clamps to it
(never wraps), the host's decoder (repcore.recdecode) refuses a record outside it. The
ranges hold anything real use produces (a hold of an hour, a set of 1000 reps).
"""
import struct

from repcore.compat import const

try:
    from binascii import crc32 as _crc32
except ImportError:  # a port built without it
    _crc32 = None

MAGIC = const(0xA7)
VERSION = const(1)
HEADER_SIZE = const(24)
CRC_SIZE = const(4)
OVERHEAD = const(28)  # HEADER_SIZE + CRC_SIZE
MAX_PAYLOAD = const(19)  # the largest payload of any kind this version knows
MAX_RECORD = const(47)  # OVERHEAD + MAX_PAYLOAD

FLAG_WALL = const(1)

# Record kinds. Event kinds equal the event codes of repcore.events.
K_REP = const(1)
K_HOLD = const(2)
K_SET = const(3)
K_CALIBRATED = const(4)
K_FAULT = const(5)
K_SESSION_START = const(6)
K_SESSION_END = const(7)
K_DAMAGED = const(8)  # a range of seqs damaged on flash (made by the log, never stored)

# Why a session ended (K_SESSION_END reason).
END_IDLE = const(1)
END_BUTTON = const(2)
END_HOST = const(3)
END_LOW_BATTERY = const(4)
END_REBOOT = const(5)  # closed at the next boot from what the log held

_HEADER_FMT = const("<BBBBHHIIII")
# Payload layouts, indexed by kind (index 0 unused).
_PAYLOAD_FMT = const((
    "",
    "<BBBhHHH",  # rep: exercise, side, partial, rom_x10, up_ms, top_ms, down_ms
    "<IBBh",  # hold: duration_ms, exercise, side, angle_x10
    "<IBBHHhI",  # set: duration_ms, exercise, side, count, n_partial, mean_rom_x10, period_ms
    "<B",  # calibrated: method
    "<H",  # fault: code
    "<BBBHH",  # session start: mode, placement, side, target_reps, target_hold_s
    "<IBHHHHIH",  # session end: duration_ms, reason, sets, reps, partial, holds, hold_ms, dropped
    "<I",  # damaged: the last seq of the range
))
_PAYLOAD_LEN = const((0, 11, 8, 16, 1, 2, 7, 19, 4))
KIND_NAMES = ("", "rep", "hold", "set", "calibrated", "fault", "session_start", "session_end",
              "damaged")
N_KINDS = const(9)
MIN_RECORD = const(29)  # the smallest record (calibrated): bounds how many fit in n bytes

# Inclusive range of every payload field, in payload order, per kind: lo, hi, lo, hi ...
# The encoder clamps to these, the host's decoder refuses anything outside them.
HOLD_MAX_MS = 3600000  # an hour (not small ints on 32-bit MicroPython: no const)
SET_MAX_MS = 7200000
DAY_MS = 86400000
EPOCH_MIN = 1546300800  # 2019-01-01: an earlier wall clock is no wall clock (epoch_s 0)
RANGES = (
    (),
    # rep: exercise, side, partial, rom_x10, up_ms, top_ms, down_ms
    (0, 3, 0, 2, 0, 1, -1800, 1800, 0, 0xFFFF, 0, 0xFFFF, 0, 0xFFFF),
    # hold: duration_ms, exercise, side, angle_x10
    (0, HOLD_MAX_MS, 0, 3, 0, 2, -1800, 1800),
    # set: duration_ms, exercise, side, count, n_partial, mean_rom_x10, period_ms
    (0, SET_MAX_MS, 0, 3, 0, 2, 0, 1000, 0, 1000, -1800, 1800, 0, 300000),
    # calibrated: method
    (1, 5),
    # fault: code
    (1, 255),
    # session start: mode, placement, side (leg), target_reps, target_hold_s
    (0, 3, 0, 1, 0, 2, 0, 1000, 0, 3600),
    # session end: duration_ms, reason, n_sets, reps, partial, holds, hold_ms, dropped
    (0, DAY_MS, 1, 5, 0, 1000, 0, 10000, 0, 10000, 0, 1000, 0, DAY_MS, 0, 0xFFFF),
    # damaged: last seq
    (0, 0xFFFFFFFF),
)

_U16 = const(0xFFFF)
_U32 = const(0xFFFFFFFF)  # a long int on 32-bit MicroPython: one constant object


class RecordError(ValueError):
    """A buffer is not a valid record (bad magic, version, kind, length or CRC)."""


def _crc32_soft(data, crc=0):
    """CRC-32 (ZIP polynomial, reflected), bitwise: only used without binascii.crc32."""
    crc = crc ^ 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            if crc & 1:
                crc = (crc >> 1) ^ 0xEDB88320
            else:
                crc >>= 1
    return crc ^ 0xFFFFFFFF


def crc32(data):
    """CRC-32 of a bytes-like object (same value as zlib/binascii)."""
    if _crc32 is not None:
        return _crc32(data) & 0xFFFFFFFF
    return _crc32_soft(data)


def _u(v, hi):
    """Clamp to 0 .. hi."""
    v = int(v)
    if v < 0:
        return 0
    if v > hi:
        return hi
    return v


def _f(v, r, i):
    """Clamp to the range of payload field `i` (r = RANGES[kind])."""
    v = int(v)
    lo = r[2 * i]
    if v < lo:
        return lo
    hi = r[2 * i + 1]
    if v > hi:
        return hi
    return v


def encode_into(buf, off, rec, session_id, boot, seq, epoch_s=0):
    """Encode the record tuple `rec` into `buf` at `off`; returns the record's length.

    `epoch_s` is the wall clock (Unix seconds) at t_ms = 0 of this boot, or 0 when the
    host has not set the time since boot (FLAG_WALL clear).
    """
    kind = rec[0]
    if kind < 1 or kind >= N_KINDS:
        raise RecordError("unknown record kind %d" % kind)
    n = _PAYLOAD_LEN[kind]
    if off < 0 or len(buf) - off < OVERHEAD + n:
        raise RecordError("buffer too small for a %s record" % KIND_NAMES[kind])
    p = off + HEADER_SIZE
    fmt = _PAYLOAD_FMT[kind]
    r = RANGES[kind]
    t = rec[1]
    if kind == K_REP:
        struct.pack_into(fmt, buf, p, _f(rec[2], r, 0), _f(rec[3], r, 1), _f(rec[4], r, 2),
                         _f(rec[5], r, 3), _f(rec[6], r, 4), _f(rec[7], r, 5), _f(rec[8], r, 6))
    elif kind == K_HOLD:
        struct.pack_into(fmt, buf, p, _f(rec[2] - t, r, 0), _f(rec[3], r, 1), _f(rec[4], r, 2),
                         _f(rec[5], r, 3))
    elif kind == K_SET:
        struct.pack_into(fmt, buf, p, _f(rec[2] - t, r, 0), _f(rec[3], r, 1), _f(rec[4], r, 2),
                         _f(rec[5], r, 3), _f(rec[6], r, 4), _f(rec[7], r, 5), _f(rec[8], r, 6))
    elif kind == K_CALIBRATED:
        struct.pack_into(fmt, buf, p, _f(rec[2], r, 0))
    elif kind == K_FAULT:
        struct.pack_into(fmt, buf, p, _f(rec[2], r, 0))
    elif kind == K_SESSION_START:
        struct.pack_into(fmt, buf, p, _f(rec[2], r, 0), _f(rec[3], r, 1), _f(rec[4], r, 2),
                         _f(rec[5], r, 3), _f(rec[6], r, 4))
    elif kind == K_SESSION_END:
        struct.pack_into(fmt, buf, p, _f(rec[2] - t, r, 0), _f(rec[3], r, 1), _f(rec[4], r, 2),
                         _f(rec[5], r, 3), _f(rec[6], r, 4), _f(rec[7], r, 5), _f(rec[8], r, 6),
                         _f(rec[9], r, 7))
    else:  # K_DAMAGED
        struct.pack_into(fmt, buf, p, _f(rec[2], r, 0))
    epoch_s = _u(epoch_s, _U32)
    if epoch_s < EPOCH_MIN:
        epoch_s = 0  # no wall clock
    struct.pack_into(_HEADER_FMT, buf, off, MAGIC, VERSION, kind, FLAG_WALL if epoch_s else 0,
                     n, _u(boot, _U16), _u(seq, _U32), _u(t, _U32), epoch_s,
                     _u(session_id, _U32))
    end = p + n
    struct.pack_into("<I", buf, end, crc32(memoryview(buf)[off:end]))
    return OVERHEAD + n


def encode_event(ev, session_id, boot, seq, epoch_s=0):
    """Bytes of one record from an event tuple of repcore.events (or a session tuple)."""
    kind = ev[0]
    if kind < 1 or kind >= N_KINDS:
        raise RecordError("unknown record kind %d" % kind)
    buf = bytearray(OVERHEAD + _PAYLOAD_LEN[kind])
    encode_into(buf, 0, ev, session_id, boot, seq, epoch_s)
    return bytes(buf)


def check(buf, off=0, end=-1):
    """Validate the record starting at `off` (within buf[:end]); returns its length.

    Raises RecordError naming what is wrong. Allocates nothing but the CRC.
    """
    if end < 0:
        end = len(buf)
    avail = end - off
    if off < 0 or avail < OVERHEAD:
        raise RecordError("truncated record: %d bytes, a record has at least %d" % (max(avail, 0), OVERHEAD))
    if buf[off] != MAGIC:
        raise RecordError("not a record: magic 0x%02x, expected 0x%02x" % (buf[off], MAGIC))
    if buf[off + 1] != VERSION:
        raise RecordError("record format version %d not supported (this decoder reads version %d)"
                          % (buf[off + 1], VERSION))
    kind = buf[off + 2]
    if kind < 1 or kind >= N_KINDS:
        raise RecordError("unknown record kind %d" % kind)
    n = buf[off + 4] | (buf[off + 5] << 8)
    if n != _PAYLOAD_LEN[kind]:
        raise RecordError("bad length: %s payload of %d bytes, expected %d"
                          % (KIND_NAMES[kind], n, _PAYLOAD_LEN[kind]))
    size = OVERHEAD + n
    if avail < size:
        raise RecordError("truncated %s record: %d of %d bytes" % (KIND_NAMES[kind], avail, size))
    stop = off + HEADER_SIZE + n
    want = struct.unpack_from("<I", buf, stop)[0]
    got = crc32(memoryview(buf)[off:stop])
    if got != want:
        raise RecordError("bad CRC in %s record: 0x%08x, computed 0x%08x" % (KIND_NAMES[kind], want, got))
    return size


def seq_of(buf, off=0):
    """The sequence number of the (already checked) record at `off`."""
    return struct.unpack_from("<I", buf, off + 8)[0]


def boot_of(buf, off=0):
    return struct.unpack_from("<H", buf, off + 6)[0]


def set_seq(buf, off, seq):
    """Rewrite the sequence number of the (valid) record at `off` in place, and its CRC."""
    n = buf[off + 4] | (buf[off + 5] << 8)
    struct.pack_into("<I", buf, off + 8, seq)
    stop = off + HEADER_SIZE + n
    struct.pack_into("<I", buf, stop, crc32(memoryview(buf)[off:stop]))


def fields(buf, off=0):
    """(header, payload) tuples of the (already checked) record at `off`.

    header: (magic, version, kind, flags, length, boot, seq, t_ms, epoch_s, session);
    payload: the kind's fields in the order of its layout above. Names and the
    decoded dict are in repcore.recdecode (host side), which reads through this.
    """
    h = struct.unpack_from(_HEADER_FMT, buf, off)
    return h, struct.unpack_from(_PAYLOAD_FMT[h[2]], buf, off + HEADER_SIZE)
