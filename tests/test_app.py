"""The firmware app (firmware/app) running whole under CPython on the virtual hardware
(repband.virtual): emulated IMU fed by the motion simulator, virtual clock, flash in a
temporary directory."""
import collections
import json
import pathlib
import sys
import time

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
for p in (ROOT / "firmware", ROOT / "host"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from app import app as fw_app  # noqa: E402
from app import config as fw_config  # noqa: E402
from app import power as fw_power  # noqa: E402
from app import sampling as fw_sampling  # noqa: E402
from repband.recording import Recording, to_samples  # noqa: E402
from repband.replay import run_events  # noqa: E402
from repband.sim import simulate  # noqa: E402
from repband.virtual import VirtualDevice, run_virtual  # noqa: E402
from repcore import events as ev  # noqa: E402
from repcore import records  # noqa: E402
from repcore.detector import Detector  # noqa: E402


def tapping_detector():
    """A Detector that also keeps every sample the app pushes into it."""
    seen = []

    class Tap(Detector):
        def push(self, t, ax, ay, az, gx, gy, gz):
            seen.append((t, ax, ay, az, gx, gy, gz))
            Detector.push(self, t, ax, ay, az, gx, gy, gz)

    return Tap, seen


def core_events(dev):
    return [e for e in dev.events if isinstance(e[0], int) and e[0] != ev.EV_FAULT]


def faults(dev):
    return [r["fault"] for r in dev.records() if r["kind"] == records.K_FAULT]


def still_then_moving(still_s=40.0, move_s=20.0, rate=104.0):
    """Lying still (z up), then the thigh swinging briskly: wakes any motion detector."""
    n0, n1 = int(still_s * rate), int(move_s * rate)
    t = np.arange(n0 + n1) / rate
    th = np.zeros(n0 + n1)
    th[n0:] = np.radians(40.0) * np.sin(2 * np.pi * 1.5 * (t[n0:] - t[n0]))
    acc = np.stack([-np.sin(th), np.zeros_like(th), np.cos(th)], 1)
    gyro = np.zeros_like(acc)
    gyro[:, 1] = np.degrees(np.gradient(th, 1 / rate))
    return Recording(t=t, acc=acc, gyro=gyro, meta={"rate_hz": f"{rate:g}"})


@pytest.fixture(scope="module")
def routine():
    rec, truth = simulate("routine", seed=1)
    return rec, truth


@pytest.fixture(scope="module")
def routine_run(routine):
    rec, _ = routine
    factory, seen = tapping_detector()
    dev = run_virtual(rec, detector=factory)
    yield dev, np.array(seen, dtype=np.int64)
    dev.close()


# -- the routine, end to end ------------------------------------------------------------


def test_simulated_time_is_never_waited_for():
    """The virtual loop moves its clock to the next timer instead of waiting: its real
    selector is only ever polled (timeout 0), so simulated minutes cost no wall time.
    (How fast that is, is a figure of `repband bench`: virtual_speedup.)"""
    rec, _ = simulate("bridges", seed=1)
    dev = VirtualDevice(rec)
    real = dev.loop._selector._real
    timeouts = []
    poll = real.select

    def select(timeout=None):
        timeouts.append(timeout)
        return poll(timeout)

    real.select = select
    try:
        dev.run(until_s=120)
    finally:
        dev.close()
    assert dev.now_s >= 120
    assert timeouts and set(timeouts) == {0}


def test_samples_are_the_recording(routine, routine_run):
    """What the app read through the emulated chip, FIFO and driver is the recording,
    quantised: same rows in the same order, 104 Hz spacing."""
    rec, _ = routine
    dev, seen = routine_run
    ref = to_samples(rec)
    n = len(ref)
    assert len(seen) >= n
    assert np.abs(seen[:n, 1:4] - ref[:, 1:4]).max() <= 1  # mg
    assert np.abs(seen[:n, 4:7] - ref[:, 4:7]).max() <= 1  # 0.1 dps
    dt = np.diff(seen[:, 0])
    assert set(np.unique(dt)) <= {9, 10}
    assert dev.app.overflows == 0


def test_app_events_match_the_detector_alone(routine_run):
    dev, seen = routine_run
    alone = run_events(seen, ev.SIDE_RIGHT, ev.PLACEMENT_THIGH, ev.MODE_AUTO, True)
    alone = [e for e in alone if e[0] != ev.EV_FAULT]
    assert core_events(dev) == alone
    kinds = collections.Counter(e[0] for e in alone)
    assert kinds[ev.EV_REP] >= 30 and kinds[ev.EV_SET] >= 3 and kinds[ev.EV_HOLD] >= 1


def test_recorded_counts_match(routine_run):
    """The session log on flash holds every event of the session and a summary."""
    dev, _ = routine_run
    recs = dev.records()
    evs = core_events(dev)
    reps = [e for e in evs if e[0] == ev.EV_REP]
    holds = [e for e in evs if e[0] == ev.EV_HOLD]
    sets = [e for e in evs if e[0] == ev.EV_SET]
    rec_reps = [r for r in recs if r["kind"] == records.K_REP]
    assert [r["tuple"] for r in rec_reps] == reps
    assert [r["tuple"] for r in recs if r["kind"] == records.K_HOLD] == holds
    assert [r["tuple"] for r in recs if r["kind"] == records.K_SET] == sets
    starts = [r for r in recs if r["kind"] == records.K_SESSION_START]
    ends = [r for r in recs if r["kind"] == records.K_SESSION_END]
    assert len(starts) == len(ends) == 1
    sid = starts[0]["seq"]
    assert ends[0]["session"] == sid
    assert all(r["session"] == sid for r in rec_reps)
    full = sum(1 for e in reps if not e[4])
    assert ends[0]["reps"] == full
    assert ends[0]["partial"] == len(reps) - full
    assert ends[0]["holds"] == len(holds)
    assert ends[0]["n_sets"] == len(sets)
    assert ends[0]["reason"] == records.END_IDLE
    # the session starts with the first hold or rep, ends idle_s after the last one
    first = min([h[1] for h in holds] + [r[1] for r in reps])
    assert abs(starts[0]["t_ms"] - first) < 3000
    last = max([h[2] for h in holds] + [r[1] for r in reps])
    idle = fw_config.defaults()["session_idle_s"] * 1000
    assert 0 <= ends[0]["tuple"][2] - last - idle < 1000
    seqs = [r["seq"] for r in recs]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_feedback_per_rep_and_at_target(routine_run):
    dev, _ = routine_run
    names = [n for _, n in dev.feedback_log]
    evs = core_events(dev)
    full = [e for e in evs if e[0] == ev.EV_REP and not e[4]]
    assert names.count("rep") + names.count("target") == len(full)
    # the target cue exactly at each set's 10th full rep
    target = fw_config.defaults()["target_reps"]
    expect = 0
    n = 0
    for e in evs:
        if e[0] == ev.EV_SET:
            n = 0
        elif e[0] == ev.EV_REP and not e[4]:
            n += 1
            expect += n == target
    assert names.count("target") == expect >= 1
    # cues follow their rep within a drain period plus queued patterns
    rep_times = [e[1] for e in full]
    cue_times = [t for t, n in dev.feedback_log if n in ("rep", "target")]
    lag = np.array(cue_times) - np.array(rep_times)
    assert lag.min() >= 0 and np.median(lag) < 600
    assert {"session_start", "session_end", "calibrated", "hold_start", "hold_target"} <= set(names)
    # the outputs really switched: the XIAO build has an LED and a vibration motor
    outs = collections.Counter((name, v) for _, name, v in dev.output_log)
    assert outs[("vibration", 1)] >= len(full) and outs[("led", 1)] >= len(full)
    assert outs[("buzzer", 1)] == 0  # no buzzer on this board
    assert dev.output_state == {"led": 0, "buzzer": 0, "vibration": 0}


def test_idle_then_sleep_and_watchdog_fed(routine_run):
    dev, _ = routine_run
    assert dev.app.state == fw_app._ST_SLEEP
    assert dev.sleep_log, "never slept"
    ends = [r for r in dev.records() if r["kind"] == records.K_SESSION_END]
    slept = dev.sleep_log[0][0]
    sleep_idle = fw_config.defaults()["sleep_idle_s"] * 1000
    assert slept >= ends[0]["tuple"][2]  # not during the session
    assert any(e[0] == "sleep" for e in dev.events)
    assert dev.watchdog.started and not dev.watchdog.expiries
    assert dev.watchdog.feeds >= slept / 1000 * 0.9


# -- sessions and buttons ---------------------------------------------------------------


def test_button_session_and_idle_end(routine):
    rec, _ = routine
    dev = VirtualDevice(rec, config={"session_idle_s": 30, "sleep_idle_s": 600})
    try:
        dev.press(0, at_s=5.0, ms=200)  # start by hand, before any exercise
        dev.press(0, at_s=25.0, ms=200)  # and stop, before the idle end (30 s)
        dev.run(until_s=80)
        recs = dev.records()
        starts = [r for r in recs if r["kind"] == records.K_SESSION_START]
        ends = [r for r in recs if r["kind"] == records.K_SESSION_END]
        assert len(starts) == len(ends) == 1
        assert 5000 <= starts[0]["t_ms"] <= 6100  # a short press acts once no second one follows
        assert ends[0]["reason"] == records.END_BUTTON
        assert 25000 <= ends[0]["tuple"][2] <= 26100
        # then the exercise opens a session by itself, which ends 30 s after its last rep
        dev.run(until_s=len(rec.t) / 104.0 + 60)
        ends = [r for r in dev.records() if r["kind"] == records.K_SESSION_END]
        assert len(ends) >= 2 and all(e["reason"] == records.END_IDLE for e in ends[1:])
        names = [n for _, n in dev.feedback_log]
        assert names.count("session_start") == names.count("session_end") == len(ends)
    finally:
        dev.close()


def test_long_press_calibrates(routine):
    rec, _ = routine
    dev = VirtualDevice(rec)
    try:
        dev.press(0, at_s=0.1, ms=1700)
        dev.run(until_s=15)
        assert "cal_armed" in [n for _, n in dev.feedback_log]
        cal = [e for e in dev.events if e[0] == ev.EV_CALIBRATED]
        assert cal and cal[0][2] == ev.CAL_USER
        assert not [r for r in dev.records() if r["kind"] == records.K_SESSION_START]
    finally:
        dev.close()


def test_double_press_switches_the_leg(routine):
    """The band moved to the other thigh: a double press switches it there (no computer),
    says which leg with a pattern, keeps it in its config, and ends the session so far."""
    rec, _ = routine
    dev = VirtualDevice(rec, config={"leg": "right", "sleep_idle_s": 600})
    try:
        dev.press(0, at_s=2.0, ms=150)  # a session by hand
        dev.press(0, at_s=6.0, ms=150)  # then a double press: 150 ms down, 150 ms up, 150 ms down
        dev.press(0, at_s=6.3, ms=150)
        dev.run(until_s=9)
        names = [n for _, n in dev.feedback_log]
        assert names.count("leg_left") == 1 and dev.config()["leg"] == "left"
        ends = [r for r in dev.records() if r["kind"] == records.K_SESSION_END]
        assert len(ends) == 1 and ends[0]["reason"] == records.END_BUTTON  # the double press ended it...
        assert names.count("session_start") == 1  # ...and toggled nothing
        dev.press(0, at_s=9.0, ms=150)
        dev.press(0, at_s=9.35, ms=150)
        dev.run(until_s=12)
        assert [n for _, n in dev.feedback_log].count("leg_right") == 1 and dev.config()["leg"] == "right"
        # two presses further apart are two single presses: a session starts and stops
        dev.press(0, at_s=13.0, ms=150)
        dev.press(0, at_s=14.0, ms=150)
        dev.run(until_s=16)
        starts = [r for r in dev.records() if r["kind"] == records.K_SESSION_START]
        assert len(starts) == 2 and dev.config()["leg"] == "right"
    finally:
        dev.close()


@pytest.mark.parametrize("board", ["xiao_esp32s3_lsm6ds3", "m5stickc_plus2"])
def test_double_press_held_10_s_wipes_the_band(board):
    """A factory reset from the band itself (no computer): a double press whose second
    press is held 10 s. From 3 s the band warns (released before 10 s: nothing is wiped,
    and the hold does nothing else: no calibration, no leg switch, no power off on a
    latch board); at 10 s the session log and settings go and the band restarts."""
    dev = VirtualDevice(still_then_moving(still_s=90.0, move_s=1.0), board=board,
                        config={"leg": "left", "sleep_idle_s": 600, "session_idle_s": 600})
    try:
        dev.press(0, at_s=1.0, ms=150)  # a session by hand
        dev.press(0, at_s=5.0, ms=150)
        dev.run(until_s=8)
        assert len([r for r in dev.records() if r["kind"] == records.K_SESSION_START]) == 1
        app = dev.app
        dev.press(0, at_s=10.0, ms=150)  # double press, the second held 6 s
        dev.press(0, at_s=10.3, ms=6000)
        dev.run(until_s=20)
        names = [n for _, n in dev.feedback_log]
        assert names.count("wipe_warning") == 1 and "wiped" not in names
        assert "cal_armed" not in names and "leg_right" not in names and "leg_left" not in names
        assert dev.app is app and not dev.off and app.state != fw_app._ST_OFF
        assert dev.config()["leg"] == "left"
        assert len([r for r in dev.records() if r["kind"] == records.K_SESSION_START]) == 1
        dev.press(0, at_s=25.0, ms=150)  # again, held 10.5 s
        dev.press(0, at_s=25.3, ms=10500)
        dev.run(until_s=45)
        names = [n for _, n in dev.feedback_log]
        assert names.count("wipe_warning") == 2 and names.count("wiped") == 1
        assert dev.app is not app  # restarted, as a new band
        assert dev.config()["leg"] == fw_config.defaults()["leg"] != "left"
        assert not [r for r in dev.records() if r["kind"] == records.K_SESSION_START]
    finally:
        dev.close()


def test_a_new_leg_calibrates_anew(routine):
    """A mode change keeps the mount's calibration; a move to the other leg does not (the
    old leg's frame would turn the new leg's clams sideways)."""
    rec, _ = routine
    dev = VirtualDevice(rec)
    try:
        dev.run(until_s=60)  # calibrated while standing and walking
        frame = dev.app.det.frame
        dev.app.command("config", {"mode": "bridge"})
        assert dev.app.det.frame is frame
        dev.app.command("config", {"mode": "auto", "leg": "left"})
        assert dev.app.det.frame is not frame and dev.app.det.leg == ev.SIDE_LEFT
    finally:
        dev.close()


def test_target_configurable(routine):
    rec, _ = routine
    dev = run_virtual(rec, config={"target_reps": 5}, until_s=600)
    try:
        evs = core_events(dev)
        n = expect = 0
        for e in evs:
            if e[0] == ev.EV_SET:
                n = 0
            elif e[0] == ev.EV_REP and not e[4]:
                n += 1
                expect += n == 5
        assert [n for _, n in dev.feedback_log].count("target") == expect >= 3
        start = [r for r in dev.records() if r["kind"] == records.K_SESSION_START][0]
        assert start["target_reps"] == 5
    finally:
        dev.close()


# -- config -------------------------------------------------------------------------------


@pytest.mark.parametrize("text, code", [
    ("{not json", ev.FAULT_CONFIG_CORRUPT),
    ("[1, 2]", ev.FAULT_CONFIG_CORRUPT),
    (json.dumps({"schema": 99, "leg": "left"}), ev.FAULT_CONFIG_VERSION),
    ("\xff\xfe garbage", ev.FAULT_CONFIG_CORRUPT),
])
def test_bad_config_falls_back_to_defaults(tmp_path, text, code):
    rec = still_then_moving(10.0, 1.0)
    (tmp_path / "config.json").write_text(text, encoding="latin-1")
    dev = run_virtual(rec, flash_dir=tmp_path, until_s=3)
    assert dev.app.cfg == fw_config.defaults()
    assert faults(dev) == [code]
    assert "config_fault" in [n for _, n in dev.feedback_log]
    assert json.loads((tmp_path / "config.json").read_text()) == fw_config.defaults()
    assert (tmp_path / "config.json.bad").read_bytes() == text.encode("latin-1")
    assert dev.app.state == fw_app._ST_RUN and dev.app.samples > 200  # and it runs
    dev.close()


def test_config_bad_value_keeps_the_rest(tmp_path):
    rec = still_then_moving(10.0, 1.0)
    cfg = fw_config.defaults()
    cfg.update({"leg": "left", "target_reps": 0, "mode": "clam"})
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    dev = run_virtual(rec, flash_dir=tmp_path, until_s=2)
    assert dev.app.cfg["leg"] == "left" and dev.app.cfg["mode"] == "clam"
    assert dev.app.cfg["target_reps"] == fw_config.defaults()["target_reps"]
    assert faults(dev) == [ev.FAULT_CONFIG_VALUE]
    assert dev.app.det.leg == ev.SIDE_LEFT and dev.app.det.mode == ev.MODE_CLAM
    dev.close()


def test_config_persists_and_first_boot_writes_defaults(tmp_path):
    rec = still_then_moving(10.0, 1.0)
    dev = run_virtual(rec, flash_dir=tmp_path, until_s=1)
    assert json.loads((tmp_path / "config.json").read_text()) == fw_config.defaults()
    assert faults(dev) == []
    assert dev.app.command("config", {"target_reps": 15, "leg": "up"}) == ["leg"]
    dev.close()
    assert json.loads((tmp_path / "config.json").read_text())["target_reps"] == 15
    dev2 = run_virtual(rec, flash_dir=tmp_path, until_s=1)
    assert dev2.app.cfg["target_reps"] == 15 and dev2.app.sessions.target_reps == 15
    dev2.close()


# -- faults -------------------------------------------------------------------------------


def test_sensor_fault_survived_signalled_and_recovered(routine):
    rec, _ = routine
    factory, seen = tapping_detector()
    dev = VirtualDevice(rec, detector=factory)
    try:
        dev.at(200.0, lambda: setattr(dev.bus, "fail_all", True))
        dev.at(215.0, lambda: setattr(dev.bus, "fail_all", False))
        dev.run(until_s=214)
        assert dev.app.state == fw_app._ST_FAULT and dev.app.imu is None
        assert dev.bus.resets >= 1  # the driver reset the bus before giving up
        n_fault = len(seen)
        dev.run(until_s=len(rec.t) / 104.0 + 240)
        assert len(seen) > n_fault + 250 * 104  # sampling came back
        codes = faults(dev)
        assert ev.FAULT_SENSOR in codes and ev.FAULT_SENSOR_OK in codes
        assert codes.index(ev.FAULT_SENSOR) < codes.index(ev.FAULT_SENSOR_OK)
        names = [n for _, n in dev.feedback_log]
        assert "sensor_fault" in names
        assert not dev.watchdog.expiries
        # the gap is visible to the core, and counting went on after it
        t = np.array([s[0] for s in seen])
        assert np.diff(t).max() >= 15000 - 2 * fw_sampling._RETRY_MAX_MS
        reps_after = [e for e in core_events(dev) if e[0] == ev.EV_REP and e[1] > 216000]
        assert len(reps_after) >= 10
    finally:
        dev.close()


def test_no_imu_at_boot_retries(tmp_path):
    rec = still_then_moving(30.0, 1.0)
    dev = VirtualDevice(rec, flash_dir=tmp_path)
    try:
        dev.bus.fail_all = True
        dev.at(6.0, lambda: setattr(dev.bus, "fail_all", False))
        dev.run(until_s=20)
        assert faults(dev)[:1] == [ev.FAULT_SENSOR]
        assert dev.app.state == fw_app._ST_RUN and dev.app.samples > 8 * 104
    finally:
        dev.close()


def test_watchdog_reboots_a_stalled_app_and_the_session_survives(routine):
    rec, _ = routine
    dev = VirtualDevice(rec)
    try:
        dev.run(until_s=250)  # inside the routine: a session is open
        assert dev.app.sessions.active
        # The sampling task stalls: the main loop must stop feeding the watchdog.
        orig = fw_app.App.sampling_task

        async def stuck(self):
            await self.hal.sleep_ms(10 ** 9)

        fw_app.App.sampling_task = stuck
        try:
            dev.run(until_s=270)
        finally:
            fw_app.App.sampling_task = orig
        assert dev.watchdog.expiries and 260000 <= dev.watchdog.expiries[0] <= 267000
        assert len(dev.boots) == 2
        dev.run(until_s=300)
        ends = [r for r in dev.records() if r["kind"] == records.K_SESSION_END]
        assert ends and ends[0]["reason"] == records.END_REBOOT and ends[0]["reps"] >= 1
    finally:
        dev.close()


def test_low_battery_signalled(routine):
    rec, _ = routine
    dev = run_virtual(rec, until_s=5, battery_v=3.28)
    try:
        assert dev.app.battery == fw_power.battery_pct(3280) < 10
        assert "low_battery" in [n for _, n in dev.feedback_log]
        assert ev.FAULT_LOW_BATTERY in faults(dev)
    finally:
        dev.close()


def test_battery_curve():
    assert fw_power.battery_pct(4300) == 100
    assert fw_power.battery_pct(3720) == 50
    assert fw_power.battery_pct(3760) == 55
    assert fw_power.battery_pct(3000) == 0
    assert fw_power.battery_pct(-1) == -1


# -- power --------------------------------------------------------------------------------


def test_sleeps_when_idle_and_wakes_on_motion():
    rec = still_then_moving(60.0, 20.0)
    dev = run_virtual(rec, config={"sleep_idle_s": 20}, until_s=75)
    try:
        assert dev.sleep_log and 19000 <= dev.sleep_log[0][0] <= 23000
        wakes = [e for e in dev.events if e[0] == "wake"]
        assert wakes and 60000 <= wakes[0][1] <= 61000  # the swing woke it at once
        assert dev.app.state == fw_app._ST_RUN
        assert dev.chip.output_rate_hz() == 104.0  # streaming again
        assert not dev.watchdog.expiries
    finally:
        dev.close()


@pytest.mark.parametrize("board", ["m5stickc_plus2", "devkit_mpu6050"])
def test_other_boards(board):
    """The MPU boards: 100 Hz, other FIFO layout; the M5's axis remap; the M5 switches
    itself off when idle (no IMU wake pin, a power latch)."""
    rec, _ = simulate("bridges", seed=2, rate_hz=100.0)
    factory, seen = tapping_detector()
    dev = run_virtual(rec, board=board, detector=factory)
    try:
        seen = np.array(seen, dtype=np.int64)
        ref = to_samples(rec)
        assert np.abs(seen[: len(ref), 1:4] - ref[:, 1:4]).max() <= 1
        alone = run_events(seen, ev.SIDE_RIGHT, ev.PLACEMENT_THIGH, ev.MODE_AUTO, True)
        assert core_events(dev) == [e for e in alone if e[0] != ev.EV_FAULT]
        assert sum(1 for e in alone if e[0] == ev.EV_REP) >= 20
        if board == "m5stickc_plus2":
            assert dev.app.state == fw_app._ST_OFF and dev.power_log[-1][1] is False
            assert dev.power_log[0][1] is True
        else:
            assert dev.app.state == fw_app._ST_SLEEP
    finally:
        dev.close()
