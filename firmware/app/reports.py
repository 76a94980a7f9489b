"""The Record Access Control Point (RACP, 0x2A52 opcodes) and the records report:
stored records streamed as frames of up to MTU - 3 bytes on the records
characteristic, a response at the end; report number, delete, abort.

A `Reports` is made at the host's first RACP request (app.ble), so a band that has not
been synced since boot holds neither its code nor its frame buffer.
"""
from repcore import protocol as P
from repcore import records
from repcore.compat import const

_FRAME_MAX = const(244)  # app.ble's

# repcore.protocol's values (folded here: tests/test_app_constants.py ties them).
_RACP_REPORT = const(1)
_RACP_DELETE = const(2)
_RACP_ABORT = const(3)
_RACP_REPORT_NUMBER = const(4)
_OPR_FIRST = const(5)
_OPR_LAST = const(6)
_RC_SUCCESS = const(1)
_RC_NO_RECORDS = const(6)
_RC_NOT_COMPLETED = const(8)
_RC_BUSY = const(10)
_FRAME_START = const(0x80)
_FRAME_COUNTER = const(0x7F)


class Reports:
    def __init__(self, svc):
        self.svc = svc
        self.gen = None  # the log's read_from generator while a report runs
        self.hi = 0
        self.done = False
        self.records = 0
        self.frames = 0
        self.rec = b""
        self.off = 0
        self.frame = bytearray(_FRAME_MAX)
        self.flen = 0

    def _reply(self, op, code):
        svc = self.svc
        svc._indicate(svc.h_racp, P.encode_racp_response(op, code))

    def racp(self, data):
        try:
            op, opr, lo, hi = P.decode_racp(data)
        except P.ProtocolError as e:
            self._reply(data[0] if data else 0, e.code)
            return
        if op == _RACP_ABORT:
            self.end()
            self._reply(op, _RC_SUCCESS)
            return
        if self.gen is not None:
            self._reply(op, _RC_BUSY)
            return
        svc = self.svc
        log = svc.log
        if log is None:
            self._reply(op, _RC_NOT_COMPLETED)
            return
        if op == _RACP_DELETE:
            try:
                n = log.delete_through(hi)
            except Exception as e:  # StoreFull, OSError: nothing deleted or all of it
                svc.last_error = "delete: %r" % (e,)
                self._reply(op, _RC_NOT_COMPLETED)
                return
            svc._write_status()
            self._reply(op, _RC_SUCCESS if n > 0 else _RC_NO_RECORDS)
            return
        first = log.first_seq
        last = log.last_seq
        if first is None or last is None:
            lo, hi = 1, 0
        elif opr == _OPR_FIRST:
            lo = hi = first
        elif opr == _OPR_LAST:
            lo = hi = last
        else:
            lo = max(lo, first)
            hi = min(hi, last)
        if op == _RACP_REPORT_NUMBER:
            n = log.count_from(lo) - log.count_from(hi + 1) if lo <= hi else 0
            svc._indicate(svc.h_racp, P.encode_racp_number(n))
            return
        # RACP_REPORT
        if lo > hi:
            self._reply(op, _RC_NO_RECORDS)
            return
        self.gen = log.read_from(lo)
        self.hi = hi
        self.done = False
        self.records = 0
        self.frames = 0
        self.rec = b""
        self.off = 0
        self.flen = 0

    def end(self):
        self.gen = None
        self.rec = b""
        self.flen = 0

    def _next_record(self):
        if self.done or self.gen is None:
            return None
        try:
            rec = next(self.gen)
        except StopIteration:
            rec = None
        if rec is None or records.seq_of(rec) > self.hi:
            self.done = True
            return None
        self.records += 1
        return rec

    def _build_frame(self):
        c = self.svc._link
        cap = _FRAME_MAX if c is None or c.mtu - 3 > _FRAME_MAX else c.mtu - 3
        f = self.frame
        n = 1
        start = -1
        while n < cap:
            if self.off >= len(self.rec):
                rec = self._next_record()
                if rec is None:
                    break
                self.rec = rec
                self.off = 0
            if start < 0:
                start = 1 if self.off == 0 else 0
            rec = self.rec
            off = self.off
            k = len(rec) - off
            if k > cap - n:
                k = cap - n
            f[n:n + k] = rec[off:off + k]
            n += k
            self.off = off + k
        if n == 1:
            return False
        f[0] = (_FRAME_START if start == 1 else 0) | (self.frames & _FRAME_COUNTER)
        self.flen = n
        return True

    def send(self, budget):
        svc = self.svc
        while budget > 0 and self.gen is not None:
            if self.flen == 0:
                try:
                    more = self._build_frame()
                except Exception as e:  # a flash read failed mid-report
                    self.svc.last_error = "report: %r" % (e,)
                    self.end()
                    self._reply(_RACP_REPORT, _RC_NOT_COMPLETED)
                    return budget
                if not more:
                    n = self.records
                    self.end()
                    if n == 0:
                        self._reply(_RACP_REPORT, _RC_NO_RECORDS)
                    else:
                        svc._indicate(svc.h_racp, P.encode_racp_response(
                            _RACP_REPORT, _RC_SUCCESS, n, self.frames))
                    return budget
            if not svc._notify(svc.h_records, memoryview(self.frame)[:self.flen]):
                return budget
            self.flen = 0
            self.frames += 1
            budget -= 1
        return budget
