"""Append-only session log on flash (littlefs on the board), safe against power cuts
and against a few bits flipped anywhere in its files.

Layout under `root` (guarantees and reasoning in docs/storage.md):

  meta          _META_COPIES (4) copies of a 20-byte block, each with its own CRC-32:
                b"RBLM", version, boot counter, next seq, deleted-through seq, CRC;
                replaced by writing meta.tmp then renaming it over meta. 3 flipped bits
                spoil at most 3 copies: one always survives.
  XXXXXXXX.seg  a segment: records (repcore.records) back to back; the name is the hex
                seq of its first record; only the newest segment is ever appended to

The log assigns sequence numbers: `append(record)` rewrites the record's seq field (and
CRC) with the next number, writes it, flushes, and only then returns the seq. Seqs only
grow, across reboots and deletes (the meta file keeps the next seq once every record
is deleted), and a seq once committed is never given again.

At open, the newest segment is read back. Bytes after its last valid record are a torn
tail (a write cut by a power cut) or committed records damaged on flash: they cannot
be told apart, so the next seq is put past every record those bytes could have held
(one per MIN_RECORD bytes), and the segment is sealed: the next record starts a new
segment and nothing before the damage is rewritten or lost.

Reading (`read_from`) covers every seq from the first to the last: a record that fails
its CRC is skipped, the reader finds the next valid record after it (its magic byte,
checks, a seq in the segment's range), and the seqs in between come out as one
K_DAMAGED record (repcore.records) so that the host knows they are lost. Counts
(`count_from`, `usage`) are of seqs, damaged ones included.

`delete_through(seq)` marks records up to seq as deleted (the host committed them)
and removes segments whose records are all deleted. When an append would pass
`capacity` bytes, deleted records are reclaimed first; the log never drops a record
that is not deleted: `append` raises StoreFull instead.

All file access goes through `fs` (open, rename, remove, listdir, stat, mkdir), by
default the os module, so tests can inject faults.
"""
import os
import struct

from repcore import records
from repcore.compat import const

_DEFAULT_CAPACITY = const(262144)
_DEFAULT_SEGMENT = const(4096)

_META = "meta"
_META_TMP = "meta.tmp"
_META_MAGIC = const(b"RBLM")
_META_VERSION = const(2)  # 1: a single copy (read too)
_META_FMT = "<4sHHII"  # magic, version, boot, next_seq, deleted_through; then CRC
_META_BODY = const(16)
_META_SIZE = const(20)  # one copy
_META_COPIES = const(4)  # any 3 flipped bits leave one copy whole
_MAGIC_BYTE = const(b"\xa7")  # records.MAGIC, to find the next record after damage
_SEG_EXT = ".seg"
_ENOSPC = const(28)


class StoreFull(Exception):
    """No room for a record that is not yet synced: nothing was written."""


class StoreError(Exception):
    """The log cannot be used (a directory that is not a log, an I/O error)."""


class OsFs:
    """The default file layer: the os module and the built-in open (bound once, not
    wrapped in methods: less code on the board)."""

    def __init__(self):
        self.open = open
        self.rename = os.rename
        self.remove = os.remove
        self.listdir = os.listdir
        self.stat = os.stat
        self.mkdir = os.mkdir


def _seg_name(first):
    return "%08x%s" % (first, _SEG_EXT)


def _parse_seg(name):
    if len(name) != 12 or not name.endswith(_SEG_EXT):
        return -1
    try:
        return int(name[:8], 16)
    except ValueError:
        return -1


class SessionLog:
    """The record log. Not thread-safe: one task appends, reads and deletes."""

    def __init__(self, root, capacity=_DEFAULT_CAPACITY, fs=None, segment_size=_DEFAULT_SEGMENT):
        if segment_size < records.MAX_RECORD or capacity < 2 * segment_size:
            raise ValueError("capacity must hold at least two segments of >= one record")
        self.root = root
        self.capacity = capacity
        self.segment_size = segment_size
        self.fs = fs if fs is not None else OsFs()
        self._buf = bytearray(records.MAX_RECORD)
        self._meta = bytearray(_META_SIZE * _META_COPIES)
        self._f = None  # the newest segment, open for appending
        self._sealed = False  # the newest segment takes no more records
        self._segs = []  # [first_seq, size] per segment, oldest first
        self._used = 0
        self.boot = 0
        self._next = 1  # the seq the next record gets
        self._deleted = 0  # records with seq <= this are deleted
        self._open()

    # -- paths and meta ------------------------------------------------------

    def _path(self, name):
        return self.root + "/" + name

    def _read_meta(self, name):
        """(boot, next_seq, deleted) from a meta file: the largest of each over its
        valid copies, or None when it is absent or no copy is valid."""
        try:
            f = self.fs.open(self._path(name), "rb")
        except OSError:
            return None
        try:
            data = f.read()
        finally:
            f.close()
        best = None
        off = 0
        while data and off + _META_SIZE <= len(data):
            magic, version, boot, nxt, deleted = struct.unpack_from(_META_FMT, data, off)
            if magic == _META_MAGIC and (version == _META_VERSION or version == 1) and \
                    struct.unpack_from("<I", data, off + _META_BODY)[0] == \
                    records.crc32(memoryview(data)[off:off + _META_BODY]):
                if best is None:
                    best = [boot, nxt, deleted]
                else:  # all copies are written at once: equal unless a flip hit one
                    best[0] = max(best[0], boot)
                    best[1] = max(best[1], nxt)
                    best[2] = max(best[2], deleted)
            off += _META_SIZE
        return best

    def _write_meta(self):
        m = self._meta
        struct.pack_into(_META_FMT, m, 0, _META_MAGIC, _META_VERSION, self.boot, self._next, self._deleted)
        struct.pack_into("<I", m, _META_BODY, records.crc32(memoryview(m)[:_META_BODY]))
        for i in range(_META_SIZE, len(m), _META_SIZE):
            m[i:i + _META_SIZE] = memoryview(m)[:_META_SIZE]
        tmp = self._path(_META_TMP)
        f = self.fs.open(tmp, "wb")
        try:
            f.write(m)
            f.flush()
        finally:
            f.close()
        self.fs.rename(tmp, self._path(_META))

    # -- open and recovery ---------------------------------------------------

    def _open(self):
        fs = self.fs
        try:
            names = fs.listdir(self.root)
        except OSError:
            try:
                fs.mkdir(self.root)
            except OSError as e:
                raise StoreError("cannot create the log directory %s: %s" % (self.root, e))
            names = []
        meta = self._read_meta(_META)
        if meta is None:
            # A rename that is remove + rename (FAT) may have been cut in between.
            meta = self._read_meta(_META_TMP)
        elif _META_TMP in names:
            fs.remove(self._path(_META_TMP))
        boot, nxt, deleted = meta if meta is not None else (0, 1, 0)
        segs = []
        for name in names:
            first = _parse_seg(name)
            if first >= 0:
                segs.append([first, fs.stat(self._path(name))[6]])
        segs.sort()
        self._segs = segs
        self._deleted = deleted
        # Finish a reclaim cut short: segments whose records are all deleted.
        while len(segs) > 1 and segs[1][0] - 1 <= deleted:
            fs.remove(self._path(_seg_name(segs.pop(0)[0])))
        # The newest segment: its last valid record, and how many records the bytes
        # after it could have held (a torn write, or committed records damaged on
        # flash: their seqs are never given again). A segment that cannot hold one is
        # removed.
        last = -1
        last_boot = 0
        while segs:
            first = segs[-1][0]
            data = self._read_seg(first)
            end, lastv, last_boot = self._tail(data, first)
            top = lastv + (len(data) - end) // records.MIN_RECORD
            if top < first:
                fs.remove(self._path(_seg_name(first)))
                segs.pop()
                continue
            last = top
            if end < len(data):
                self._sealed = True  # the next record opens a new segment
            segs[-1][1] = len(data)
            break
        if segs and last <= deleted:
            # Every remaining record is deleted (the cut came before the removal).
            while segs:
                fs.remove(self._path(_seg_name(segs.pop()[0])))
            self._sealed = False
        self._next = max(nxt, last + 1, deleted + 1, 1)
        self.boot = (max(boot, last_boot) + 1) & 0xFFFF
        self._used = 0
        for s in segs:
            self._used += s[1]
        self._persist()

    def _persist(self):
        """Write the meta file; when the file system is full, first free segments of
        deleted records (keeping the newest, which tells the next seq) and retry.
        Returns False when there is still no room."""
        for attempt in (0, 1):
            try:
                self._write_meta()
                return True
            except OSError as e:
                if not e.args or e.args[0] != _ENOSPC:
                    raise
            if attempt == 0:
                self._reclaim(True)
        return False

    def _read_seg(self, first):
        f = self.fs.open(self._path(_seg_name(first)), "rb")
        try:
            data = f.read()
        finally:
            f.close()
        return data if data else b""

    def _find(self, data, off, lo, hi):
        """Offset of the first valid record at or after `off` whose seq is in lo..hi,
        or -1. Undamaged, that is `off` itself; after damage, the next magic byte
        that starts a valid record (a CRC-32 over it: garbage does not pass)."""
        end = len(data)
        while 0 <= off <= end - records.MIN_RECORD:
            if data[off] == records.MAGIC:
                try:
                    records.check(data, off, end)
                    s = records.seq_of(data, off)
                    if lo <= s <= hi:
                        return off
                except records.RecordError:
                    pass
            off = data.find(_MAGIC_BYTE, off + 1)
        return -1

    def _tail(self, data, first):
        """(end of the last valid record, its seq or first - 1, its boot) of the
        segment starting at seq `first`; seqs must grow."""
        off = 0
        end = 0
        last = first - 1
        boot = 0
        hi = first + len(data) // records.MIN_RECORD  # no segment holds more
        while True:
            off = self._find(data, off, last + 1, hi)
            if off < 0:
                return end, last, boot
            last = records.seq_of(data, off)
            boot = records.boot_of(data, off)
            off += records.OVERHEAD + (data[off + 4] | (data[off + 5] << 8))
            end = off

    # -- state ---------------------------------------------------------------

    @property
    def next_seq(self):
        return self._next

    @property
    def last_seq(self):
        """Seq of the newest record not deleted, or None."""
        if self._next - 1 > self._deleted and self._segs:
            return self._next - 1
        return None

    @property
    def first_seq(self):
        """Seq of the oldest record not deleted, or None."""
        if self.last_seq is None:
            return None
        return max(self._segs[0][0], self._deleted + 1)

    def count_from(self, seq):
        """Number of records (not deleted) with a seq >= `seq`."""
        first = self.first_seq
        if first is None:
            return 0
        n = self._next - max(seq, first)
        return n if n > 0 else 0

    def usage(self):
        """(bytes used on flash by segments, capacity, records not yet deleted)."""
        first = self.first_seq
        return self._used, self.capacity, 0 if first is None else self._next - first

    # -- appending -----------------------------------------------------------

    def append(self, record):
        """Append one encoded record (any seq in it); returns the seq the log gave it.

        When this returns, the record is on flash (flushed). Raises StoreFull when only
        records not yet deleted fill the capacity (or the file system), RecordError for
        bytes that are not one valid record.
        """
        n = records.check(record, 0)
        if n != len(record):
            raise records.RecordError("append takes exactly one record (%d bytes given, record is %d)"
                                      % (len(record), n))
        buf = self._buf
        buf[:n] = record
        return self._write(n)

    def append_event(self, rec, session_id, epoch_s=0):
        """Encode an event or session tuple with this boot and the next seq, and append it."""
        n = records.encode_into(self._buf, 0, rec, session_id, self.boot, self._next, epoch_s)
        return self._write(n)

    def _write(self, n):
        seq = self._next
        records.set_seq(self._buf, 0, seq)
        if self._used + n > self.capacity:
            self._reclaim()
            if self._used + n > self.capacity:
                raise StoreFull("session log full: %d of %d bytes hold records not yet synced"
                                % (self._used, self.capacity))
        try:
            self._write_once(n)
        except OSError as e:
            if not e.args or e.args[0] != _ENOSPC:
                raise
            # The file system is full before the capacity: reclaim and try once more.
            self._reclaim()
            try:
                self._write_once(n)
            except OSError as e2:
                if not e2.args or e2.args[0] != _ENOSPC:
                    raise
                raise StoreFull("session log full: the file system has no room")
        self._next = seq + 1
        return seq

    def _write_once(self, n):
        segs = self._segs
        full = not segs or self._sealed or segs[-1][1] + n > self.segment_size
        if full or self._f is None:
            self._close_file()
            mode = "ab"
            if full:
                segs.append([self._next, 0])
                self._sealed = False
                mode = "wb"  # a file of that name holds no valid record: start afresh
        else:
            mode = ""
        try:
            if mode:
                self._f = self.fs.open(self._path(_seg_name(segs[-1][0])), mode)
            f = self._f
            if f is None:
                raise OSError(_ENOSPC)
            w = f.write(memoryview(self._buf)[:n])
            if w is not None and w != n:
                raise OSError(_ENOSPC)
            f.flush()
        except OSError:
            # Whatever reached the file is a torn tail: the next record opens a new
            # segment (an empty new one is removed again).
            self._close_file()
            self._sealed = True
            if segs[-1][1] == 0:
                first = segs.pop()[0]
                try:
                    self.fs.remove(self._path(_seg_name(first)))
                except OSError:
                    pass
            raise
        segs[-1][1] += n
        self._used += n

    def _close_file(self):
        f = self._f
        self._f = None
        if f is not None:
            try:
                f.close()
            except OSError:
                pass

    def close(self):
        self._close_file()

    # -- reading -------------------------------------------------------------

    def read_from(self, seq, limit=-1):
        """Yield the records (bytes) with seq >= `seq`, oldest first, at most `limit`.
        Seqs whose records are damaged on flash come as one K_DAMAGED record per range
        (header seq: the first of it, payload: the last), so every seq is covered."""
        first = self.first_seq
        if first is None or limit == 0:
            return
        if seq < first:
            seq = first
        last = self._next - 1
        segs = self._segs
        i = len(segs) - 1
        while i > 0 and segs[i][0] > seq:
            i -= 1
        left = limit
        while i < len(segs) and seq <= last:
            start = segs[i][0]
            hi = segs[i + 1][0] - 1 if i + 1 < len(segs) else last  # the seqs it spans
            data = self._read_seg(start)
            off = 0
            expect = start  # the lowest seq of this segment not met yet
            while True:
                off = self._find(data, off, expect, hi)
                s = hi + 1 if off < 0 else records.seq_of(data, off)
                if s > expect and s > seq:  # expect .. s - 1 are not there whole
                    yield records.encode_event((records.K_DAMAGED, 0, s - 1), 0, 0, max(expect, seq))
                    left -= 1
                    if left == 0:
                        return
                if off < 0:
                    break
                size = records.OVERHEAD + (data[off + 4] | (data[off + 5] << 8))
                if s >= seq:
                    yield data[off:off + size]
                    left -= 1
                    if left == 0:
                        return
                off += size
                expect = s + 1
            if seq <= hi:
                seq = hi + 1
            i += 1

    # -- deleting ------------------------------------------------------------

    def delete_through(self, seq):
        """Mark records with seq <= `seq` deleted (the host committed them) and remove
        segments that hold nothing else. Records not written yet are never marked.
        Returns the number of records newly deleted."""
        last = self._next - 1
        if seq > last:
            seq = last
        if seq <= self._deleted:
            return 0
        before = self.count_from(0)
        old = self._deleted
        self._deleted = seq
        if not self._persist():
            self._deleted = old
            raise StoreFull("session log: no room on the file system to record the delete")
        self._reclaim()
        return before - self.count_from(0)

    def _reclaim(self, keep_newest=False):
        """Remove the oldest segments whose records are all deleted."""
        segs = self._segs
        deleted = self._deleted
        while segs:
            if keep_newest and len(segs) == 1:
                break
            nxt = segs[1][0] if len(segs) > 1 else self._next
            if nxt - 1 > deleted:
                break
            if len(segs) == 1:
                self._close_file()
                self._sealed = False
            first, size = segs.pop(0)
            self.fs.remove(self._path(_seg_name(first)))
            self._used -= size
