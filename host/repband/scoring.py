"""Scoring detector output against truth, exactly as the data README defines it.

Simulated recordings (truth JSON: ``reps``, ``sets``, ``holds``, ``distractors``, ``leg``,
``duration_s``) are scored by `score_sim`; MEx files against ``labels.csv`` by
`score_mex`. `aggregate` sums per-file results of either kind into totals.

Inputs from the detector (the `repband replay --json` shapes):
  reps:  [{"t": s, "exercise": "bridge"|"clam", "side": "left"|"right"|None,
           "partial": bool}, ...]    only reps with partial false are counts
  holds: [{"t_start": s, "t_end": s, "exercise": "hip_flexor_stretch", "side": ...}]

Rules (README "How a detector is scored"), with the choices the README leaves open:

* Window of a true rep: [t_start + 0.3 (t_top - t_start), t_end + 1.5 s]. A count can
  only match a true rep of the same exercise. Matching is one-to-one: counts are taken
  in time order and each one is given to the still-unmatched eligible rep whose window
  closes first (earliest deadline first), which yields a maximum matching.
* Full reps are matched first. Counts left over are then matched, the same way, to
  ``partial`` truth reps: such a count is *neutral* (neither a true nor a false rep,
  "counting it or not are both fine"), and a partial rep left uncounted is not a miss.
* ``tiny`` reps "must not be counted": they take no part in matching, so a count that
  only a tiny rep could explain stays unmatched and is a false rep (reported also as
  ``fp_tiny`` for diagnosis). Because full reps are matched first, a count that fits
  both a full rep and a neighbouring tiny rep goes to the full rep.
* ``clam_other_leg`` distractor windows: a clam counted there for the other side (not
  the sensor leg, ``truth["leg"]``) and matched to no true rep is neutral; one counted
  for the sensor leg (or with no side) is a false rep like any other.
* Set exact: the number of counts of the set's exercise (any side) in
  [t_start - 1 s, t_end + 2 s] lies in [count, count + n_partial].
* Idle false reps: false reps outside every set window (the set window above, any
  exercise); idle time: the recording's span minus the union of set windows and all
  holds (scored or not). Reported per hour.
* Latency: count time - t_end, over counts matched to full reps.
* A scored hold is found when a detected stretch hold overlaps it; with several, the one
  overlapping most is used; error = |detected duration - true duration|. Detected holds
  overlapping no true hold (scored or not) are reported as ``false_holds``.
* Clam side accuracy: over clam counts matched to a true rep (full or partial).
"""
from __future__ import annotations

import csv
import heapq
import math
import os
import re
from statistics import median

EXERCISES = ("bridge", "clam")
HOLD_EXERCISE = "hip_flexor_stretch"
WIN_START_FRAC = 0.3
WIN_END_PAD_S = 1.5
SET_PRE_S = 1.0
SET_POST_S = 2.0

# MEx exercise codes (file S<subject>_<code>_act_<n>.csv).
MEX_EXERCISE = {"01": "knee_rolling", "02": "bridge", "03": "pelvic_tilt", "04": "clam",
                "05": "extension_lying", "06": "prone_punches", "07": "superman"}
MEX_NO_REP_CODES = ("01", "03", "05", "06", "07")
MEX_LABELLED_CODES = {"02": "bridge", "04": "clam"}
_MEX_NAME = re.compile(r"^S(\d+)_(\d\d)_act_(\d+)$")


def rep_window(rep: dict) -> tuple[float, float]:
    t0, top, t1 = float(rep["t_start"]), float(rep["t_top"]), float(rep["t_end"])
    return t0 + WIN_START_FRAC * (top - t0), t1 + WIN_END_PAD_S


def _match(count_times: list[tuple[float, int]], windows: list[tuple[float, float, int]]):
    """Earliest-deadline-first matching of points to intervals (maximum one-to-one).

    count_times: [(t, count_id)] sorted by t; windows: [(lo, hi, rep_id)].
    Returns {count_id: rep_id}.
    """
    wins = sorted(windows)
    heap: list[tuple[float, float, int]] = []
    out: dict[int, int] = {}
    k = 0
    for t, cid in count_times:
        while k < len(wins) and wins[k][0] <= t:
            lo, hi, rid = wins[k]
            heapq.heappush(heap, (hi, lo, rid))
            k += 1
        while heap and heap[0][0] < t:
            heapq.heappop(heap)
        if heap:
            _, _, rid = heapq.heappop(heap)
            out[cid] = rid
    return out


def _in_any(t: float, spans) -> bool:
    return any(lo <= t <= hi for lo, hi in spans)


def _union_length(spans, lo_clip: float, hi_clip: float) -> float:
    total = 0.0
    cur: list[float] | None = None  # [lo, hi] of the run being merged
    for lo, hi in sorted((max(lo, lo_clip), min(hi, hi_clip)) for lo, hi in spans):
        if hi <= lo:
            continue
        if cur is None or lo > cur[1]:
            if cur is not None:
                total += cur[1] - cur[0]
            cur = [lo, hi]
        else:
            cur[1] = max(cur[1], hi)
    if cur is not None:
        total += cur[1] - cur[0]
    return total


def _recording_span(truth: dict, t_span=None) -> tuple[float, float]:
    if t_span is not None:
        return float(t_span[0]), float(t_span[1])
    starts = [float(x["t_start"]) for key in ("reps", "sets", "holds", "distractors")
              for x in truth.get(key, [])]
    t0 = min(starts) if starts else 0.0
    return t0, t0 + float(truth.get("duration_s", 0.0))


def _prf(tp: int, fp: int, fn: int) -> dict:
    """Precision, recall, F1 over full reps; None where undefined (nothing to divide)."""
    return {"precision": tp / (tp + fp) if tp + fp else None,
            "recall": tp / (tp + fn) if tp + fn else None,
            "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None}


def exercise_spans(truth: dict) -> list[tuple[float, float]]:
    """Where a simulated person exercises: each set's window (as a set is scored) and
    each stretch hold."""
    return ([(float(s["t_start"]) - SET_PRE_S, float(s["t_end"]) + SET_POST_S) for s in truth.get("sets", [])]
            + [(float(h["t_start"]), float(h["t_end"])) for h in truth.get("holds", [])])


def retimed(truth: dict, clock) -> dict:
    """`truth` for its recording replayed on a new clock (`clock`: old time -> new
    time): every ``t_*`` moved, ``duration_s`` the span's on the new clock."""
    def moved(o):
        if isinstance(o, dict):
            return {k: float(clock(v)) if k.startswith("t_") and isinstance(v, (int, float)) else moved(v)
                    for k, v in o.items()}
        return [moved(v) for v in o] if isinstance(o, list) else o

    out = moved(truth)
    if "duration_s" in truth:
        t0, t1 = _recording_span(truth)
        out["duration_s"] = float(clock(t1)) - float(clock(t0))
    return out


def score_sim(reps: list[dict], holds: list[dict], truth: dict, t_span=None) -> dict:
    """Score one simulated recording. `t_span` = (first t, last t) of the recording in
    seconds; without it the span is estimated from the truth (earliest event start +
    ``duration_s``)."""
    sensor_leg = truth.get("leg")
    counts = sorted(
        (dict(r) for r in reps if not r.get("partial", False)), key=lambda r: float(r["t"])
    )
    truth_reps = list(truth.get("reps", []))
    status = ["fp"] * len(counts)  # fp | tp | partial | other_leg
    matched_rep: dict[int, int] = {}

    for ex in EXERCISES:
        ctimes = [(float(c["t"]), i) for i, c in enumerate(counts) if c.get("exercise") == ex]
        full = [(*rep_window(r), j) for j, r in enumerate(truth_reps)
                if r.get("exercise") == ex and r.get("kind", "full") == "full"]
        m = _match(ctimes, full)
        for cid, rid in m.items():
            status[cid] = "tp"
            matched_rep[cid] = rid
        rest = [(t, i) for t, i in ctimes if i not in m]
        part = [(*rep_window(r), j) for j, r in enumerate(truth_reps)
                if r.get("exercise") == ex and r.get("kind") == "partial"]
        for cid, rid in _match(rest, part).items():
            status[cid] = "partial"
            matched_rep[cid] = rid

    other_leg_spans = [(float(d["t_start"]), float(d["t_end"]))
                       for d in truth.get("distractors", []) if d.get("kind") == "clam_other_leg"]
    for i, c in enumerate(counts):
        if (status[i] == "fp" and c.get("exercise") == "clam" and c.get("side") is not None
                and sensor_leg is not None and c.get("side") != sensor_leg
                and _in_any(float(c["t"]), other_leg_spans)):
            status[i] = "other_leg"

    tiny_spans = {ex: [rep_window(r) for r in truth_reps
                       if r.get("exercise") == ex and r.get("kind") == "tiny"] for ex in EXERCISES}
    false_reps = []
    fp_tiny = 0
    for i, c in enumerate(counts):
        if status[i] == "fp":
            tiny = _in_any(float(c["t"]), tiny_spans.get(str(c.get("exercise")), []))
            fp_tiny += tiny
            false_reps.append({"t": float(c["t"]), "exercise": c.get("exercise"),
                               "side": c.get("side"), "tiny": bool(tiny)})

    matched_full = {matched_rep[i] for i in range(len(counts)) if status[i] == "tp"}
    misses = [{"t_start": float(r["t_start"]), "t_end": float(r["t_end"]),
               "exercise": r.get("exercise")}
              for j, r in enumerate(truth_reps)
              if r.get("kind", "full") == "full" and j not in matched_full]

    tp = status.count("tp")
    fp = status.count("fp")
    fn = len(misses)
    latencies = [float(counts[i]["t"]) - float(truth_reps[matched_rep[i]]["t_end"])
                 for i in range(len(counts)) if status[i] == "tp"]

    side_total = side_correct = 0
    for i, c in enumerate(counts):
        if status[i] in ("tp", "partial") and c.get("exercise") == "clam":
            side_total += 1
            side_correct += c.get("side") == truth_reps[matched_rep[i]].get("side")

    # sets
    set_windows = []
    sets_out = []
    for s in truth.get("sets", []):
        lo, hi = float(s["t_start"]) - SET_PRE_S, float(s["t_end"]) + SET_POST_S
        set_windows.append((lo, hi))
        n = sum(1 for c in counts if c.get("exercise") == s["exercise"] and lo <= float(c["t"]) <= hi)
        want_lo, want_hi = int(s["count"]), int(s["count"]) + int(s.get("n_partial", 0))
        sets_out.append({"exercise": s["exercise"], "side": s.get("side"),
                         "t_start": float(s["t_start"]), "t_end": float(s["t_end"]),
                         "count": want_lo, "n_partial": int(s.get("n_partial", 0)),
                         "counted": n, "exact": want_lo <= n <= want_hi})

    # idle
    t0, t1 = _recording_span(truth, t_span)
    busy = set_windows + [(float(h["t_start"]), float(h["t_end"])) for h in truth.get("holds", [])]
    idle_s = max(0.0, (t1 - t0) - _union_length(busy, t0, t1))
    idle_fp = sum(1 for f in false_reps if not _in_any(f["t"], set_windows))

    # holds
    det_holds = [h for h in holds if h.get("exercise", HOLD_EXERCISE) == HOLD_EXERCISE]
    holds_out = []
    used = set()
    for h in truth.get("holds", []):
        hs, he = float(h["t_start"]), float(h["t_end"])
        best, best_ov = None, 0.0
        for k, d in enumerate(det_holds):
            ov = min(he, float(d["t_end"])) - max(hs, float(d["t_start"]))
            if ov > best_ov:
                best, best_ov = k, ov
        if best is not None:
            used.add(best)
        if not h.get("scored", False):
            continue
        entry = {"t_start": hs, "t_end": he, "side": h.get("side"), "found": best is not None,
                 "error_s": None, "side_ok": None}
        if best is not None:
            d = det_holds[best]
            entry["error_s"] = abs((float(d["t_end"]) - float(d["t_start"])) - (he - hs))
            entry["side_ok"] = d.get("side") == h.get("side")
        holds_out.append(entry)
    # Any detected hold overlapping any true hold is not false, even if not the best.
    for k, d in enumerate(det_holds):
        for h in truth.get("holds", []):
            if min(float(h["t_end"]), float(d["t_end"])) - max(float(h["t_start"]), float(d["t_start"])) > 0:
                used.add(k)
    false_holds = len(det_holds) - len(used)

    res = {
        "kind": "sim",
        "tp": tp, "fp": fp, "fn": fn,
        "neutral_partial": status.count("partial"),
        "neutral_other_leg": status.count("other_leg"),
        "fp_tiny": fp_tiny,
        "sets": sets_out,
        "sets_exact": sum(s["exact"] for s in sets_out),
        "sets_total": len(sets_out),
        "idle_fp": idle_fp,
        "idle_s": idle_s,
        "latencies": latencies,
        "holds": holds_out,
        "holds_scored": len(holds_out),
        "holds_found": sum(h["found"] for h in holds_out),
        "hold_errors": [h["error_s"] for h in holds_out if h["found"]],
        "hold_side_ok": sum(1 for h in holds_out if h["side_ok"]),
        "false_holds": false_holds,
        "side_correct": side_correct,
        "side_total": side_total,
        "false_reps": false_reps,
        "misses": misses,
    }
    res.update(_derived(res))
    return res


# ---------------------------------------------------------------------------- MEx


def read_labels(path) -> dict[str, dict]:
    """labels.csv -> {"S01_02_act_1": {"kind", "lo", "hi"}, ...}."""
    out: dict[str, dict] = {}
    with open(path, encoding="utf-8") as f:
        lines = [ln for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
    for row in csv.DictReader(lines):
        subject = row["subject"].strip()
        name = f"S{subject}_{row['file'].strip()}"
        out[name] = {"kind": row["kind"].strip(), "lo": int(row["lo"]), "hi": int(row["hi"])}
    return out


def mex_code(path) -> str | None:
    """The MEx exercise code ('01'..'07') of a file name like S01_02_act_1.csv, or None."""
    stem = os.path.splitext(os.path.basename(os.fspath(path)))[0]
    m = _MEX_NAME.match(stem)
    return m.group(2) if m else None


def score_mex(path, n_counts: int, duration_s: float, labels: dict[str, dict]) -> dict:
    """Score one MEx file from its number of full reps (any exercise).

    Bridge/clam label: in range when lo <= count <= hi. ``zero``: in range only when
    0. ``dontcare``: unscored. Exercises 01, 03, 05, 06, 07: every count is a false rep.
    """
    stem = os.path.splitext(os.path.basename(os.fspath(path)))[0]
    code = mex_code(path)
    label = labels.get(stem)
    res = {"kind": "mex", "file": stem, "code": code, "count": int(n_counts),
           "duration_s": float(duration_s), "label": None, "lo": None, "hi": None,
           "in_range": None, "false_reps": 0, "false_s": 0.0}
    if label is not None:
        res.update(label=label["kind"], lo=label["lo"], hi=label["hi"])
        if label["kind"] == "dontcare":
            pass
        elif label["kind"] == "zero":
            res["in_range"] = n_counts == 0
        else:
            res["in_range"] = label["lo"] <= n_counts <= label["hi"]
    elif code in MEX_NO_REP_CODES:
        res["label"] = "no_rep"
        res["false_reps"] = int(n_counts)
        res["false_s"] = float(duration_s)
    return res


# ---------------------------------------------------------------------------- totals


def _derived(r: dict) -> dict:
    out = {}
    if "tp" in r:
        out.update(_prf(r["tp"], r["fp"], r["fn"]))
        out["sets_exact_frac"] = r["sets_exact"] / r["sets_total"] if r["sets_total"] else None
        out["idle_fp_per_h"] = r["idle_fp"] / (r["idle_s"] / 3600.0) if r["idle_s"] > 0 else None
        lat = r["latencies"]
        out["latency_median_s"] = median(lat) if lat else None
        out["latency_max_s"] = max(lat) if lat else None
        out["holds_found_frac"] = r["holds_found"] / r["holds_scored"] if r["holds_scored"] else None
        out["hold_error_median_s"] = median(r["hold_errors"]) if r["hold_errors"] else None
        out["side_accuracy"] = r["side_correct"] / r["side_total"] if r["side_total"] else None
    return out


_SIM_SUM = ("tp", "fp", "fn", "neutral_partial", "neutral_other_leg", "fp_tiny", "sets_exact",
            "sets_total", "idle_fp", "idle_s", "holds_scored", "holds_found", "hold_side_ok",
            "false_holds", "side_correct", "side_total")


def _calibration_totals(results: list[dict]) -> dict:
    """How often and how soon recordings calibrated (sim and no-exercise ones)."""
    after = sorted(r["calibrated_after_s"] for r in results if r.get("calibrated"))
    return {"calibrated": len(after), "calibrated_of": len(results),
            "calibrated_after_median_s": median(after) if after else None}


def aggregate(results: list[dict]) -> dict:
    """Totals over per-file results (sim, MEx and/or recordings with no exercise)."""
    sims = [r for r in results if r.get("kind") == "sim"]
    mexs = [r for r in results if r.get("kind") == "mex"]
    idles = [r for r in results if r.get("kind") == "idle"]
    out: dict = {"files": len(results)}
    if sims:
        tot: dict = {k: sum(r[k] for r in sims) for k in _SIM_SUM}
        tot["latencies"] = [x for r in sims for x in r["latencies"]]
        tot["hold_errors"] = [x for r in sims for x in r["hold_errors"]]
        tot.update(_derived(tot))
        del tot["latencies"], tot["hold_errors"]
        sets = [x for r in sims for x in r["sets"]]
        tot["sets_within1"] = sum(1 for x in sets if x["count"] - 1 <= x["counted"] <= x["count"] + x["n_partial"] + 1)
        tot["sets_within1_frac"] = tot["sets_within1"] / len(sets) if sets else None
        tot.update(_calibration_totals(sims))
        out["sim"] = dict(files=len(sims), **tot)
    if idles:
        hours = sum(r["duration_s"] for r in idles) / 3600.0
        fr = sum(r["false_reps"] for r in idles)
        out["no_exercise"] = {"files": len(idles), "hours": hours, "false_reps": fr,
                              "false_per_h": fr / hours if hours > 0 else None,
                              "uncounted_sets": sum(r["uncounted_sets"] for r in idles),
                              **_calibration_totals(idles)}
    if mexs:
        scored = [r for r in mexs if r["in_range"] is not None]
        rep_files = [r for r in scored if r["label"] in ("bridge", "clam")]
        zero_files = [r for r in scored if r["label"] == "zero"]
        no_rep = [r for r in mexs if r["label"] == "no_rep"]
        false_reps = sum(r["false_reps"] for r in no_rep)
        false_s = sum(r["false_s"] for r in no_rep)
        auto = [r for r in rep_files if "auto_right" in r]
        compared = [r for r in scored if "count_as_recorded" in r]  # varied (--vary)
        out["mex"] = {
            "files": len(mexs),
            "rep_files": len(rep_files),
            "rep_files_in_range": sum(r["in_range"] for r in rep_files),
            "rep_files_within1": sum(r["lo"] - 1 <= r["count"] <= r["hi"] + 1 for r in rep_files),
            "auto_right_reps": sum(r["auto_right"] for r in auto),
            "auto_counted_reps": sum(r["auto_total"] for r in auto),
            "auto_uncounted_sets": sum(r["auto_uncounted_sets"] for r in auto),
            "labelled_reps": sum(r["lo"] for r in auto),
            "rep_in_range_frac": (sum(r["in_range"] for r in rep_files) / len(rep_files)
                                  if rep_files else None),
            "zero_files": len(zero_files),
            "zero_files_ok": sum(r["in_range"] for r in zero_files),
            "no_rep_files": len(no_rep),
            "no_rep_false_reps": false_reps,
            "no_rep_hours": false_s / 3600.0,
            "no_rep_false_per_h": false_reps / (false_s / 3600.0) if false_s > 0 else None,
            "counts_compared": len(compared),
            "counts_lower": sum(r["count"] < r["count_as_recorded"] for r in compared),
            "counts_higher": sum(r["count"] > r["count_as_recorded"] for r in compared),
        }
    return out


def nan_to_none(x):
    """JSON-safe copy (NaN/inf -> None)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: nan_to_none(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [nan_to_none(v) for v in x]
    return x
