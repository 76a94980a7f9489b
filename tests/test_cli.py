"""`repband replay` / `evaluate` on small recordings the tests make themselves."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from repband import cli
from repband.recording import Recording, read_csv, write_csv
from repband.replay import detect

FS = 104.0
N_BRIDGES = 7
REP_T0 = 25.0  # file time of the first rep's start (file time base starts at 5 s)
REP_EVERY = 7.0


def _bridge_recording(path, gyro=True, leg="left"):
    """Stand 10 s, lie down, then 7 clean bridges: the thigh pitches 45 -> 20 deg above
    horizontal (1.2 s up, 2.5 s at the top, 1.2 s down), one every 7 s."""
    rng = np.random.default_rng(3)
    t = np.arange(0, 75, 1 / FS)
    th = np.full_like(t, 45.0)
    th[t < 10] = -90.0  # standing: +x down the thigh
    m = (t >= 10) & (t < 13)
    th[m] = -90 + 135 * (0.5 - 0.5 * np.cos(np.pi * (t[m] - 10) / 3))
    for k in range(N_BRIDGES):
        t0 = REP_T0 - 5.0 + REP_EVERY * k
        up = (t >= t0) & (t < t0 + 1.2)
        th[up] = 45 - 25 * (0.5 - 0.5 * np.cos(np.pi * (t[up] - t0) / 1.2))
        th[(t >= t0 + 1.2) & (t < t0 + 3.7)] = 20.0
        dn = (t >= t0 + 3.7) & (t < t0 + 4.9)
        th[dn] = 20 + 25 * (0.5 - 0.5 * np.cos(np.pi * (t[dn] - t0 - 3.7) / 1.2))
    r = np.radians(th)
    sign = -1.0 if leg == "left" else 1.0  # +z points away from the leg: mirrored on the left
    acc = np.stack([np.sin(r), sign * np.cos(r), np.zeros_like(r)], 1)
    acc += rng.normal(0, 0.005, acc.shape)
    g = np.zeros((len(t), 3))
    g[:, 2] = sign * np.gradient(th, 1 / FS)
    g += rng.normal(0, 0.3, g.shape)
    write_csv(path, Recording(t=t + 5.0, acc=acc, gyro=g if gyro else None,
                              meta={"placement": "thigh", "leg": leg, "rate_hz": "104"}))


def _truth():
    reps = [{"exercise": "bridge", "side": None, "t_start": REP_T0 + REP_EVERY * k,
             "t_top": REP_T0 + REP_EVERY * k + 1.2, "t_end": REP_T0 + REP_EVERY * k + 4.9,
             "kind": "full", "rom_deg": 25.0} for k in range(N_BRIDGES)]
    return {"seed": 0, "kind": "bridges", "leg": "left", "placement": "thigh",
            "mount_tier": "nominal", "fs": FS, "duration_s": 75.0, "reps": reps,
            "sets": [{"exercise": "bridge", "side": None, "t_start": reps[0]["t_start"],
                      "t_end": reps[-1]["t_end"], "count": N_BRIDGES, "n_partial": 0}],
            "holds": [], "distractors": []}


@pytest.fixture(scope="module")
def rec_path(tmp_path_factory):
    p = tmp_path_factory.mktemp("rec") / "bridges.csv"
    _bridge_recording(p)
    return p


def _replay_json(capsys, *argv):
    rc = cli.main(["replay", *map(str, argv), "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    lines = out.splitlines()
    assert len(lines) == 1  # exactly one JSON object
    return json.loads(lines[0])


def test_replay_json_contract(capsys, rec_path):
    res = _replay_json(capsys, rec_path, "--exercise", "bridge")
    for key in ("reps", "holds", "sets", "calibration", "faults", "counts"):
        assert key in res
    assert isinstance(res["reps"], list) and isinstance(res["holds"], list)
    for r in res["reps"]:
        assert {"t", "exercise", "side", "partial", "rom_deg", "up_s", "top_s", "down_s"} <= set(r)
        assert r["exercise"] in ("bridge", "clam")
        assert r["side"] in ("left", "right", None)
        assert isinstance(r["partial"], bool)
        assert isinstance(r["t"], float)
    for h in res["holds"]:
        assert {"t_start", "t_end", "duration_s", "exercise", "side"} <= set(h)
        assert h["exercise"] == "hip_flexor_stretch"
    full = [r for r in res["reps"] if not r["partial"]]
    assert res["counts"]["total"] == len(full)
    # seven clean bridges in manual mode, in the file's time base (it starts at 5 s)
    assert len(full) == N_BRIDGES
    for k, r in enumerate(full):
        t_start = REP_T0 + REP_EVERY * k
        assert t_start + 0.3 * 1.2 <= r["t"] <= t_start + 4.9 + 1.0
    assert res["leg"] == "left" and res["placement"] == "thigh"  # from the metadata


def test_replay_options_override_metadata(capsys, rec_path):
    res = _replay_json(capsys, rec_path, "--leg", "right", "--placement", "hip")
    assert (res["leg"], res["placement"]) == ("right", "hip")


def test_replay_human_summary(capsys, rec_path):
    assert cli.main(["replay", str(rec_path), "--exercise", "bridge"]) == 0
    out = capsys.readouterr().out
    assert "reps counted: 7" in out
    assert not out.lstrip().startswith("{")


def test_replay_accelerometer_only(capsys, tmp_path):
    p = tmp_path / "acc.csv"
    _bridge_recording(p, gyro=False)
    res = _replay_json(capsys, p, "--exercise", "bridge")
    assert res["gyro"] is False
    assert res["counts"]["total"] == N_BRIDGES


def test_detect_defaults_without_metadata(tmp_path):
    p = tmp_path / "plain.csv"
    _bridge_recording(p)
    rec = read_csv(p)
    rec.meta = {}
    res = detect(rec, exercise="bridge")
    assert (res["leg"], res["placement"]) == ("right", "thigh")


def test_evaluate_sim_and_mex_layouts(capsys, tmp_path, rec_path):
    sim = tmp_path / "sim"
    sim.mkdir()
    shutil.copy(rec_path, sim / "bridges_a.csv")
    (sim / "bridges_a.json").write_text(json.dumps(_truth()))
    (sim / "no_truth.csv").write_text("t,ax,ay,az\n0,1,0,0\n")  # skipped in a directory
    mex = tmp_path / "mex"
    mex.mkdir()
    _bridge_recording(mex / "S01_02_act_1.csv", gyro=False)
    rec = read_csv(mex / "S01_02_act_1.csv")
    still = Recording(t=rec.t, acc=np.tile([0.0, 0.0, 1.0], (len(rec.t), 1)), meta={})
    write_csv(mex / "S01_03_act_1.csv", still)
    (mex / "labels.csv").write_text("# test labels\nsubject,file,kind,lo,hi\n"
                                    "01,02_act_1,bridge,6,7\n")
    rc = cli.main(["evaluate", str(sim), str(mex), "--exercise", "bridge", "--json",
                   "--jobs", "1"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    lines = out.splitlines()
    assert len(lines) == 1
    res = json.loads(lines[0])
    s = res["overall"]["sim"]
    assert (s["tp"], s["fp"], s["fn"], s["sets_exact"]) == (N_BRIDGES, 0, 0, 1)
    m = res["overall"]["mex"]
    assert (m["rep_files"], m["rep_files_in_range"], m["no_rep_files"]) == (1, 1, 1)
    assert m["no_rep_false_reps"] == 0
    assert set(res["groups"]) >= {"scenario", "mount", "sensor", "placement", "mex_exercise"}
    # the readable table
    assert cli.main(["evaluate", str(sim), "--jobs", "1", "--exercise", "bridge"]) == 0
    out = capsys.readouterr().out
    assert "ALL sim" in out and "scenario=bridges" in out


def test_evaluate_varies_every_recording(capsys, tmp_path, rec_path):
    mex = tmp_path / "mex"
    mex.mkdir()
    _bridge_recording(mex / "S01_02_act_1.csv", gyro=False)
    (mex / "labels.csv").write_text("subject,file,kind,lo,hi\n01,02_act_1,bridge,6,7\n")
    runs = {}
    for vary in ("turn-half", "slower", "uneven-pace", "noisier", "smaller", "rate-25", "moves-on", "slow-reps"):
        assert cli.main(["evaluate", str(mex), "--jobs", "1", "--json", "--vary", vary]) == 0
        res = json.loads(capsys.readouterr().out)
        runs[vary] = res["files"][0]
        assert res["vary"] == vary
        # each varied count beside the same file's as recorded
        assert res["overall"]["mex"]["counts_compared"] == 1
    assert all(r["count"] == r["count_as_recorded"] == N_BRIDGES for r in runs.values()), runs
    assert cli.main(["evaluate", str(mex), "--jobs", "1", "--vary", "moves-on"]) == 0
    assert "count unlike as recorded" in (out := capsys.readouterr().out) and "0 lower, 0 higher, of 1" in out
    assert cli.main(["evaluate", str(mex), "--jobs", "1"]) == 0
    assert "unlike as recorded" not in capsys.readouterr().out  # nothing varied, nothing to compare
    assert cli.main(["evaluate", str(mex), "--jobs", "1", "--vary", "much-slower"]) == 0
    assert "1.6 times slower" in capsys.readouterr().out
    # the random changes drawn afresh, and the draw named
    assert cli.main(["evaluate", str(mex), "--jobs", "1", "--vary", "uneven-pace", "--vary-seed", "2"]) == 0
    assert "pace wandering" in (out := capsys.readouterr().out) and "(draw 2)" in out
    # a simulated person exercises slower: the truth's times follow the new clock
    sim = tmp_path / "sim"
    sim.mkdir()
    shutil.copy(rec_path, sim / "bridges_a.csv")
    (sim / "bridges_a.json").write_text(json.dumps(_truth()))
    for vary in ("slowest", "uneven-pace", "slow-reps"):
        assert cli.main(["evaluate", str(sim), "--jobs", "1", "--json", "--vary", vary]) == 0
        res = json.loads(capsys.readouterr().out)["files"][0]
        assert (res["tp"], res["fp"], res["fn"]) == (N_BRIDGES, 0, 0), (vary, res)
    # movements scaled about one resting posture: a day of many postures is refused
    assert cli.main(["evaluate", str(sim), "--vary", "larger"]) == 2
    assert "one resting posture" in capsys.readouterr().err


def test_evaluate_runs_several_draws_of_a_variation_and_totals_them(capsys, tmp_path, rec_path):
    """`--vary-seed FIRST-LAST` runs every draw: each file once per draw, scored as that
    draw alone scores it, the groups totalled over all; the table lists only the files
    that miss, each with its draw. A draw without a variation, or a draw that is no
    number, is bad input."""
    sim = tmp_path / "sim"
    sim.mkdir()
    truth = _truth()
    for name in ("bridges_a", "bridges_b"):
        shutil.copy(rec_path, sim / f"{name}.csv")
        (sim / f"{name}.json").write_text(json.dumps(truth))
        # b's truth holds one more bridge, after the last one done: a miss in every draw
        phantom = dict(truth["reps"][-1], t_start=REP_T0 + REP_EVERY * N_BRIDGES,
                       t_top=REP_T0 + REP_EVERY * N_BRIDGES + 1.2, t_end=REP_T0 + REP_EVERY * N_BRIDGES + 4.9)
        truth = dict(truth, reps=truth["reps"] + [phantom],
                     sets=[dict(truth["sets"][0], t_end=phantom["t_end"], count=N_BRIDGES + 1)])

    def scores(res):
        return {(f["file"], f["draw"]): (f["tp"], f["fp"], f["fn"]) for f in res["files"]}

    alone = {}
    for draw in (1, 2, 3):
        assert cli.main(["evaluate", str(sim), "--jobs", "1", "--json", "--vary", "uneven-pace",
                         "--vary-seed", str(draw)]) == 0
        alone.update(scores(json.loads(capsys.readouterr().out)))
    assert cli.main(["evaluate", str(sim), "--jobs", "1", "--json", "--vary", "uneven-pace",
                     "--vary-seed", "1-3"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert scores(res) == alone and len(alone) == 6
    overall = res["overall"]["sim"]
    assert (overall["files"], overall["tp"], overall["fp"], overall["fn"]) == (
        6, *(sum(a[i] for a in alone.values()) for i in range(3)))
    assert cli.main(["evaluate", str(sim), "--jobs", "1", "--vary", "uneven-pace", "--vary-seed", "1-3"]) == 0
    out = capsys.readouterr().out
    assert "(3 draws: 1, 2, 3; totals over every draw)" in out
    missed = {k for k, (tp, fp, fn) in alone.items() if fp or fn}
    assert {("bridges_b.csv", d) for d in (1, 2, 3)} <= missed
    assert f"the {len(missed)} of 6 (file #draw) with a miss" in out
    assert all((f"{f} #{d} " in out) == ((f, d) in missed) for f, d in alone)
    assert cli.main(["evaluate", str(sim), "--vary-seed", "2"]) == 2
    assert "name one with --vary" in capsys.readouterr().err
    assert cli.main(["evaluate", str(sim), "--vary", "uneven-pace", "--vary-seed", "2-x"]) == 2
    assert "give a draw N or draws FIRST-LAST" in capsys.readouterr().err


def test_simulated_clips_of_daily_living_are_scored_as_false_reps(capsys, tmp_path):
    """`simulate --clips` writes one activity per file with a truth of no reps; in a
    pocket, each clip in the eight ways a phone sits there. `evaluate` scores them."""
    out = tmp_path / "clips"
    assert cli.main(["simulate", "--out", str(out), "--clips", "stairs-up,out-of-a-car",
                     "--seed", "3", "--mount", "pocket"]) == 0
    capsys.readouterr()
    files = sorted(p.name for p in out.glob("*.csv"))
    assert len(files) == 16 and files[0] == "clip_out-of-a-car_pocket0_3.csv"
    truth = json.loads((out / "clip_stairs-up_pocket7_3.json").read_text())
    assert truth["kind"] == "clip stairs up" and truth["mount_tier"] == "pocket 7"
    assert truth["reps"] == [] and truth["duration_s"] < 20
    assert cli.main(["evaluate", str(out), "--json", "--jobs", "1"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["overall"]["sim"]["files"] == 16 and res["overall"]["sim"]["fp"] == 0
    assert set(res["groups"]["scenario"]) == {"clip stairs up", "clip out of a car"}
    # after a walk the clip keeps the walk, and the band calibrates on it
    assert cli.main(["simulate", "--out", str(tmp_path / "walked"), "--clips", "stairs-up",
                     "--seed", "3", "--after-walk"]) == 0
    capsys.readouterr()
    walked = json.loads((tmp_path / "walked" / "clip_stairs-up_nominal_3_after-walk.json").read_text())
    assert walked["duration_s"] > truth["duration_s"] + 20
    assert cli.main(["evaluate", str(tmp_path / "walked"), "--json", "--jobs", "1"]) == 0
    s = json.loads(capsys.readouterr().out)["overall"]["sim"]
    assert s["fp"] == 0 and s["calibrated"] == 1
    # the phone turned in its pocket: the same clip, its axes turned about the screen's
    assert cli.main(["simulate", "--out", str(tmp_path / "slant"), "--clips", "stairs-up",
                     "--seed", "3", "--mount", "pocket", "--slant", "45"]) == 0
    capsys.readouterr()
    slanted = read_csv(tmp_path / "slant" / "clip_stairs-up_pocket2-slant45_3.csv")
    flat = read_csv(out / "clip_stairs-up_pocket2_3.csv")
    assert json.loads((tmp_path / "slant" / "clip_stairs-up_pocket2-slant45_3.json").read_text())[
        "mount_tier"] == "pocket 2 slant 45"
    a, b = flat.acc[:, :2], slanted.acc[:, :2]
    turn = np.degrees(np.arctan2(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0], (a * b).sum(axis=1)))
    assert np.allclose(np.abs(turn), 45.0, atol=1.0) and np.allclose(flat.acc[:, 2], slanted.acc[:, 2], atol=2e-3)
    assert cli.main(["evaluate", str(tmp_path / "slant"), "--json", "--jobs", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["overall"]["sim"]["fp"] == 0
    # a name it does not know, a pocket with no clips and a strap slanted are refused
    assert cli.main(["simulate", "--out", str(out), "--clips", "swimming"]) == 2
    assert "one-step-at-a-time" in capsys.readouterr().err
    assert cli.main(["simulate", "--out", str(tmp_path / "no"), "--mount", "pocket"]) == 2
    assert "--clips" in capsys.readouterr().err and not (tmp_path / "no").exists()
    assert cli.main(["simulate", "--out", str(tmp_path / "no"), "--clips", "walking", "--slant", "30"]) == 2
    assert "pocket" in capsys.readouterr().err and not (tmp_path / "no").exists()


@pytest.mark.parametrize("whole_group", [False, True], ids=["kill -INT", "Ctrl-C"])
def test_evaluate_interrupted_stops_at_once(tmp_path, whole_group):
    """Ctrl-C at a terminal signals evaluate and its workers; `kill -INT` evaluate alone.
    Either way it stops at once, with one line and no worker's traceback."""
    mex = tmp_path / "mex"
    mex.mkdir()
    _bridge_recording(mex / "S01_02_act_1.csv", gyro=False)
    labels = ["subject,file,kind,lo,hi"]
    for i in range(1, 100):
        for act in (1, 2, 3, 4):
            if (i, act) != (1, 1):
                shutil.copy(mex / "S01_02_act_1.csv", mex / f"S{i:02d}_02_act_{act}.csv")
            labels.append(f"{i:02d},02_act_{act},bridge,6,7")
    (mex / "labels.csv").write_text("\n".join(labels) + "\n")
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root / "host"), str(root / "firmware")]))
    # Ctrl-C as a terminal delivers it: a test run in the background (a shell's `&`)
    # ignores SIGINT, and a Python started so never turns it into KeyboardInterrupt.
    proc = subprocess.Popen([sys.executable, "-m", "repband.cli", "evaluate", str(mex)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        time.sleep(3.0)  # started: 396 files are a minute's work
        assert proc.poll() is None
        if whole_group:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert err.count("\n") == 1 and "Traceback" not in err, err


def test_evaluate_file_without_truth_is_bad_input(capsys, tmp_path, rec_path):
    p = tmp_path / "lonely.csv"
    shutil.copy(rec_path, p)
    assert cli.main(["evaluate", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"repband: {p}: ") and err.count("\n") == 1


def test_replay_micropython_engine_matches_cpython(capsys, rec_path):
    py = _replay_json(capsys, rec_path, "--exercise", "bridge")
    mp = _replay_json(capsys, rec_path, "--exercise", "bridge", "--engine", "micropython")
    assert mp["engine"] == "micropython"
    assert mp["counts"] == py["counts"]
    assert [r["t"] for r in mp["reps"]] == pytest.approx([r["t"] for r in py["reps"]], abs=0.011)


def test_demo_prints_a_session_summary(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))  # the demo's own database goes there
    assert cli.main(["demo", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "reps counted:" in out and "set 1:" in out and "against the simulator's truth" in out
    db = tmp_path / "repband" / "demo.db"
    assert db.is_file() and f"repband sessions --db {db}" in out  # kept, with what to run next
    assert not (tmp_path / "repband" / "repband.db").exists()  # the person's own: untouched


@pytest.mark.parametrize("offset", [-1000.0, 1.764e9])
def test_replay_keeps_any_file_time_base(capsys, rec_path, tmp_path, offset):
    """Negative or Unix-time clocks: same counts, times shifted by the same offset, and
    the MicroPython engine (small ints on the board) copes too."""
    rec = read_csv(rec_path)
    shifted = tmp_path / "shifted.csv"
    write_csv(shifted, Recording(t=rec.t + offset, acc=rec.acc, gyro=rec.gyro, meta=rec.meta))
    base = _replay_json(capsys, rec_path, "--exercise", "bridge")
    for engine in ("cpython", "micropython"):
        out = _replay_json(capsys, shifted, "--exercise", "bridge", "--engine", engine)
        assert out["counts"] == base["counts"]
        assert [r["t"] - offset for r in out["reps"]] == pytest.approx(
            [r["t"] for r in base["reps"]], abs=0.011)
