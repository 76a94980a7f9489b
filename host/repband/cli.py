"""The `repband` command: replay, evaluate, simulate, bench, demo.

Bad input (an unreadable or malformed recording, a path with no truth, ...) prints one
line ``repband: path:line: message`` on stderr and exits with status 2, no traceback.
Whatever a command lets through is caught here as the last resort: a file the system
refused (OSError), a database repband cannot use, Ctrl-C (status 130). The statuses:
repband.exits (docs/troubleshooting.md#exit-statuses).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from repband import exits
from repband.db import DatabaseError
from repband.recording import RecordingError
from repband.summary import human_summary
from repband.variations import VARIATIONS


class InputError(Exception):
    """Any other bad input the user can fix (printed as one line, exit 2)."""


# ---------------------------------------------------------------------------- commands


def cmd_replay(args) -> int:
    from repband.recording import read_csv
    from repband.replay import detect

    rec = read_csv(args.file)  # a recording, or a phone app's export (repband.phone)
    res = detect(rec, exercise=args.exercise, leg=args.leg, placement=args.placement, engine=args.engine,
                 gyro=False if args.no_gyro else None)
    res["file"] = os.fspath(args.file)
    if rec.meta.get("read_as"):
        res["read_as"] = rec.meta["read_as"]
    if args.json:
        sys.stdout.write(json.dumps(res) + "\n")
        return 0
    if res.get("read_as"):
        print(f"read {res['read_as']}")
    human_summary(res, os.path.basename(os.path.normpath(args.file)))
    if not res.get("calibration") and rec.meta.get("source") == "phone":
        print("  not calibrated: start a phone recording standing still for 5 s, then walk a few steps "
              "(docs/recording-format.md#phone-recordings)")
    return 0


def cmd_evaluate(args) -> int:
    from repband.evaluate import evaluate
    from repband.sim.scenarios import seeds_from

    try:
        draws = seeds_from(args.vary_seed)
    except ValueError:
        raise InputError(f"--vary-seed {args.vary_seed!r}: give a draw N or draws FIRST-LAST") from None
    if args.vary is None and draws != [0]:
        raise InputError("--vary-seed draws a variation's random changes: name one with --vary")
    evaluate(args.paths, exercise=args.exercise, engine=args.engine, json=args.json,
             jobs=args.jobs, accel_only=args.accel_only, no_exercise=args.no_exercise,
             vary=args.vary, vary_seed=draws[0] if len(draws) == 1 else draws)
    return 0


def _sim_kwargs(args) -> dict:
    return {"out": args.out, "scenario": args.scenario, "seed": args.seed, "leg": args.leg,
            "placement": args.placement, "mount": args.mount, "rate": args.rate,
            "gyro": not args.no_gyro, "clips": args.clips, "after_walk": args.after_walk,
            "slant": args.slant}


def _call_simulate(**kw):
    """Call ``repband.sim.cmd_simulate`` with the keyword arguments it accepts."""
    import inspect

    from repband import sim

    fn = sim.cmd_simulate
    params = inspect.signature(fn).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        if "gyro" in kw and "gyro" not in params and "no_gyro" in params:
            kw["no_gyro"] = not kw.pop("gyro")
        kw = {k: v for k, v in kw.items() if k in params}
    return fn(**kw)


def cmd_simulate(args) -> int:
    try:
        ret = _call_simulate(**_sim_kwargs(args))
    except ValueError as exc:  # unknown scenario, bad seed list, ...
        raise InputError(f"simulate: {exc}") from None
    return ret if isinstance(ret, int) else 0


def cmd_bench(args) -> int:
    if args.port is not None:
        from repband.board_bench import cmd_bench_board

        return cmd_bench_board(args.port, args.json, args.seconds)
    from repband import bench

    ret = bench.run_bench(args.json)
    return ret if isinstance(ret, int) else 0


def cmd_demo(args) -> int:
    """The virtual band runs a simulated routine, the host syncs it over the virtual BLE
    link into a fresh database and prints the session summary (repband.demo);
    --days/--chaos: days of use with faults, checked for lost and duplicated records."""
    from repband import demo

    return demo.cmd_demo(args)


# ---------------------------------------------------------------------------- parser


def whole_number(lo: int, hi: int, unit: str = ""):
    """An argparse type (and setup's answer check): a whole number from lo to hi, else
    ArgumentTypeError naming the range."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            v = None
        if v is None or not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"{text!r}: give a whole number from {lo} to {hi}{unit}")
        return v
    return parse


def _day(text: str):
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: write it as YYYY-MM-DD") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="repband", description=(__doc__ or "repband").splitlines()[0])
    p.add_argument("--version", action="version", version=_version())
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    r = sub.add_parser("replay", help="run the detector on a recording (or a phone app's export)")
    r.add_argument("file", help="a recording (docs/recording-format.md), or a phyphox or Sensor Logger export: "
                                "its CSV, its folder or its .zip")
    r.add_argument("--exercise", choices=["auto", "bridge", "clam", "stretch"], default="auto")
    r.add_argument("--leg", choices=["left", "right"], default=None,
                   help="sensor leg (default: '# leg=' metadata, else right)")
    r.add_argument("--placement", choices=["thigh", "hip"], default=None,
                   help="default: '# placement=' metadata, else thigh")
    r.add_argument("--engine", choices=["cpython", "micropython"], default="cpython")
    r.add_argument("--no-gyro", action="store_true", help="ignore the gyroscope columns")
    r.add_argument("--json", action="store_true", help="print one JSON object")
    r.set_defaults(func=cmd_replay)

    e = sub.add_parser("evaluate", help="score recordings that have truth")
    e.add_argument("paths", nargs="*", metavar="PATH",
                   help="simulated recordings (NAME.json beside them), MEx files (labels.csv beside them)")
    e.add_argument("--no-exercise", nargs="+", action="extend", default=[], metavar="PATH",
                   help="recordings (files or folders) that hold no exercise: every rep counted "
                        "there is a false rep")
    e.add_argument("--exercise", choices=["auto", "bridge", "clam", "stretch"], default="auto",
                   help="detector mode for simulated recordings (MEx files use their label)")
    e.add_argument("--engine", choices=["cpython", "micropython"], default="cpython")
    e.add_argument("--accel-only", action="store_true",
                   help="ignore gyroscope columns (accelerometer-only mode)")
    e.add_argument("--vary", choices=list(VARIATIONS), default=None,
                   help="change every recording first: the strap turned round the thigh or "
                        "askew, a slower, faster or uneven pace (a simulated recording's sets and "
                        "holds only, its truth retimed), slow reps between still moments as "
                        "recorded, smaller or larger movements (MEx files), a noisier sensor, the "
                        "person moving on as the recording ends (does the count hold?)")
    e.add_argument("--vary-seed", default="0", metavar="N|FIRST-LAST",
                   help="draw --vary's random changes (noise, an uneven pace, an askew "
                        "strap's axis, the way the person moves on) afresh: each N another way "
                        "(default: each file's own name seeds them); FIRST-LAST runs every draw "
                        "and reports the totals")
    e.add_argument("--jobs", type=int, default=None, help="worker processes (default 2)")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("simulate", help="write labelled simulated recordings")
    s.add_argument("--out", default=".", help="output directory")
    s.add_argument("--scenario", default="routine",
                   help="routine, bridges, clams, stretch, hard, daily; 'a,b' or 'all'")
    s.add_argument("--seed", default="1", help="N, 'N,M' or 'FIRST-LAST'")
    s.add_argument("--leg", choices=["left", "right"], default="right")
    s.add_argument("--placement", choices=["thigh", "hip"], default="thigh")
    s.add_argument("--mount", choices=["nominal", "loose", "arbitrary", "pocket"], default="nominal",
                   help="the strap's mount; pocket (with --clips): a phone in a trouser pocket, "
                        "each clip written in its eight ways")
    s.add_argument("--rate", type=float, default=104.0, help="sample rate, Hz (default 104)")
    s.add_argument("--no-gyro", action="store_true", help="accelerometer-only recording")
    s.add_argument("--clips", default=None, metavar="NAMES",
                   help="daily-living clips instead of a scenario, as phone datasets cut them "
                        "(no reps in them): walking, jogging, stairs-up, stairs-down, "
                        "slow-stairs-up, hopping, into-a-car, out-of-a-car, sitting-down, "
                        "lying-down, getting-up, one-step-at-a-time; 'a,b' or 'all'")
    s.add_argument("--after-walk", action="store_true",
                   help="with --clips: each clip follows a 20 s walk (a band that has calibrated)")
    s.add_argument("--slant", type=float, default=0, metavar="DEG",
                   help="with --clips and --mount pocket: the phone turned DEG degrees in the "
                        "pocket's plane (its long side no longer along the thigh)")
    s.set_defaults(func=cmd_simulate)

    b = sub.add_parser("bench", help="cost of the core in MicroPython and CPython")
    b.add_argument("--json", action="store_true")
    b.add_argument("--port", default=None,
                   help="measure the app on the board at this serial port instead (its "
                   "installed firmware, its CPU: microseconds per sample, heap after boot)")
    b.add_argument("--seconds", type=float, default=60.0,
                   help="with --port: seconds of the simulated routine to run (default 60)")
    b.set_defaults(func=cmd_bench)

    d = sub.add_parser("demo", help="the virtual band: a simulated session (or --days N of use), synced and "
                                    "summarised")
    d.add_argument("--seed", type=int, default=1, help="the simulated person and their days")
    d.add_argument("--leg", choices=["left", "right"], default="right", help="the band's leg at the start")
    d.add_argument("--rate", type=float, default=104.0, help="the simulated sensor's rate (one session)")
    d.add_argument("--days", type=whole_number(1, 3660), default=None, metavar="N",
                   help="N days of use ending today: rest days, both sides, progress over the weeks")
    d.add_argument("--end", type=_day, default=None, metavar="YYYY-MM-DD", help="the last day of --days (default today)")
    d.add_argument("--chaos", type=int, default=None, metavar="SEED",
                   help="inject link, band and host faults, seeded (with --days: on every day)")
    d.add_argument("--db", default=None, metavar="PATH",
                   help="a new database file for the demo (default: demo.db in your user data folder, replaced "
                        "by the next demo; never your own database)")
    d.add_argument("--json", action="store_true", help="print one JSON object")
    d.set_defaults(func=cmd_demo)

    from repband import flash  # the `flash` subcommand: parser and command live there

    flash.add_parser(sub)
    from repband import crashlog  # `crash-log`: the band's last crash, over USB

    crashlog.add_parser(sub)

    from repband import db as _db  # `db`: where the session database is, what it holds

    _db.add_parser(sub)
    from repband import store_stress  # `stress`: power cuts and flipped bits on the band's log
    store_stress.add_parser(sub)
    from repband import commands_ble  # scan, pair, live, sync, record, config, time
    commands_ble.add_parser(sub)
    from repband.virtual import bluez as _bluez  # virtual-device --bluez: a BlueZ D-Bus for bleak
    _bluez.add_parser(sub)
    from repband import commands_history as _hist  # sessions, show, stats, report, export, setup; bare `repband`
    _hist.add_parser(sub)
    _hist.bare_command(p, sub)
    return p


def _version() -> str:
    import platform

    from repband import __version__
    from repcore.protocol import VERSION_STRING

    return (f"repband {__version__} (band protocol {VERSION_STRING}, "
            f"Python {platform.python_version()})")


def _one_line(exc: BaseException) -> str:
    """An OSError as the system put it: the path first, then what went wrong."""
    if isinstance(exc, OSError) and exc.strerror:
        where = exc.filename if exc.filename is not None else ""
        return f"{where}: {exc.strerror}" if where else exc.strerror
    return str(exc) or type(exc).__name__


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)  # inside: a Ctrl-C while the commands load is one line too
        status = args.func(args)
        sys.stdout.flush()  # a reader gone early shows here, not at exit as "Exception ignored"
        return status
    except KeyboardInterrupt:
        print("repband: interrupted (Ctrl-C); what was stored so far is kept", file=sys.stderr)
        return exits.INTERRUPTED
    except BrokenPipeError:  # `repband sessions | head -1`: the reader stopped reading; so do we
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit's flush goes nowhere
        return exits.OK
    except (RecordingError, InputError, DatabaseError) as exc:
        print(f"repband: {exc}", file=sys.stderr)
        return exits.FIX
    except OSError as exc:  # a path the system refused (a missing folder, /proc, no permission)
        print(f"repband: {_one_line(exc)}; check the path and its permissions", file=sys.stderr)
        return exits.FIX


if __name__ == "__main__":
    sys.exit(main())
