"""A short readable account of a replay-style result dict (`repband replay`, `repband
demo`): samples, calibration, reps per exercise and side, sets, tempo, holds, faults."""
from __future__ import annotations

import sys

from repband.history import calibrate_hint


def human_summary(res: dict, name: str = "", out=None) -> None:
    """A short readable account of a replay result (used by `replay` and `demo`)."""
    out = out or sys.stdout
    head = f"{name}: " if name else ""
    print(f"{head}{res.get('n_samples', '?')} samples, {res.get('placement')} sensor on the "
          f"{res.get('leg')} leg, {'gyro+accel' if res.get('gyro') else 'accelerometer only'}, "
          f"mode {res.get('exercise_mode')}, engine {res.get('engine')}", file=out)
    for c in res.get("calibration", []):
        print(f"  calibrated at {c['t']:.1f} s ({c['method']})", file=out)
    counts = res.get("counts", {})
    parts = [f"{k.replace('_', ' ')} {v}" for k, v in counts.items()
             if k not in ("total", "partial", "holds")]
    print(f"  reps counted: {counts.get('total', 0)}"
          + (f" ({', '.join(parts)})" if parts else "")
          + (f"; partial reps: {counts['partial']}" if counts.get("partial") else ""), file=out)
    for i, s in enumerate(res.get("sets", []), 1):
        if not s.get("exercise"):
            print(f"  set {i}: not counted, {s['count']} alike movements {s['t_start']:.1f}-{s['t_end']:.1f} s"
                  " that the band could not name: it was not calibrated", file=out)
            continue
        side = f" {s['side']}" if s.get("side") else ""
        print(f"  set {i}: {s['exercise']}{side} x{s['count']}"
              + (f" (+{s['n_partial']} partial)" if s.get("n_partial") else "")
              + f", {s['t_start']:.1f}-{s['t_end']:.1f} s, mean range {s['mean_rom_deg']:.0f} deg,"
              f" one rep every {s['period_s']:.1f} s", file=out)
    full = [r for r in res.get("reps", []) if not r["partial"]]
    if full:
        ups = sorted(r["up_s"] for r in full)
        tops = sorted(r["top_s"] for r in full)
        downs = sorted(r["down_s"] for r in full)
        mid = len(full) // 2
        print(f"  tempo (median): up {ups[mid]:.1f} s, hold {tops[mid]:.1f} s, "
              f"down {downs[mid]:.1f} s", file=out)
    for h in res.get("holds", []):
        side = h.get("side") or "unknown side"
        print(f"  hold: hip flexor stretch ({side}) {h['t_start']:.1f}-{h['t_end']:.1f} s, "
              f"{h['duration_s']:.0f} s", file=out)
    fc = dict(res.get("fault_counts") or {})
    if fc.pop("uncalibrated", 0):
        print(f"  to count such sets, {calibrate_hint(res.get('placement'))}", file=out)
    if fc:
        print("  sensor faults: " + ", ".join(f"{k} {v}" for k, v in fc.items()), file=out)
