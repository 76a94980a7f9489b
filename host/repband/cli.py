"""The `repband` command: replay, evaluate, simulate, bench, demo.

Bad input (an unreadable or malformed recording, a path with no truth, ...) prints one
line ``repband: path:line: message`` on stderr and exits with status 2, no traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from repband.recording import RecordingError
from repband.summary import human_summary

EXIT_BAD_INPUT = 2


class InputError(Exception):
    """Any other bad input the user can fix (printed as one line, exit 2)."""


# ---------------------------------------------------------------------------- commands


def cmd_replay(args) -> int:
    from repband.replay import detect_file

    res = detect_file(args.file, exercise=args.exercise, leg=args.leg, placement=args.placement,
                      engine=args.engine, gyro=False if args.no_gyro else None)
    if args.json:
        sys.stdout.write(json.dumps(res) + "\n")
    else:
        human_summary(res, os.path.basename(args.file))
    return 0


def cmd_evaluate(args) -> int:
    from repband.evaluate import evaluate

    evaluate(args.paths, exercise=args.exercise, engine=args.engine, json=args.json,
             jobs=args.jobs, accel_only=args.accel_only)
    return 0


def _sim_kwargs(args) -> dict:
    return {"out": args.out, "scenario": args.scenario, "seed": args.seed, "leg": args.leg,
            "placement": args.placement, "mount": args.mount, "rate": args.rate,
            "gyro": not args.no_gyro}


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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="repband", description=(__doc__ or "repband").splitlines()[0])
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    r = sub.add_parser("replay", help="run the detector on a recording")
    r.add_argument("file")
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
    e.add_argument("paths", nargs="+", metavar="PATH")
    e.add_argument("--exercise", choices=["auto", "bridge", "clam", "stretch"], default="auto",
                   help="detector mode for simulated recordings (MEx files use their label)")
    e.add_argument("--engine", choices=["cpython", "micropython"], default="cpython")
    e.add_argument("--accel-only", action="store_true",
                   help="ignore gyroscope columns (accelerometer-only mode)")
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
    s.add_argument("--mount", choices=["nominal", "loose", "arbitrary"], default="nominal")
    s.add_argument("--rate", type=float, default=104.0, help="sample rate, Hz (default 104)")
    s.add_argument("--no-gyro", action="store_true", help="accelerometer-only recording")
    s.set_defaults(func=cmd_simulate)

    b = sub.add_parser("bench", help="cost of the core in MicroPython and CPython")
    b.add_argument("--json", action="store_true")
    b.add_argument("--port", default=None,
                   help="measure the app on the board at this serial port instead (its "
                   "installed firmware, its CPU: microseconds per sample, heap after boot)")
    b.add_argument("--seconds", type=float, default=60.0,
                   help="with --port: seconds of the simulated routine to run (default 60)")
    b.set_defaults(func=cmd_bench)

    d = sub.add_parser("demo", help="the virtual band: a simulated session, synced and summarised")
    d.add_argument("--seed", type=int, default=1)
    d.add_argument("--leg", choices=["left", "right"], default="right")
    d.add_argument("--rate", type=float, default=104.0)
    d.add_argument("--days", type=int, default=None, help="simulated days of use (with --chaos: faults)")
    d.add_argument("--chaos", type=int, default=None, metavar="SEED",
                   help="inject link and device faults, seeded; print the record accounting")
    d.add_argument("--db", default=None, help="database file (default: a temporary one)")
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


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (RecordingError, InputError) as exc:
        print(f"repband: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
