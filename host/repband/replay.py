"""Replay a recording through the detector core and return the JSON result object.

`detect(rec, ...)` builds ``repcore.detector.Detector`` (or runs the same core inside
MicroPython with ``engine="micropython"``), pushes ``to_samples(rec)`` and converts
the event tuples of ``repcore.events`` to the shape of the host command contract
(`repband replay --json`). All times are seconds in the recording's own time base.
"""
from __future__ import annotations

import os
import sys

import numpy as np

from repband.recording import Recording, RecordingError, to_samples


def _import_core():
    try:
        from repcore import events
    except ImportError:  # running from a source checkout without installing
        here = os.path.dirname(os.path.abspath(__file__))
        fw = os.path.normpath(os.path.join(here, "..", "..", "firmware"))
        if os.path.isdir(os.path.join(fw, "repcore")) and fw not in sys.path:
            sys.path.insert(0, fw)
        from repcore import events
    return events


ev = _import_core()

EXERCISE_NAMES = {ev.EX_BRIDGE: "bridge", ev.EX_CLAM: "clam", ev.EX_STRETCH: "hip_flexor_stretch",
                  ev.EX_NONE: None}
SIDE_NAMES = {ev.SIDE_LEFT: "left", ev.SIDE_RIGHT: "right", ev.SIDE_NONE: None}
MODES = {"auto": ev.MODE_AUTO, "bridge": ev.MODE_BRIDGE, "clam": ev.MODE_CLAM,
         "stretch": ev.MODE_STRETCH}
LEGS = {"left": ev.SIDE_LEFT, "right": ev.SIDE_RIGHT}
PLACEMENTS = {"thigh": ev.PLACEMENT_THIGH, "hip": ev.PLACEMENT_HIP}
CAL_NAMES = {ev.CAL_STANDING: "standing", ev.CAL_USER: "user", ev.CAL_FLEXION: "forward",
             ev.CAL_WALKING: "walking", ev.CAL_SET: "set"}
FAULT_NAMES = {
    ev.FAULT_BAD_SAMPLE: "bad_sample", ev.FAULT_GAP: "gap", ev.FAULT_UNCALIBRATED: "uncalibrated",
    ev.FAULT_CONFIG_CORRUPT: "config_corrupt", ev.FAULT_CONFIG_VERSION: "config_version",
    ev.FAULT_CONFIG_VALUE: "config_value", ev.FAULT_SENSOR: "sensor",
    ev.FAULT_FIFO_OVERFLOW: "fifo_overflow", ev.FAULT_STORAGE_FULL: "storage_full",
    ev.FAULT_LOW_BATTERY: "low_battery", ev.FAULT_STORAGE: "storage",
    ev.FAULT_SENSOR_OK: "sensor_ok",
}
ENGINES = ("cpython", "micropython")
MAX_FAULTS_LISTED = 100


def _s(t_ms) -> float:
    return round(int(t_ms) / 1000.0, 3)


def run_events(samples: np.ndarray, leg: int, placement: int, mode: int, gyro: bool,
               engine: str = "cpython") -> list[tuple]:
    """Push int sample rows (see `to_samples`) through the core; return its event tuples."""
    if engine == "micropython":
        from repband.micropython import run_core

        return [tuple(e) for e in run_core(samples, leg, placement, mode, gyro)]
    if engine != "cpython":
        raise ValueError(f"unknown engine {engine!r} (expected cpython or micropython)")
    from repcore.detector import Detector

    out: list[tuple] = []
    det = Detector(out.append, leg=leg, placement=placement, mode=mode, gyro=gyro)
    push = det.push
    rows = samples.tolist()
    for r in rows:
        push(r[0], r[1], r[2], r[3], r[4], r[5], r[6])
    det.finish(rows[-1][0] if rows else 0)
    return [tuple(e) for e in out]


def events_to_result(events: list[tuple]) -> dict:
    """Event tuples (layouts in repcore/events.py) -> the replay JSON object (partly)."""
    reps, holds, sets, cal, faults = [], [], [], [], []
    fault_counts: dict[str, int] = {}
    for e in events:
        kind = e[0]
        if kind == ev.EV_REP:
            _, t, ex, side, partial, rom, up, top, down = e[:9]
            reps.append({"t": _s(t), "exercise": EXERCISE_NAMES.get(ex, str(ex)),
                         "side": SIDE_NAMES.get(side), "partial": bool(partial),
                         "rom_deg": round(rom / 10.0, 1), "up_s": _s(up), "top_s": _s(top),
                         "down_s": _s(down)})
        elif kind == ev.EV_HOLD:
            _, t0, t1, ex, side, angle = e[:6]
            holds.append({"t_start": _s(t0), "t_end": _s(t1), "duration_s": _s(t1 - t0),
                          "exercise": EXERCISE_NAMES.get(ex, "hip_flexor_stretch"),
                          "side": SIDE_NAMES.get(side), "angle_deg": round(angle / 10.0, 1)})
        elif kind == ev.EV_SET:
            _, t0, t1, ex, side, count, n_partial, mean_rom, period = e[:9]
            sets.append({"t_start": _s(t0), "t_end": _s(t1),
                         "exercise": EXERCISE_NAMES.get(ex, str(ex)), "side": SIDE_NAMES.get(side),
                         "count": int(count), "n_partial": int(n_partial),
                         "mean_rom_deg": round(mean_rom / 10.0, 1), "period_s": _s(period)})
        elif kind == ev.EV_CALIBRATED:
            cal.append({"t": _s(e[1]), "method": CAL_NAMES.get(e[2], str(e[2]))})
        elif kind == ev.EV_FAULT:
            name = FAULT_NAMES.get(e[2], str(e[2]))
            fault_counts[name] = fault_counts.get(name, 0) + 1
            if len(faults) < MAX_FAULTS_LISTED:
                faults.append({"t": _s(e[1]), "fault": name})
    counts: dict[str, int] = {}
    for r in reps:
        if r["partial"]:
            continue
        key = r["exercise"] if r["side"] is None else f"{r['exercise']}_{r['side']}"
        counts[key] = counts.get(key, 0) + 1
    counts["total"] = sum(1 for r in reps if not r["partial"])
    counts["partial"] = sum(1 for r in reps if r["partial"])
    counts["holds"] = len(holds)
    return {"reps": reps, "holds": holds, "sets": sets, "calibration": cal, "faults": faults,
            "fault_counts": fault_counts, "counts": counts}


# Which fields of each event tuple are times (see repcore/events.py).
_TIME_FIELDS = {ev.EV_REP: (1,), ev.EV_HOLD: (1, 2), ev.EV_SET: (1, 2), ev.EV_CALIBRATED: (1,),
                ev.EV_FAULT: (1,)}


def _shift_times(event: tuple, dt_ms: int) -> tuple:
    fields = _TIME_FIELDS.get(event[0], ())
    return tuple(v + dt_ms if i in fields else v for i, v in enumerate(event))


def resolve_options(rec: Recording, leg=None, placement=None) -> tuple[str, str]:
    """Options win over '# leg=' / '# placement=' metadata; defaults right, thigh."""
    leg = leg or rec.meta.get("leg") or "right"
    placement = placement or rec.meta.get("placement") or "thigh"
    if leg not in LEGS:
        raise ValueError(f"unknown leg {leg!r} (expected left or right)")
    if placement not in PLACEMENTS:
        raise ValueError(f"unknown placement {placement!r} (expected thigh or hip)")
    return leg, placement


def detect(rec: Recording, exercise: str = "auto", leg: str | None = None,
           placement: str | None = None, engine: str = "cpython",
           gyro: bool | None = None) -> dict:
    """Run the detector on a recording; return the replay JSON object.

    exercise: auto|bridge|clam|stretch (detector mode). leg/placement: None takes the
    recording's metadata, then right/thigh. gyro: None uses the gyroscope when the
    recording has one; False runs accelerometer-only (gyro columns zeroed).
    """
    if exercise not in MODES:
        raise ValueError(f"unknown exercise {exercise!r} (expected {', '.join(MODES)})")
    leg, placement = resolve_options(rec, leg, placement)
    has_gyro = rec.gyro is not None
    use_gyro = has_gyro if gyro is None else (bool(gyro) and has_gyro)
    samples = to_samples(rec)
    if not use_gyro:
        samples[:, 4:7] = 0
    # The device counts ms from boot; a file's clock may start anywhere (negative, or
    # Unix time, which would not fit the board's small ints). Feed the core from 0 and
    # shift event times back to the file's time base.
    t0 = int(samples[0, 0]) if len(samples) else 0
    samples[:, 0] -= t0
    events = run_events(samples, LEGS[leg], PLACEMENTS[placement], MODES[exercise], use_gyro,
                        engine)
    events = [_shift_times(e, t0) for e in events]
    result = events_to_result(events)
    t = np.asarray(rec.t)
    result.update({
        "exercise_mode": exercise,
        "leg": leg,
        "placement": placement,
        "gyro": use_gyro,
        "engine": engine,
        "n_samples": int(len(t)),
        "t_first": round(float(t[0]), 4) if len(t) else None,
        "t_last": round(float(t[-1]), 4) if len(t) else None,
    })
    return result


def detect_file(path, **kw) -> dict:
    from repband.recording import read_csv

    rec = read_csv(path)
    out = detect(rec, **kw)
    out["file"] = os.fspath(path)
    return out


__all__ = ["detect", "detect_file", "events_to_result", "run_events", "resolve_options",
           "RecordingError"]
