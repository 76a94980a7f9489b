"""At boot, once: a session the log holds a start of but no end (power cut, reset) gets
its end record. Imported by app.startup and dropped from sys.modules after
(app.unload): its code is not kept in RAM.
"""
from repcore.compat import const
from repcore.records import END_REBOOT, K_FAULT, K_HOLD, K_REP, K_SESSION_END, K_SESSION_START, K_SET, check, encode_event, fields
from repcore.store import StoreFull

# Indices into a record header tuple (repcore.records.fields).
_H_KIND = const(2)
_H_BOOT = const(5)
_H_SEQ = const(6)
_H_T = const(7)
_H_EPOCH = const(8)
_H_SESSION = const(9)


def recover(log, last_n=256):
    """At boot: a session the log holds a start of but no end (power cut, reset) gets
    its end record now, summed up from its records, with reason END_REBOOT.

    Only the newest `last_n` records are read. Returns the session id closed, or 0.
    """
    if log is None or log.last_seq is None:
        return 0
    start = None  # header of the open session's start record
    n_sets = reps = partial = holds = hold_ms = 0
    t_end = 0
    for data in log.read_from(log.next_seq - last_n):
        check(data)
        h, v = fields(data)
        kind = h[_H_KIND]
        if kind == K_SESSION_START:
            start = h
            n_sets = reps = partial = holds = hold_ms = 0
            t_end = h[_H_T]
        elif kind == K_SESSION_END:
            start = None
        elif start is not None and h[_H_SESSION] == start[_H_SEQ] and h[_H_BOOT] == start[_H_BOOT]:
            dur = 0
            if kind == K_REP:
                if v[2]:  # partial
                    partial += 1
                else:
                    reps += 1
            elif kind == K_HOLD:
                holds += 1
                dur = v[0]
                hold_ms += dur
            elif kind == K_SET:
                if v[1]:  # exercise none: a set not counted
                    n_sets += 1
                dur = v[0]
            if kind != K_FAULT or h[_H_T] > t_end:
                t_end = h[_H_T] + dur
    if start is None:
        return 0
    # The end record belongs to the boot the session ran in, so its times stay right.
    rec = (K_SESSION_END, start[_H_T], t_end, END_REBOOT, n_sets, reps, partial, holds,
           hold_ms, 0)
    try:
        log.append(encode_event(rec, start[_H_SEQ], start[_H_BOOT], 0, start[_H_EPOCH]))
    except (StoreFull, OSError):
        return 0
    return start[_H_SEQ]
