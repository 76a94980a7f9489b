"""Recordings: the CSV format of docs/recording-format.md, read and written.

`read_csv` validates strictly and raises `RecordingError` with a message of the form
``path:LINE: what is wrong`` (``path: what is wrong`` when the file cannot be opened at
all). `to_samples` turns a recording into the integer sample rows the detector core
consumes.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

import numpy as np

ACC_COLS = ("ax", "ay", "az")
GYRO_COLS = ("gx", "gy", "gz")
REQUIRED_COLS = ("t",) + ACC_COLS
KNOWN_COLS = REQUIRED_COLS + GYRO_COLS

ACC_LIMIT_G = 32.0  # |ax|, |ay|, |az| above this is not a reading, it is a broken file
GYRO_LIMIT_DPS = 4000.0  # |gx|, |gy|, |gz| likewise
RATE_LIMITS_HZ = (1.0, 10000.0)

# Metadata values the tool understands and therefore checks; other keys are kept as text.
META_CHOICES = {"placement": ("thigh", "hip"), "leg": ("left", "right"), "acc_unit": ("g", "m/s^2"),
                "gyro_unit": ("deg/s", "rad/s")}
G = 9.80665  # m/s² per g
EXPECTED = "t,ax,ay,az[,gx,gy,gz] (g and deg/s, docs/recording-format.md)"
PHONE_APPS = "or a phyphox or Sensor Logger export (its CSV, folder or .zip)"

_KEY = r"[A-Za-z_][A-Za-z0-9_.\-]*"
_SINGLE_KV = re.compile(r"^(" + _KEY + r")\s*=\s*([^=]*?)\s*$")
_TOKEN_KV = re.compile(r"^(" + _KEY + r")=(\S*)$")
# What a number may look like (stricter than float(): no '_', no 'nan'/'inf' words, no hex).
_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


class RecordingError(ValueError):
    """Bad recording. str() is ``path:LINE: message`` (or ``path: message``)."""

    def __init__(self, path, line, message):
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")

    def __reduce__(self):  # keep it picklable (multiprocessing)
        return (type(self), (self.path, self.line, self.message))


@dataclass
class Recording:
    """One recording. `acc` is specific force in g, `gyro` deg/s (None when absent)."""

    t: np.ndarray  # (N,) seconds
    acc: np.ndarray  # (N, 3)
    gyro: np.ndarray | None = None  # (N, 3)
    meta: dict[str, str] = field(default_factory=dict)


def write_csv(path, rec: Recording) -> None:
    cols = ["t", "ax", "ay", "az"] + (["gx", "gy", "gz"] if rec.gyro is not None else [])
    with open(path, "w", encoding="utf-8") as f:
        for key, value in rec.meta.items():
            f.write(f"# {key}={value}\n")
        f.write(",".join(cols) + "\n")
        for i in range(len(rec.t)):
            row = [f"{rec.t[i]:.4f}"] + [f"{v:.5f}" for v in rec.acc[i]]
            if rec.gyro is not None:
                row += [f"{v:.3f}" for v in rec.gyro[i]]
            f.write(",".join(row) + "\n")


# ---------------------------------------------------------------------------- reading


def _parse_meta_line(text: str) -> dict[str, str]:
    """Key/value pairs of one '#' line (without the '#').

    ``key=value`` alone on the line keeps the whole value (spaces included); a free-text
    line such as ``source=MEx subject=01 file=02_act_1 (CC BY 4.0)`` gives every
    whitespace-separated ``k=v`` token; a line with no ``=`` is a plain comment.
    """
    text = text.strip()
    m = _SINGLE_KV.match(text)
    if m:
        return {m.group(1): m.group(2)}
    out: dict[str, str] = {}
    for tok in text.split():
        m = _TOKEN_KV.match(tok)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def _check_meta(path, lineno: int, key: str, value: str) -> None:
    if key in META_CHOICES and value not in META_CHOICES[key]:
        allowed = " or ".join(META_CHOICES[key])
        raise RecordingError(path, lineno, f"bad metadata {key}={value!r} (expected {allowed})")
    if key == "rate_hz":
        try:
            rate = float(value)
        except ValueError:
            rate = math.nan
        lo, hi = RATE_LIMITS_HZ
        if not (lo <= rate <= hi):
            raise RecordingError(
                path, lineno, f"bad metadata rate_hz={value!r} (expected a number {lo:g}..{hi:g})"
            )


def _bad_field(path, lineno: int, col: str, text: str) -> RecordingError:
    if not text.strip():
        return RecordingError(path, lineno, f"column {col}: empty value")
    return RecordingError(path, lineno, f"column {col}: not a number: {text.strip()!r}")


def _locate_row_error(path, rows: list[str], linenos: list[int], cols: list[str]):
    """Slow path, only on failure: find the first malformed data row."""
    ncol = len(cols)
    for text, lineno in zip(rows, linenos):
        fields = text.split(",")
        if len(fields) != ncol:
            return RecordingError(
                path, lineno, f"expected {ncol} values ({','.join(cols)}), found {len(fields)}"
            )
        for col, f in zip(cols, fields):
            if not _NUMBER.match(f):
                low = f.strip().lower()
                if low.lstrip("+-") in ("nan", "inf", "infinity"):
                    return RecordingError(path, lineno, f"column {col}: {f.strip()} is not allowed")
                return _bad_field(path, lineno, col, f)
    return None


def read_csv(path) -> Recording:
    """Read and validate one recording; raise `RecordingError` on any bad input.

    Rules (docs/recording-format.md): '# key=value' metadata lines before the header;
    a header naming t, ax, ay, az and optionally all three of gx, gy, gz (any order, no
    other columns); every data row has exactly those values, all finite decimal numbers;
    |a| <= 32 g and |gyro| <= 4000 deg/s per axis; t strictly increasing. A row that
    repeats the previous row exactly (same t and values: a logger that wrote one record
    twice) is dropped; any other row whose t is not after the previous row's is an error.
    Blank lines are ignored.
    """
    from repband import phone

    spath = os.fspath(path)
    if phone.is_export(spath):
        return phone.read_export(spath)
    try:
        with open(spath, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise RecordingError(spath, None, "no such file") from None
    except OSError as exc:
        raise RecordingError(spath, None, f"cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        lineno = raw[: exc.start].count(b"\n") + 1
        raise RecordingError(spath, lineno, "not UTF-8 text") from None
    if not text.strip():
        raise RecordingError(spath, 1, "empty file")

    lines = text.splitlines()
    meta: dict[str, str] = {}
    meta_line: dict[str, int] = {}
    header_idx = None
    for i, line in enumerate(lines):
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            for key, value in _parse_meta_line(s[1:]).items():
                _check_meta(spath, i + 1, key, value)
                if key in meta and meta[key] != value:
                    raise RecordingError(
                        spath,
                        i + 1,
                        f"metadata {key}={value!r} contradicts {key}={meta[key]!r} "
                        f"on line {meta_line[key]}",
                    )
                meta[key] = value
                meta_line[key] = i + 1
            continue
        header_idx = i
        break
    if header_idx is None:
        raise RecordingError(spath, len(lines), "no header row (expected t,ax,ay,az[,gx,gy,gz])")

    hline = header_idx + 1
    cols = [c.strip() for c in lines[header_idx].split(",")]
    if cols and _NUMBER.match(cols[0]):
        raise RecordingError(spath, hline, "no header row (expected t,ax,ay,az[,gx,gy,gz]) before the data")
    seen = set()
    for c in cols:
        if c in seen:
            raise RecordingError(spath, hline, f"column {c!r} appears twice in the header")
        seen.add(c)
    unknown = [c for c in cols if c not in KNOWN_COLS]
    if unknown and phone.header_kind(lines[header_idx]):
        return phone.read_file(spath, "\n".join(lines[header_idx:]))
    if unknown:
        raise RecordingError(
            spath, hline, f"unknown column(s) {', '.join(repr(c) for c in unknown)} in the header: repband reads "
                          f"{EXPECTED}, {PHONE_APPS}"
        )
    missing = [c for c in REQUIRED_COLS if c not in seen]
    if missing:
        raise RecordingError(spath, hline, f"missing column(s) {', '.join(missing)} in the header: repband reads "
                                           f"{EXPECTED}, {PHONE_APPS}")
    gyro_present = [c for c in GYRO_COLS if c in seen]
    if gyro_present and len(gyro_present) != 3:
        lacking = [c for c in GYRO_COLS if c not in seen]
        raise RecordingError(
            spath, hline, f"gyro columns must be all or none: {', '.join(lacking)} missing"
        )
    has_gyro = bool(gyro_present)

    rows: list[str] = []
    linenos: list[int] = []
    for i in range(header_idx + 1, len(lines)):
        s = lines[i]
        st = s.strip()
        if not st:
            continue
        if st.startswith("#"):
            raise RecordingError(spath, i + 1, "comment/metadata line after the header")
        rows.append(st)
        linenos.append(i + 1)
    if not rows:
        raise RecordingError(spath, hline, "no data rows after the header")

    ncol = len(cols)
    # Fast path: let numpy convert everything, then check. Python's float() accepts a
    # few spellings we do not ('1_0', 'nan', 'inf'): reject those up front.
    data = None
    body = "\n".join(rows)
    if "_" not in body and not re.search(r"[nN][aA][nN]|[iI][nN][fF]", body):
        try:
            data = np.array([r.split(",") for r in rows], dtype=np.float64)
        except ValueError:
            data = None
        if data is not None and (data.ndim != 2 or data.shape[1] != ncol):
            data = None
    if data is None:
        err = _locate_row_error(spath, rows, linenos, cols)
        if err is not None:
            raise err
        # All rows look fine one by one (should not happen): convert slowly.
        data = np.array([[float(f) for f in r.split(",")] for r in rows], dtype=np.float64)

    if not np.all(np.isfinite(data)):
        bad = int(np.argmax(~np.all(np.isfinite(data), axis=1)))
        j = int(np.argmax(~np.isfinite(data[bad])))
        raise RecordingError(spath, linenos[bad], f"column {cols[j]}: {data[bad, j]} is not allowed")

    idx = {c: cols.index(c) for c in cols}
    t = data[:, idx["t"]]
    acc = data[:, [idx[c] for c in ACC_COLS]]
    gyro = data[:, [idx[c] for c in GYRO_COLS]] if has_gyro else None
    if meta.get("acc_unit") == "m/s^2":
        acc = acc / G
    elif 7.0 < float(np.median(np.linalg.norm(acc, axis=1))) < 13.0:  # gravity reads ~9.8: m/s², not g
        norm = float(np.median(np.linalg.norm(acc, axis=1)))
        raise RecordingError(spath, hline, f"ax, ay, az look like m/s², not g (their median magnitude is "
                                           f"{norm:.2f}; at rest it is 1 g): add the line '# acc_unit=m/s^2' "
                                           f"above the header and repband converts them")
    if gyro is not None and meta.get("gyro_unit") == "rad/s":
        gyro = np.degrees(gyro)

    for arr, names, limit, unit in (
        (acc, ACC_COLS, ACC_LIMIT_G, "g"),
        (gyro, GYRO_COLS, GYRO_LIMIT_DPS, "deg/s"),
    ):
        if arr is None:
            continue
        over = np.abs(arr) > limit
        if over.any():
            bad = int(np.argmax(over.any(axis=1)))
            j = int(np.argmax(over[bad]))
            raise RecordingError(
                spath,
                linenos[bad],
                f"column {names[j]}: {arr[bad, j]:g} {unit} is out of range (|value| <= {limit:g})",
            )

    keep = None
    if len(t) > 1:
        dt = np.diff(t)
        nonpos = dt <= 0
        if nonpos.any():
            dup = np.zeros(len(t), dtype=bool)
            dup[1:] = np.all(data[1:] == data[:-1], axis=1)
            bad_rows = np.nonzero(nonpos)[0] + 1
            real = bad_rows[~dup[bad_rows]]
            if len(real):
                k = int(real[0])
                what = "repeats" if t[k] == t[k - 1] else "goes backwards from"
                raise RecordingError(
                    spath,
                    linenos[k],
                    f"time does not increase: t={t[k]:.6g} {what} t={t[k - 1]:.6g} "
                    f"on line {linenos[k - 1]}",
                )
            keep = ~dup
    if keep is not None:
        t, acc = t[keep], acc[keep]
        if gyro is not None:
            gyro = gyro[keep]

    return Recording(
        t=np.ascontiguousarray(t),
        acc=np.ascontiguousarray(acc),
        gyro=None if gyro is None else np.ascontiguousarray(gyro),
        meta=meta,
    )


def to_samples(rec: Recording) -> np.ndarray:
    """Integer sample rows for the detector core: int64 array of shape (N, 7).

    Columns: t_ms, ax_mg, ay_mg, az_mg, gx_x10, gy_x10, gz_x10 where t_ms = round(t *
    1000) in the file's own time base (not shifted to start at 0, so event times map
    straight back to file times), accelerations in milli-g and angular rates in tenths
    of a degree per second, all rounded to nearest. Gyro columns are zero when the
    recording has no gyroscope.
    """
    n = len(rec.t)
    out = np.zeros((n, 7), dtype=np.int64)
    out[:, 0] = np.rint(np.asarray(rec.t, dtype=np.float64) * 1000.0)
    out[:, 1:4] = np.rint(np.asarray(rec.acc, dtype=np.float64) * 1000.0)
    if rec.gyro is not None:
        out[:, 4:7] = np.rint(np.asarray(rec.gyro, dtype=np.float64) * 10.0)
    return out
