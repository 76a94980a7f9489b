"""`repband evaluate`: run the detector on recordings that have truth and score them.

Recognised inputs (files or directories, directories are scanned for ``*.csv``):
* simulated recordings: ``NAME.csv`` with ``NAME.json`` (truth) beside it, scored by
  `scoring.score_sim`; grouped by scenario kind, mount tier, sensor (gyro or
  accelerometer-only) and placement;
* MEx recordings: files in a directory that holds ``labels.csv``. Bridging (02) and clam
  (04) files run in manual mode (bridge / clam) and are scored against their label;
  the other exercises (01, 03, 05, 06, 07) run in auto mode and every count there is
  a false rep. Grouped by exercise.
"""
from __future__ import annotations

import contextlib
import json as _json
import os
import sys
from concurrent.futures import ProcessPoolExecutor

from repband import scoring
from repband.recording import RecordingError, read_csv
from repband.replay import detect

SIM_GROUPS = (("scenario", "scenario"), ("mount", "mount"), ("sensor", "sensor"),
              ("placement", "placement"))


def _is_mex_dir(d: str) -> bool:
    return os.path.isfile(os.path.join(d, "labels.csv"))


def collect_tasks(paths, exercise="auto", accel_only=False) -> list[dict]:
    """Turn paths into tasks; raises RecordingError for a path with no truth."""
    files: list[tuple[str, bool]] = []  # (path, explicitly named)
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            for name in sorted(os.listdir(p)):
                if name.endswith(".csv") and name != "labels.csv":
                    files.append((os.path.join(p, name), False))
        elif os.path.exists(p):
            files.append((p, True))
        else:
            raise RecordingError(p, None, "no such file or directory")
    tasks = []
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
            mode = {"02": "bridge", "04": "clam"}.get(code or "", "auto")
            tasks.append({"type": "mex", "path": path, "labels": labels_cache[d], "mode": mode,
                          "accel_only": accel_only})
        elif explicit:
            raise RecordingError(path, None, "no truth to score against (no NAME.json beside "
                                             "it and no labels.csv in its directory)")
    return tasks


def run_task(task: dict, engine: str = "cpython") -> dict:
    rec = read_csv(task["path"])
    gyro = False if task.get("accel_only") else None
    name = os.path.basename(task["path"])
    dur = float(rec.t[-1] - rec.t[0]) if len(rec.t) else 0.0
    if task["type"] == "sim":
        try:
            with open(task["truth"], encoding="utf-8") as f:
                truth = _json.load(f)
        except (OSError, ValueError) as exc:
            raise RecordingError(task["truth"], None, f"cannot read truth: {exc}") from None
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
        return res
    out = detect(rec, exercise=task["mode"], engine=engine, gyro=gyro)
    res = scoring.score_mex(task["path"], out["counts"]["total"], dur, task["labels"])
    res.update({"path": task["path"], "mode": task["mode"],
                "exercise": scoring.MEX_EXERCISE.get(res["code"] or "", "?"),
                "sensor": "gyro" if out["gyro"] else "accel"})
    return res


def _run_one(args):
    task, engine = args
    return run_task(task, engine)


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
            pool = stack.enter_context(ProcessPoolExecutor(max_workers=jobs))
            done = pool.map(_run_one, [(t, engine) for t in tasks])
        for r in done:
            results.append(r)
            bar.update(1)
    return results


def summarize(results: list[dict]) -> dict:
    sims = [r for r in results if r["kind"] == "sim"]
    mexs = [r for r in results if r["kind"] == "mex"]
    groups: dict[str, dict] = {}
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
            f"{a['side_correct']}/{a['side_total']}"]


_SIM_HEAD = ["group", "files", "tp", "fp", "fn", "prec", "recall", "F1", "sets=", "idleFP/h",
             "lat med", "lat max", "holds", "hold err", "clam side"]


def _table(rows: list[list[str]], out) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for k, r in enumerate(rows):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                        enumerate(zip(r, widths))), file=out)
        if k == 0:
            print("  ".join("-" * w for w in widths), file=out)


def print_report(summary: dict, out=None) -> None:
    out = out or sys.stdout
    results = summary["files"]
    sims = [r for r in results if r["kind"] == "sim"]
    mexs = [r for r in results if r["kind"] == "mex"]
    if sims:
        print("Simulated recordings (scored as in the data README)", file=out)
        rows = [_SIM_HEAD] + [_sim_row(r["file"], dict(r, files=1)) for r in sims]
        _table(rows, out)
        print(file=out)
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
        rows = [["group", "files", "in range", "zero ok", "false reps", "hours", "false/h"]]
        items = list(summary["groups"].get("mex_exercise", {}).items())
        items.append(("ALL MEx", summary["overall"]))
        for v, a in items:
            m = a["mex"]
            rows.append([str(v), str(m["files"]), f"{m['rep_files_in_range']}/{m['rep_files']}",
                         f"{m['zero_files_ok']}/{m['zero_files']}", str(m["no_rep_false_reps"]),
                         f"{m['no_rep_hours']:.3f}", _f(m["no_rep_false_per_h"], "{:.1f}")])
        _table(rows, out)
    if not results:
        print("no recordings with truth found", file=out)


def evaluate(paths, exercise: str = "auto", engine: str = "cpython", json: bool = False,
             jobs: int | None = None, accel_only: bool = False, out=None) -> dict:
    """Score every recording under `paths`; print a table (or one JSON object)."""
    out = out or sys.stdout
    tasks = collect_tasks(paths, exercise=exercise, accel_only=accel_only)
    if not tasks:
        raise RecordingError(", ".join(os.fspath(p) for p in paths), None,
                             "no recordings with truth (NAME.json or labels.csv) found")
    results = run_tasks(tasks, engine=engine, jobs=jobs, quiet=json)
    summary = summarize(results)
    if json:
        out.write(_json.dumps(scoring.nan_to_none(summary)) + "\n")
    else:
        print_report(summary, out)
    return summary
