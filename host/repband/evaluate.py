"""`repband evaluate`: run the detector on recordings that have truth and score them.

Recognised inputs (files or directories, directories are scanned for ``*.csv``):
* simulated recordings: ``NAME.csv`` with ``NAME.json`` (truth) beside it, scored by
  `scoring.score_sim`; grouped by scenario kind, mount tier, sensor (gyro or
  accelerometer-only) and placement;
* MEx recordings: files in a directory that holds ``labels.csv``. Bridging (02) and clam
  (04) files run in manual mode (bridge / clam) and are scored against their label;
  they also run in auto mode, where the reps counted as the labelled exercise are
  reported. The other exercises (01, 03, 05, 06, 07) run in auto mode and every count
  there is a false rep. Grouped by exercise;
* recordings that hold no exercise at all (daily living): named with ``--no-exercise
  PATH`` (a file or a directory of ``*.csv``), or a ``labels.csv`` row of kind ``none``.
  They run in auto mode with their own placement and leg (``# placement=hip``); every
  count is a false rep. Reported per path given, with how often and how soon the band
  calibrated.

Every kind reports the share of sets counted within one rep of the truth (the measure
the published rep counters use). ``--vary NAME`` runs every recording changed as
`repband.variations` describes (the strap turned, a slower or an uneven pace, smaller
movements, a noisier sensor); ``--vary-seed N`` draws the random ones (noise, an uneven
pace, an askew strap's axis) afresh, and ``--vary-seed FIRST-LAST`` runs every draw in
turn and reports their totals (each file row that misses, with its draw).
"""
from __future__ import annotations

import contextlib
import functools
import json as _json
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor

from repband import scoring, variations
from repband.recording import RecordingError, read_csv
from repband.replay import detect

SIM_GROUPS = (("scenario", "scenario"), ("mount", "mount"), ("sensor", "sensor"),
              ("placement", "placement"))


def _is_mex_dir(d: str) -> bool:
    return os.path.isfile(os.path.join(d, "labels.csv"))


def _csv_files(p) -> list[tuple[str, bool]]:
    """(path, explicitly named) of the recordings a path names."""
    p = os.fspath(p)
    if os.path.isdir(p):
        return [(os.path.join(p, name), False) for name in sorted(os.listdir(p))
                if name.endswith(".csv") and name != "labels.csv"]
    if os.path.exists(p):
        return [(p, True)]
    raise RecordingError(p, None, "no such file or directory")


def collect_tasks(paths, exercise="auto", accel_only=False, no_exercise=(), vary=None,
                  vary_seed=0) -> list[dict]:
    """Turn paths into tasks (with `vary`, one per recording and draw: `vary_seed` is one
    draw or a list of them); raises RecordingError for a path with no truth."""
    tasks = _collect(paths, exercise, accel_only, no_exercise)
    if vary is None:
        return tasks
    if vary in variations.ONE_POSTURE:
        for t in tasks:
            if t["type"] != "mex":
                raise RecordingError(t["path"], None, f"--vary {vary} scales movements "
                                     "about one resting posture: it is for recordings "
                                     "of one exercise (MEx files)")
    draws = vary_seed if isinstance(vary_seed, (list, tuple)) else [vary_seed]
    return [dict(t, vary=vary, vary_seed=draw) for draw in draws for t in tasks]


def _collect(paths, exercise, accel_only, no_exercise) -> list[dict]:
    files: list[tuple[str, bool]] = [f for p in paths for f in _csv_files(p)]
    tasks = [{"type": "idle", "path": path, "group": os.path.basename(os.path.dirname(os.path.abspath(path))),
              "accel_only": accel_only}
             for p in no_exercise for path, _ in _csv_files(p)]
    labels_cache: dict[str, dict] = {}
    for path, explicit in files:
        stem, _ = os.path.splitext(path)
        d = os.path.dirname(path) or "."
        if os.path.isfile(stem + ".json"):
            tasks.append({"type": "sim", "path": path, "truth": stem + ".json",
                          "exercise": exercise, "accel_only": accel_only})
        elif _is_mex_dir(d):
            if d not in labels_cache:
                try:
                    labels_cache[d] = scoring.read_labels(os.path.join(d, "labels.csv"))
                except (OSError, KeyError, ValueError) as exc:
                    raise RecordingError(os.path.join(d, "labels.csv"), None,
                                         f"cannot read labels: {exc}") from None
            code = scoring.mex_code(path)
            label = labels_cache[d].get(os.path.basename(stem))
            if label is not None and label["kind"] == "none":
                tasks.append({"type": "idle", "path": path, "group": os.path.basename(d),
                              "accel_only": accel_only})
                continue
            mode = {"02": "bridge", "04": "clam"}.get(code or "", "auto")
            tasks.append({"type": "mex", "path": path, "labels": labels_cache[d], "mode": mode,
                          "accel_only": accel_only})
        elif explicit:
            raise RecordingError(path, None, "no truth to score against (no NAME.json beside "
                                             "it and no labels.csv in its directory)")
    return tasks


def run_task(task: dict, engine: str = "cpython") -> dict:
    rec = read_csv(task["path"])
    truth = None
    if task["type"] == "sim":
        try:
            with open(task["truth"], encoding="utf-8") as f:
                truth = _json.load(f)
        except (OSError, ValueError) as exc:
            raise RecordingError(task["truth"], None, f"cannot read truth: {exc}") from None
    if task.get("vary"):
        key = os.path.basename(task["path"])
        if task.get("vary_seed"):
            key += f"/{task['vary_seed']}"
        # A simulated person exercises slower (or at a wandering pace), and the truth
        # follows the recording's new clock.
        spans = None if truth is None else scoring.exercise_spans(truth)
        rec, clock = variations.varied(rec, task["vary"], key=key, spans=spans)
        if truth is not None:
            truth = scoring.retimed(truth, clock)
    gyro = False if task.get("accel_only") else None
    name = os.path.basename(task["path"])
    dur = float(rec.t[-1] - rec.t[0]) if len(rec.t) else 0.0
    if task["type"] == "sim":
        out = detect(rec, exercise=task["exercise"], engine=engine, gyro=gyro)
        res = scoring.score_sim(out["reps"], out["holds"], truth,
                                t_span=(float(rec.t[0]), float(rec.t[-1])))
        res.update({
            "file": name,
            "path": task["path"],
            "scenario": truth.get("kind", "?"),
            "mount": truth.get("mount_tier", "?"),
            "sensor": "gyro" if out["gyro"] else "accel",
            "placement": out["placement"],
            "leg": out["leg"],
            "duration_s": dur,
            "n_counts": out["counts"]["total"],
        })
        res.update(_calibration(out, rec))
        return res
    if task["type"] == "idle":
        out = detect(rec, exercise="auto", engine=engine, gyro=gyro)
        res = {"kind": "idle", "file": name, "path": task["path"], "group": task["group"],
               "placement": out["placement"], "sensor": "gyro" if out["gyro"] else "accel",
               "duration_s": dur, "false_reps": out["counts"]["total"],
               "false_times": [r["t"] for r in out["reps"] if not r["partial"]],
               "uncounted_sets": sum(1 for x in out["sets"] if not x["exercise"])}
        res.update(_calibration(out, rec))
        return res
    out = detect(rec, exercise=task["mode"], engine=engine, gyro=gyro)
    res = scoring.score_mex(task["path"], out["counts"]["total"], dur, task["labels"])
    res.update({"path": task["path"], "mode": task["mode"],
                "exercise": scoring.MEX_EXERCISE.get(res["code"] or "", "?"),
                "sensor": "gyro" if out["gyro"] else "accel"})
    if task.get("vary") and res["in_range"] is not None:
        # A count the label's range still allows may have changed all the same.
        res["count_as_recorded"] = _count_as_recorded(task["path"], task["mode"], engine, gyro)
    if task["mode"] != "auto":  # the same file in auto mode: counted as the right exercise?
        auto = detect(rec, exercise="auto", engine=engine, gyro=gyro)
        res["auto_right"] = sum(1 for r in auto["reps"] if not r["partial"] and r["exercise"] == task["mode"])
        res["auto_total"] = auto["counts"]["total"]
        res["auto_uncounted_sets"] = sum(1 for x in auto["sets"] if not x["exercise"])
    return res


@functools.lru_cache(maxsize=None)
def _count_as_recorded(path: str, mode: str, engine: str, gyro) -> int:
    """The count of a recording as it was, once per worker however many draws vary it."""
    return detect(read_csv(path), exercise=mode, engine=engine, gyro=gyro)["counts"]["total"]


def _calibration(out: dict, rec) -> dict:
    """Whether and when (s from the start) the band calibrated on this recording."""
    cal = out["calibration"]
    return {"calibrated": bool(cal),
            "calibrated_after_s": round(cal[0]["t"] - float(rec.t[0]), 1) if cal else None}


def _run_one(args):
    task, engine = args
    res = run_task(task, engine)
    if task.get("vary"):
        res["draw"] = task["vary_seed"]
    return res


def run_tasks(tasks: list[dict], engine="cpython", jobs: int | None = None, quiet: bool = True) -> list[dict]:
    from repband import progress

    if jobs is None:
        jobs = min(2, os.cpu_count() or 1)
    results = []
    with progress.bar(len(tasks), "evaluate", unit="file", quiet=quiet) as bar, \
            contextlib.ExitStack() as stack:
        if jobs <= 1 or len(tasks) <= 1:
            done = map(_run_one, [(t, engine) for t in tasks])
        else:
            # Ctrl-C is the main process's to handle: it drops the files not started
            # (a plain shutdown would run them all first) and the workers end quietly.
            pool = ProcessPoolExecutor(max_workers=jobs, initializer=signal.signal,
                                       initargs=(signal.SIGINT, signal.SIG_IGN))
            stack.callback(pool.shutdown, cancel_futures=True)
            done = pool.map(_run_one, [(t, engine) for t in tasks])
        for r in done:
            results.append(r)
            bar.update(1)
    return results


def summarize(results: list[dict]) -> dict:
    sims = [r for r in results if r["kind"] == "sim"]
    mexs = [r for r in results if r["kind"] == "mex"]
    idles = [r for r in results if r["kind"] == "idle"]
    groups: dict[str, dict] = {}
    if idles:
        groups["no_exercise"] = {v: scoring.aggregate([r for r in idles if r["group"] == v])
                                 for v in sorted({r["group"] for r in idles})}
    for title, key in SIM_GROUPS:
        values = sorted({r[key] for r in sims})
        if values:
            groups[title] = {v: scoring.aggregate([r for r in sims if r[key] == v])
                             for v in values}
    if mexs:
        values = sorted({r["exercise"] for r in mexs})
        groups["mex_exercise"] = {v: scoring.aggregate([r for r in mexs if r["exercise"] == v])
                                  for v in values}
    return {"files": results, "groups": groups, "overall": scoring.aggregate(results)}


# ---------------------------------------------------------------------------- printing


def _f(x, fmt="{:.3f}", none="-"):
    return none if x is None else fmt.format(x)


def _sim_row(label: str, a: dict) -> list[str]:
    return [label, str(a["files"]), str(a["tp"]), str(a["fp"]), str(a["fn"]),
            _f(a["precision"]), _f(a["recall"]), _f(a["f1"]),
            f"{a['sets_exact']}/{a['sets_total']}",
            _f(a["idle_fp_per_h"], "{:.1f}"),
            _f(a["latency_median_s"], "{:+.2f}"), _f(a["latency_max_s"], "{:+.2f}"),
            f"{a['holds_found']}/{a['holds_scored']}",
            _f(a["hold_error_median_s"], "{:.1f}"),
            f"{a['side_correct']}/{a['side_total']}",
            f"{a['sets_within1']}/{a['sets_total']}" if "sets_within1" in a else "-",
            _cal(a)]


def _cal(a: dict) -> str:
    """'n/m (median s)' of calibrated recordings, or '-' for a single file's row."""
    if "calibrated_of" in a:
        return f"{a['calibrated']}/{a['calibrated_of']}" + _f(a["calibrated_after_median_s"], " ({:.0f} s)", "")
    return _f(a.get("calibrated_after_s"), "{:.0f} s", "no")


_SIM_HEAD = ["group", "files", "tp", "fp", "fn", "prec", "recall", "F1", "sets=", "idleFP/h",
             "lat med", "lat max", "holds", "hold err", "clam side", "sets ±1", "calibrated"]


def _table(rows: list[list[str]], out) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for k, r in enumerate(rows):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                        enumerate(zip(r, widths))), file=out)
        if k == 0:
            print("  ".join("-" * w for w in widths), file=out)


def _missed(r: dict) -> bool:
    """A file's result that is not right: a false or missed rep, a count out of range."""
    if r["kind"] == "sim":
        return bool(r["fp"] or r["fn"])
    return bool(r.get("false_reps")) or r.get("in_range") is False


def print_report(summary: dict, out=None) -> None:
    out = out or sys.stdout
    results = summary["files"]
    draws = summary.get("vary_seed")
    several = isinstance(draws, (list, tuple)) and len(draws) > 1
    if summary.get("vary"):
        if several:
            draw = f" ({len(draws)} draws: {', '.join(map(str, draws))}; totals over every draw)"
        else:
            draw = draws[0] if isinstance(draws, (list, tuple)) else draws
            draw = f" (draw {draw})" if draw else ""
        print(f"Every recording varied: {variations.VARIATIONS[summary['vary']]}{draw}", file=out)
        print(file=out)
    if several:
        # One row per file and draw would bury the few that miss: only those, named.
        results = [dict(r, file=f"{r['file']} #{r['draw']}") for r in results]
        shown = [r for r in results if _missed(r)]
        print(f"Files listed: the {len(shown)} of {len(results)} (file #draw) with a miss", file=out)
        print(file=out)
    else:
        shown = results
    sims = [r for r in shown if r["kind"] == "sim"]
    mexs = [r for r in shown if r["kind"] == "mex"]
    if sims:
        print("Simulated recordings (scored as in the data README)", file=out)
        rows = [_SIM_HEAD] + [_sim_row(r["file"], dict(r, files=1)) for r in sims]
        _table(rows, out)
        print(file=out)
    if any(r["kind"] == "sim" for r in results):
        rows = [_SIM_HEAD]
        for title, _ in SIM_GROUPS:
            for v, a in summary["groups"].get(title, {}).items():
                rows.append(_sim_row(f"{title}={v}", a["sim"]))
        rows.append(_sim_row("ALL sim", summary["overall"]["sim"]))
        _table(rows, out)
        print(file=out)
    if mexs:
        print("MEx recordings (manual mode for 02/04, auto mode for the rest)", file=out)
        rows = [["file", "exercise", "mode", "label", "range", "count", "result"]]
        for r in mexs:
            if r["label"] in ("bridge", "clam", "zero"):
                verdict = "ok" if r["in_range"] else "WRONG"
                rng = f"{r['lo']}..{r['hi']}"
            elif r["label"] == "no_rep":
                verdict = f"{r['false_reps']} false"
                rng = "0"
            else:
                verdict, rng = "unscored", "-"
            rows.append([r["file"], r["exercise"], r["mode"], str(r["label"]), rng,
                         str(r["count"]), verdict])
        _table(rows, out)
        print(file=out)
    if any(r["kind"] == "mex" for r in results):
        rows = [["group", "files", "in range", "±1", "zero ok", "false reps", "hours", "false/h",
                 "auto: right exercise"]]
        items = list(summary["groups"].get("mex_exercise", {}).items())
        items.append(("ALL MEx", summary["overall"]))
        varied = summary.get("vary") is not None
        if varied:
            rows[0].append("count unlike as recorded")
        for v, a in items:
            m = a["mex"]
            auto = (f"{m['auto_right_reps']} of {m['labelled_reps']}+ ({m['auto_counted_reps']} counted,"
                    f" {m['auto_uncounted_sets']} sets reported not counted)" if m["labelled_reps"] else "-")
            rows.append([str(v), str(m["files"]), f"{m['rep_files_in_range']}/{m['rep_files']}",
                         f"{m['rep_files_within1']}/{m['rep_files']}",
                         f"{m['zero_files_ok']}/{m['zero_files']}", str(m["no_rep_false_reps"]),
                         f"{m['no_rep_hours']:.3f}", _f(m["no_rep_false_per_h"], "{:.1f}"), auto])
            if varied:
                rows[-1].append(f"{m['counts_lower']} lower, {m['counts_higher']} higher, of {m['counts_compared']}")
        _table(rows, out)
        print(file=out)
    idles = [r for r in results if r["kind"] == "idle"]
    if idles:
        print("Recordings with no exercise (auto mode: every rep counted is a false rep)", file=out)
        rows = [["group", "files", "hours", "false reps", "false/h", "sets not counted", "calibrated"]]
        for v, a in summary["groups"]["no_exercise"].items():
            n = a["no_exercise"]
            rows.append([str(v), str(n["files"]), f"{n['hours']:.2f}", str(n["false_reps"]),
                         _f(n["false_per_h"], "{:.1f}"), str(n["uncounted_sets"]), _cal(n)])
        _table(rows, out)
        for r in idles:
            if r["false_reps"]:
                print(f"  {r['file']}: {r['false_reps']} false at "
                      + ", ".join(f"{t:.0f} s" for t in r["false_times"]), file=out)
    if not results:
        print("no recordings with truth found", file=out)


def evaluate(paths, exercise: str = "auto", engine: str = "cpython", json: bool = False,
             jobs: int | None = None, accel_only: bool = False, no_exercise=(), vary=None,
             vary_seed: int | list[int] = 0, out=None) -> dict:
    """Score every recording under `paths` (and `no_exercise`), changed by variation
    `vary` if given (its random draw `vary_seed`, or each draw of a list of them, the
    totals over all); print a table (or one JSON object)."""
    out = out or sys.stdout
    tasks = collect_tasks(paths, exercise=exercise, accel_only=accel_only, no_exercise=no_exercise,
                          vary=vary, vary_seed=vary_seed)
    if not tasks:
        raise RecordingError(", ".join(os.fspath(p) for p in list(paths) + list(no_exercise)), None,
                             "no recordings with truth (NAME.json or labels.csv) found")
    results = run_tasks(tasks, engine=engine, jobs=jobs, quiet=json)
    summary = summarize(results)
    summary["vary"] = vary
    summary["vary_seed"] = vary_seed
    if json:
        out.write(_json.dumps(scoring.nan_to_none(summary)) + "\n")
    else:
        print_report(summary, out)
    return summary
