"""Records decoded into dicts: the host side of repcore.records (and the tests).

The board never decodes a record into a dict, so this lives apart from
repcore.records and costs the device no RAM (it is not imported there). The format
itself (layouts, checks, field ranges) stays in repcore.records: this module names the
fields `records.fields` unpacks and refuses values outside `records.RANGES`.
"""
import struct

from repcore.records import (
    EPOCH_MIN,
    FLAG_WALL,
    HEADER_SIZE,
    K_DAMAGED,
    K_HOLD,
    K_SESSION_END,
    K_SET,
    KIND_NAMES,
    RANGES,
    RecordError,
    check,
    fields,
)

# Payload field names per kind (index 0 unused), in the order of the payload layouts.
PAYLOAD_NAMES = (
    (),
    ("exercise", "side", "partial", "rom_x10", "up_ms", "top_ms", "down_ms"),
    ("duration_ms", "exercise", "side", "angle_x10"),
    ("duration_ms", "exercise", "side", "count", "n_partial", "mean_rom_x10", "period_ms"),
    ("method",),
    ("fault",),
    ("mode", "placement", "side", "target_reps", "target_hold_s"),
    ("duration_ms", "reason", "n_sets", "reps", "partial", "holds", "hold_ms", "dropped"),
    ("last_seq",),
)


def check_ranges(kind, seq, epoch_s, v):
    """Refuse (RecordError) a record whose fields are outside repcore.records.RANGES: a
    valid CRC over absurd contents (exercise 255, a hold of 49 days)."""
    r = RANGES[kind]
    names = PAYLOAD_NAMES[kind]
    for i in range(len(v)):
        if not r[2 * i] <= v[i] <= r[2 * i + 1]:
            raise RecordError("%s record seq %d: %s %d out of range %d..%d"
                              % (KIND_NAMES[kind], seq, names[i], v[i], r[2 * i], r[2 * i + 1]))
    if epoch_s and epoch_s < EPOCH_MIN:
        raise RecordError("%s record seq %d: wall clock %d is before 2019" % (KIND_NAMES[kind], seq, epoch_s))
    if kind == K_DAMAGED and v[0] < seq:
        raise RecordError("damaged record seq %d: range ends at %d, before it starts" % (seq, v[0]))


def decode(buf, off=0, exact=True):
    """Decode the record at `off` into a dict (host side and tests).

    With `exact` the buffer must hold exactly one record from `off`. The dict has the
    header fields (version, kind, kind_name, flags, boot, seq, t_ms, epoch_s, wall,
    session, size), `wall_ms` (Unix ms, or None when the time was not set), the payload
    fields by name and `tuple`: the event or session tuple the record was built from
    (clamped fields as stored). Raises RecordError (repcore.records) on a bad record.
    """
    try:
        size = check(buf, off)
    except IndexError:  # defensive: check() bounds every index first
        raise RecordError("truncated record")
    if exact and len(buf) - off != size:
        raise RecordError("bad length: %d bytes given for a %d-byte record" % (len(buf) - off, size))
    (_m, version, kind, flags, _n, boot, seq, t, epoch_s, session), v = fields(buf, off)
    check_ranges(kind, seq, epoch_s, v)
    wall = bool(flags & FLAG_WALL) and epoch_s != 0
    d = {
        "version": version,
        "kind": kind,
        "kind_name": KIND_NAMES[kind],
        "flags": flags,
        "boot": boot,
        "seq": seq,
        "t_ms": t,
        "epoch_s": epoch_s,
        "wall": wall,
        "wall_ms": epoch_s * 1000 + t if wall else None,
        "session": session,
        "size": size,
    }
    if kind == K_HOLD or kind == K_SET or kind == K_SESSION_END:
        tup = (kind, t, t + v[0]) + v[1:]  # a start, then the end from the duration
    else:
        tup = (kind, t) + v
    names = PAYLOAD_NAMES[kind]
    for i in range(len(names)):
        d[names[i]] = v[i]
    d["tuple"] = tup
    return d


def last_seq_of(buf, off=0):
    """The last seq a (checked) record covers: its own, or a damaged range's end."""
    if buf[off + 2] == K_DAMAGED:
        return struct.unpack_from("<I", buf, off + HEADER_SIZE)[0]
    return struct.unpack_from("<I", buf, off + 8)[0]


def decode_all(buf):
    """Decode a concatenation of records (a BLE batch or a segment): a list of dicts."""
    out = []
    off = 0
    while off < len(buf):
        d = decode(buf, off, False)
        out.append(d)
        off += d["size"]
    return out
