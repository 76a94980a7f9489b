"""The Record Access Control Point (RACP, 0x2A52 opcodes) and the records report:
stored records streamed as frames of up to MTU - 3 bytes on the records
characteristic, a response at the end; report number, delete, abort.

`Reports` is a mixin of app.ble.BandService (its state is set in BandService.__init__).
"""
# pyright: reportAttributeAccessIssue=false
# (a mixin: the attributes are BandService's, set in its __init__ and the other mixins)
from repcore import protocol as P
from repcore import records
from repcore.compat import const

_FRAME_MAX = const(244)  # app.ble.FRAME_MAX


class Reports:
    def _racp_reply(self, op, code):
        self._indicate(self.h_racp, P.encode_racp_response(op, code))

    def _racp(self, data):
        try:
            op, opr, lo, hi = P.decode_racp(data)
        except P.ProtocolError as e:
            self._racp_reply(data[0] if data else 0, e.code)
            return
        if op == P.RACP_ABORT:
            self._end_report()
            self._racp_reply(op, P.RC_SUCCESS)
            return
        if self._rep is not None:
            self._racp_reply(op, P.RC_BUSY)
            return
        log = self.log
        if log is None:
            self._racp_reply(op, P.RC_NOT_COMPLETED)
            return
        if op == P.RACP_DELETE:
            try:
                n = log.delete_through(hi)
            except Exception as e:  # StoreFull, OSError: nothing deleted or all of it
                self.last_error = "delete: %r" % (e,)
                self._racp_reply(op, P.RC_NOT_COMPLETED)
                return
            self._write_status()
            self._racp_reply(op, P.RC_SUCCESS if n > 0 else P.RC_NO_RECORDS)
            return
        first = log.first_seq
        last = log.last_seq
        if first is None or last is None:
            lo, hi = 1, 0
        elif opr == P.OPR_FIRST:
            lo = hi = first
        elif opr == P.OPR_LAST:
            lo = hi = last
        else:
            lo = max(lo, first)
            hi = min(hi, last)
        if op == P.RACP_REPORT_NUMBER:
            n = log.count_from(lo) - log.count_from(hi + 1) if lo <= hi else 0
            self._indicate(self.h_racp, P.encode_racp_number(n))
            return
        # RACP_REPORT
        if lo > hi:
            self._racp_reply(op, P.RC_NO_RECORDS)
            return
        self._rep = log.read_from(lo)
        self._rep_hi = hi
        self._rep_done = False
        self._rep_records = 0
        self._rep_frames = 0
        self._rec = b""
        self._rec_off = 0
        self._flen = 0

    def _end_report(self):
        self._rep = None
        self._rec = b""
        self._flen = 0

    def _next_record(self):
        if self._rep_done or self._rep is None:
            return None
        try:
            rec = next(self._rep)
        except StopIteration:
            rec = None
        if rec is None or records.seq_of(rec) > self._rep_hi:
            self._rep_done = True
            return None
        self._rep_records += 1
        return rec

    def _build_frame(self):
        c = self._link
        cap = _FRAME_MAX if c is None or c.mtu - 3 > _FRAME_MAX else c.mtu - 3
        f = self._frame
        n = 1
        start = -1
        while n < cap:
            if self._rec_off >= len(self._rec):
                rec = self._next_record()
                if rec is None:
                    break
                self._rec = rec
                self._rec_off = 0
            if start < 0:
                start = 1 if self._rec_off == 0 else 0
            rec = self._rec
            off = self._rec_off
            k = len(rec) - off
            if k > cap - n:
                k = cap - n
            f[n:n + k] = rec[off:off + k]
            n += k
            self._rec_off = off + k
        if n == 1:
            return False
        f[0] = (P.FRAME_START if start == 1 else 0) | (self._rep_frames & P.FRAME_COUNTER)
        self._flen = n
        return True

    def _send_report(self, budget):
        while budget > 0 and self._rep is not None:
            if self._flen == 0:
                try:
                    more = self._build_frame()
                except Exception as e:  # a flash read failed mid-report
                    self.last_error = "report: %r" % (e,)
                    self._end_report()
                    self._racp_reply(P.RACP_REPORT, P.RC_NOT_COMPLETED)
                    return budget
                if not more:
                    n = self._rep_records
                    self._end_report()
                    if n == 0:
                        self._racp_reply(P.RACP_REPORT, P.RC_NO_RECORDS)
                    else:
                        self._indicate(self.h_racp, P.encode_racp_response(
                            P.RACP_REPORT, P.RC_SUCCESS, n, self._rep_frames))
                    return budget
            if not self._notify(self.h_records, memoryview(self._frame)[:self._flen]):
                return budget
            self._flen = 0
            self._rep_frames += 1
            budget -= 1
        return budget
