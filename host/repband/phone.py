"""Recordings made with a phone's sensor app, read as repband recordings: try the
detector with a phone in a trouser pocket before building a band
(docs/recording-format.md#phone-recordings).

- **phyphox** (Android and iOS; both in Android's axis convention, m/s² and rad/s):
  the CSV of the "Acceleration with g" experiment ("Time (s)", "Acceleration x
  (m/s^2)", ...) and of "Gyroscope" ("Gyroscope x (rad/s)", ...); comma, tab or
  semicolon separated (decimal comma with semicolons).
- **Sensor Logger** (Android and iOS): a file per sensor, "time,seconds_elapsed,z,y,x"
  in m/s² and rad/s: TotalAcceleration.csv (Android, gravity included), or
  Accelerometer.csv (gravity removed) with Gravity.csv, and Gyroscope.csv. iPhone files
  (Metadata.csv says the platform) have the accelerations negated, unless the app's
  "Standardise Units & Frames" was on, which Metadata.csv does not say: repband takes
  the app's default (off) and says so.

A recording is one CSV, a folder or a .zip (an app's export as it is). A file per
sensor has its own clock: the files are merged on their common span and resampled to
104 Hz (the band's rate). Acceleration without gravity (phyphox "Acceleration without
g", Sensor Logger's Accelerometer.csv alone) is refused with the reason: the detector
works from the tilt that gravity shows.
"""
from __future__ import annotations

import csv
import io
import os
import zipfile

import numpy as np

from repband.recording import Recording, RecordingError

G = 9.80665  # m/s² per g (Sensor Logger's; phyphox uses 9.81 on iOS, within 0.04 %)
RATE_HZ = 104.0
NO_GRAVITY = ("no gravity in it ({what}): the detector counts from the tilt that gravity shows. Record "
              "acceleration *with* gravity: phyphox \"Acceleration with g\", Sensor Logger's TotalAcceleration "
              "(Android) or Accelerometer together with Gravity")
_PHYPHOX_ACC = ("Acceleration x (m/s^2)", "Acceleration y (m/s^2)", "Acceleration z (m/s^2)")
_PHYPHOX_LIN = ("Linear Acceleration x (m/s^2)", "Linear Acceleration y (m/s^2)", "Linear Acceleration z (m/s^2)")
_PHYPHOX_GYRO = ("Gyroscope x (rad/s)", "Gyroscope y (rad/s)", "Gyroscope z (rad/s)")
_LOGGER = ("time", "seconds_elapsed", "z", "y", "x")


def is_export(path) -> bool:
    """A folder or a .zip: an app's export of several files."""
    p = os.fspath(path)
    return os.path.isdir(p) or (p.lower().endswith(".zip") and os.path.isfile(p))


def _sep(line: str) -> str:
    return "\t" if "\t" in line else ";" if ";" in line else ","


def header_kind(line: str) -> str | None:
    """What a header line says the file is: phyphox acc/linear/gyro, Sensor Logger, or None."""
    cols = [c.strip() for c in next(csv.reader([line], delimiter=_sep(line)), [])]
    if "Time (s)" in cols:
        for kind, names in (("phyphox_acc", _PHYPHOX_ACC), ("phyphox_linear", _PHYPHOX_LIN),
                            ("phyphox_gyro", _PHYPHOX_GYRO)):
            if all(n in cols for n in names):
                return kind
    if all(n in cols for n in _LOGGER):
        return "logger"
    return None


# ---------------------------------------------------------------------------- reading


def _table(name: str, text: str) -> tuple[list[str], np.ndarray]:
    """The header and the numbers of one CSV (phyphox's three separators)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise RecordingError(name, None, "empty file")
    sep = _sep(lines[0])
    rows = list(csv.reader(lines, delimiter=sep))
    cols = [c.strip() for c in rows[0]]
    try:
        data = np.array([[float(v.replace(",", ".") if sep == ";" else v) for v in r] for r in rows[1:]],
                        dtype=np.float64)
    except ValueError as exc:
        raise RecordingError(name, None, f"not a number in the data ({exc})") from None
    if data.ndim != 2 or len(data) < 2 or data.shape[1] != len(cols) or not np.all(np.isfinite(data)):
        raise RecordingError(name, None, "the data rows do not match the header (or hold fewer than 2 rows)")
    return cols, data


def _series(name: str, cols: list[str], data: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(t in s, values (N, 3) in x, y, z) of one file."""
    ix = {c: i for i, c in enumerate(cols)}
    if kind == "logger":
        t, names = data[:, ix["seconds_elapsed"]], ("x", "y", "z")
    else:
        t = data[:, ix["Time (s)"]]
        names = {"phyphox_acc": _PHYPHOX_ACC, "phyphox_linear": _PHYPHOX_LIN, "phyphox_gyro": _PHYPHOX_GYRO}[kind]
    v = data[:, [ix[n] for n in names]]
    order = np.argsort(t, kind="stable")  # buffered sensors report a little out of order
    t, v = t[order], v[order]
    keep = np.concatenate([[True], np.diff(t) > 0])
    return t[keep], v[keep]


def _files(path) -> dict[str, str]:
    """{file name: text} of the CSVs in a folder or zip (one level of subfolders)."""
    p = os.fspath(path)
    out = {}
    if os.path.isdir(p):
        for root, _dirs, names in os.walk(p):
            if os.path.relpath(root, p).count(os.sep) > 0:
                continue
            for n in names:
                if n.lower().endswith(".csv"):
                    with open(os.path.join(root, n), "rb") as f:
                        out[os.path.relpath(os.path.join(root, n), p)] = f.read().decode("utf-8-sig", "replace")
        return out
    try:
        with zipfile.ZipFile(p) as z:
            for n in z.namelist():
                if n.lower().endswith(".csv") and n.count("/") <= 1:
                    out[n] = z.read(n).decode("utf-8-sig", "replace")
    except (zipfile.BadZipFile, OSError) as exc:
        raise RecordingError(p, None, f"not a readable zip file ({exc})") from None
    return out


def _platform(files: dict[str, str]) -> str:
    """Sensor Logger's Metadata.csv platform column ('ios', 'android' or '')."""
    for name, text in files.items():
        if os.path.basename(name).lower() == "metadata.csv":
            rows = list(csv.DictReader(io.StringIO(text)))
            if rows:
                return next((str(v).strip().lower() for k, v in rows[0].items() if k and k.strip().lower() ==
                             "platform"), "")
    return ""


def read_file(path, text: str) -> Recording:
    """One phone CSV (its header is a phone app's: header_kind)."""
    name = os.fspath(path)
    cols, data = _table(name, text)
    kind = header_kind(text.splitlines()[0])
    stem = os.path.splitext(os.path.basename(name))[0].lower()
    if kind == "phyphox_linear":
        raise RecordingError(name, None, NO_GRAVITY.format(what="phyphox \"Acceleration without g\""))
    if kind == "phyphox_gyro" or (kind == "logger" and stem == "gyroscope"):
        raise RecordingError(name, None, "a gyroscope alone: give the accelerometer's file too (the folder or "
                                         "the .zip of the export)")
    if kind == "logger" and stem != "totalacceleration":
        raise RecordingError(name, None, NO_GRAVITY.format(what=f"Sensor Logger's {os.path.basename(name)}")
                             + "; give the folder or the .zip: repband adds Gravity.csv to Accelerometer.csv")
    t, acc = _series(name, cols, data, kind)
    return _merge(name, (t, acc / G), None, f"{'phyphox' if kind.startswith('phyphox') else 'Sensor Logger'} "
                                           f"{os.path.basename(name)}")


def read_export(path) -> Recording:
    """A folder or zip exported by phyphox or Sensor Logger."""
    name = os.fspath(path)
    files = _files(path)
    found: dict[str, tuple] = {}
    for fname, text in sorted(files.items()):
        lines = text.splitlines()
        kind = header_kind(lines[0]) if lines else None
        if kind is None:
            continue
        key = kind if kind != "logger" else "logger_" + os.path.splitext(os.path.basename(fname))[0].lower()
        cols, data = _table(os.path.join(name, fname), text)
        found.setdefault(key, _series(fname, cols, data, kind) + (fname,))
    gyro = found.get("phyphox_gyro") or found.get("logger_gyroscope")
    ios = _platform(files) == "ios"
    sign = -1.0 if ios else 1.0
    if "phyphox_acc" in found:
        t, a, f = found["phyphox_acc"]
        acc, what = (t, a / G), f"phyphox {f}"
    elif "logger_totalacceleration" in found:
        t, a, f = found["logger_totalacceleration"]
        acc, what = (t, sign * a / G), f"Sensor Logger {f}"
    elif "logger_accelerometer" in found and "logger_gravity" in found:
        (t1, a1, f1), (t2, a2, f2) = found["logger_accelerometer"], found["logger_gravity"]
        t, both = _on_common_grid([(t1, a1), (t2, a2)], rate=None)
        acc, what = (t, sign * (both[0] + both[1]) / G), f"Sensor Logger {f1} + {f2}"
    elif "phyphox_linear" in found:
        raise RecordingError(name, None, NO_GRAVITY.format(what="phyphox \"Acceleration without g\""))
    elif "logger_accelerometer" in found:
        raise RecordingError(name, None, NO_GRAVITY.format(what="Sensor Logger's Accelerometer.csv, and no "
                                                                "Gravity.csv to add to it"))
    else:
        raise RecordingError(name, None, "no accelerometer file of phyphox or Sensor Logger in it (found: "
                             + (", ".join(sorted(files)) or "no CSV") + ")")
    if ios and "phyphox_acc" not in found:
        what += " (an iPhone's: accelerations negated to Android's axes, Sensor Logger's default)"
    return _merge(name, acc, None if gyro is None else (gyro[0], gyro[1]), what
                  + (f" with {gyro[2]}" if gyro is not None else ""))


def _on_common_grid(series, rate: float | None = RATE_HZ):
    """[(t, v)] -> (t, [v on t]): the span all cover, at `rate` (None: the first's times)."""
    lo = max(s[0][0] for s in series)
    hi = min(s[0][-1] for s in series)
    if hi - lo < 1.0:
        raise ValueError("the files do not overlap in time")
    if rate is None:
        t0 = series[0][0]
        t = t0[(t0 >= lo) & (t0 <= hi)]
    else:
        t = lo + np.arange(int((hi - lo) * rate) + 1) / rate
    return t, [np.stack([np.interp(t, s[0], s[1][:, k]) for k in range(3)], axis=1) for s in series]


def _merge(name: str, acc, gyro, what: str) -> Recording:
    """Acceleration in g (and gyro in rad/s) -> a Recording at 104 Hz, deg/s, checked."""
    series = [acc] if gyro is None else [acc, gyro]
    try:
        t, vals = _on_common_grid(series)
    except ValueError as exc:
        raise RecordingError(name, None, f"{what}: {exc}") from None
    a = vals[0]
    g = None if gyro is None else np.degrees(vals[1])
    norm = float(np.median(np.linalg.norm(a, axis=1)))
    if norm < 0.5:
        raise RecordingError(name, None, NO_GRAVITY.format(what=f"{what}: the median acceleration is "
                                                                f"{norm * G:.1f} m/s², not about 9.8"))
    units = "m/s² and rad/s" if g is not None else "m/s²"
    meta = {"rate_hz": f"{RATE_HZ:g}", "source": "phone",
            "read_as": f"{what}: {units} converted to g and deg/s, resampled to {RATE_HZ:g} Hz"}
    return Recording(t=t - t[0], acc=a, gyro=g, meta=meta)
