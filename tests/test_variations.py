"""`repband evaluate --vary`'s changes do what their names say (repband.variations)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from repband.recording import Recording
from repband.scoring import retimed
from repband.variations import (ASKEW, MOVE_ON_DEG, MOVE_ON_S, MOVED_REST_S, MOVES_ON, PACES, RANGES, RATES,
                                SLOW_MOVING, SLOW_REPS, SPUN, WANDER_S, moved_more, varied, vary)


def _nodding(peak_deg=20.0, rate=100.0, seconds=60.0):
    """Gravity along z at rest; every 6 s the sensor turns about x to `peak_deg` and back
    (a slow rep: 3 s out and in, then 3 s of rest), with a little noise."""
    t = np.arange(0.0, seconds, 1.0 / rate)
    phase = np.mod(t, 6.0)
    angle = np.radians(peak_deg) * np.where(phase < 3.0, np.sin(np.pi * phase / 3.0) ** 2, 0.0)
    acc = np.stack([np.zeros_like(t), np.sin(angle), np.cos(angle)], axis=1)
    acc += np.random.default_rng(0).normal(0.0, 0.003, acc.shape)
    gyro = np.stack([np.gradient(np.degrees(angle), t), np.zeros_like(t), np.zeros_like(t)], axis=1)
    return Recording(t=t, acc=acc, gyro=gyro, meta={}), np.degrees(angle)


def _tilt_deg(acc):
    return np.degrees(np.arccos(np.clip(acc[:, 2] / np.linalg.norm(acc, axis=1), -1, 1)))


@pytest.mark.parametrize("name", sorted(RANGES))
def test_movements_are_scaled_about_rest(name):
    rec, angle = _nodding()
    out = vary(rec, name)
    k = RANGES[name]
    assert np.array_equal(out.t, rec.t)
    np.testing.assert_allclose(np.linalg.norm(out.acc, axis=1), np.linalg.norm(rec.acc, axis=1))
    # each rep's peak tilt from rest is k times the original's; rest stays where it was
    tilt = _tilt_deg(out.acc)
    peaks = [tilt[(rec.t >= s) & (rec.t < s + 6.0)].max() for s in range(0, 60, 6)]
    np.testing.assert_allclose(peaks, k * 20.0, atol=1.0)  # noise: +-0.5
    assert abs(tilt[angle == 0].mean() - _tilt_deg(rec.acc)[angle == 0].mean()) < 0.3
    moving = angle > 5.0
    # the turn is about the same axis, k times as fast
    np.testing.assert_allclose(out.gyro[moving, 0], k * rec.gyro[moving, 0], rtol=0.05, atol=0.5)


def test_slow_reps_move_slower_and_keep_still_moments_and_the_sample_rate():
    rec, _ = _nodding()  # 10 reps of 20 deg, 3 s out and back, 3 s of rest between them
    out, clock = varied(rec, SLOW_REPS)
    dt = np.median(np.diff(rec.t))
    np.testing.assert_allclose(np.diff(out.t), dt)  # sampled at the sensor's own rate
    starts = np.arange(0.0, 54.0, 6.0)
    # a second of rest takes a second; half a second of brisk turning, SLOW_MOVING times
    # as long (the clock maps old times to new ones)
    np.testing.assert_allclose(clock(starts + 5.0) - clock(starts + 4.0), 1.0, atol=2 * dt)
    np.testing.assert_allclose(clock(starts + 1.0) - clock(starts + 0.5), 0.5 * SLOW_MOVING, atol=2 * dt)
    assert clock(rec.t[-1]) == pytest.approx(out.t[-1], abs=dt)
    # every rep as far as before, and what the gyroscope reads turning SLOW_MOVING times slower
    tilt = _tilt_deg(out.acc)
    peaks = [tilt[(out.t >= clock(s)) & (out.t < clock(s + 3.0))].max() for s in starts]
    np.testing.assert_allclose(peaks, 20.0, atol=1.0)
    np.testing.assert_allclose(np.abs(out.gyro[:, 0]).max(), np.abs(rec.gyro[:, 0]).max() / SLOW_MOVING, rtol=0.05)


def test_scaling_by_one_changes_nothing():
    rec, _ = _nodding()
    out = moved_more(rec, 1.0)
    np.testing.assert_allclose(out.acc, rec.acc, atol=1e-12)
    np.testing.assert_allclose(out.gyro, rec.gyro, atol=1e-12)


def test_an_uneven_pace_replays_the_same_samples_at_a_wandering_pace():
    rec, _ = _nodding()
    out = vary(rec, "uneven-pace", key="S01_04_act_2.csv")
    assert np.array_equal(out.acc, rec.acc)
    assert out.t[0] == rec.t[0] and np.all(np.diff(out.t) > 0)
    # each stretch of WANDER_S s takes its own time: some slower, some faster
    edges = np.searchsorted(rec.t, np.arange(0.0, 60.0, WANDER_S))
    stretched = np.diff(out.t[edges]) / WANDER_S
    assert stretched.min() < 0.9 and stretched.max() > 1.1
    # the gyroscope turns as much in the stretched time: rate times duration holds
    np.testing.assert_allclose(out.gyro[1:, 0] * np.diff(out.t), rec.gyro[1:, 0] * np.diff(rec.t), atol=1e-9)
    # the same file wanders the same way on every run, another file another way
    assert np.array_equal(vary(rec, "uneven-pace", key="S01_04_act_2.csv").t, out.t)
    assert not np.array_equal(vary(rec, "uneven-pace", key="S02_04_act_2.csv").t, out.t)


def test_a_slower_person_exercises_slower_inside_the_spans_only_and_the_truth_follows():
    """A slow patient walks as anyone does: with spans (a simulated recording's sets and
    holds), only they are stretched, and every truth time moves with the clock."""
    rec, _ = _nodding()
    k = PACES["slowest"]
    out, clock = varied(rec, "slowest", spans=[(12.0, 24.0)])
    assert np.array_equal(out.acc, rec.acc) and np.all(np.diff(out.t) > 0)
    before, inside, after = rec.t < 12.0, (rec.t > 12.0) & (rec.t < 24.0), rec.t > 24.0
    np.testing.assert_allclose(out.t[before], rec.t[before])
    np.testing.assert_allclose(np.diff(out.t[inside]), k * np.diff(rec.t[inside]))
    np.testing.assert_allclose(out.t[after], rec.t[after] + (k - 1.0) * 12.0, atol=0.03)
    np.testing.assert_allclose(out.gyro[inside, 0], rec.gyro[inside, 0] / k)
    truth = {"duration_s": 60.0, "sets": [{"t_start": 12.0, "t_end": 24.0, "count": 2}],
             "reps": [{"t_start": 12.0, "t_top": 13.5, "t_end": 15.0}, {"t_start": 30.0, "t_top": 31.5, "t_end": 33.0}]}
    moved = retimed(truth, clock)
    np.testing.assert_allclose([moved["reps"][0][key] for key in ("t_start", "t_top", "t_end")],
                               [12.0, 12.0 + 1.5 * k, 12.0 + 3.0 * k], atol=0.03)
    np.testing.assert_allclose(moved["reps"][1]["t_start"], 30.0 + (k - 1.0) * 12.0, atol=0.03)
    np.testing.assert_allclose(moved["duration_s"], 60.0 + (k - 1.0) * 12.0, atol=0.03)
    assert moved["sets"][0]["count"] == 2 and truth["reps"][0]["t_end"] == 15.0  # counts kept; the input untouched
    # without spans the whole recording, as for a MEx file (one exercise throughout)
    np.testing.assert_allclose(vary(rec, "slowest").t, k * rec.t)


@pytest.mark.parametrize("name", sorted(RATES))
def test_a_lower_rate_keeps_every_nth_sample(name):
    rec, _ = _nodding(rate=100.0)
    out = vary(rec, name)
    n = round(100.0 / RATES[name])
    assert np.array_equal(out.t, rec.t[::n])
    assert np.array_equal(out.acc, rec.acc[::n]) and np.array_equal(out.gyro, rec.gyro[::n])
    np.testing.assert_allclose(1.0 / np.median(np.diff(out.t)), 100.0 / n)


def test_a_recording_no_faster_than_the_rate_is_unchanged():
    rec, _ = _nodding(rate=20.0)
    out = vary(rec, "rate-25")
    assert np.array_equal(out.t, rec.t) and np.array_equal(out.acc, rec.acc)


@pytest.mark.parametrize("name", sorted(ASKEW))
def test_an_askew_strap_turns_every_direction_by_at_most_its_angle_about_one_axis(name):
    """The same rotation for every sample: lengths and the angles between directions
    kept, no direction moved by more than the angle, the one across the axis by it; the
    axis drawn from the key (each file its own, each draw another)."""
    dirs = np.random.default_rng(1).normal(size=(2000, 3))
    rec = Recording(t=np.arange(2000) / 100.0, acc=dirs, gyro=dirs * 10.0, meta={})
    out = vary(rec, name, key="a.csv")
    assert np.allclose(np.linalg.norm(out.acc, axis=1), np.linalg.norm(dirs, axis=1))
    assert np.allclose(out.gyro, out.acc * 10.0)
    assert np.allclose(out.acc[:50] @ out.acc[:50].T, dirs[:50] @ dirs[:50].T)
    unit = dirs / np.linalg.norm(dirs, axis=1)[:, None]
    moved = np.degrees(np.arccos(np.clip(np.sum(unit * out.acc / np.linalg.norm(out.acc, axis=1)[:, None], axis=1), -1, 1)))
    assert moved.max() <= ASKEW[name] + 1e-6 and moved.max() > ASKEW[name] - 0.5
    assert np.array_equal(vary(rec, name, key="a.csv").acc, out.acc)
    assert not np.allclose(vary(rec, name, key="a.csv/1").acc, out.acc)


def test_a_spun_sensor_turns_about_its_own_z_by_an_angle_drawn_per_recording():
    """x leaves the thigh, z (out of it) stays: every direction keeps its z and length
    and turns about z by one angle, a different one for each file and draw."""
    dirs = np.random.default_rng(2).normal(size=(500, 3))
    rec = Recording(t=np.arange(500) / 100.0, acc=dirs, gyro=dirs * 10.0, meta={})

    def angles(key):
        out = vary(rec, SPUN, key=key)
        assert np.allclose(out.acc[:, 2], dirs[:, 2]) and np.allclose(out.gyro, out.acc * 10.0)
        turn = np.degrees(np.arctan2(out.acc[:, 1], out.acc[:, 0]) - np.arctan2(dirs[:, 1], dirs[:, 0])) % 360.0
        assert np.allclose(turn, turn[0], atol=1e-6)
        return turn[0]

    drawn = {angles(key) for key in ("a.csv", "a.csv/1", "a.csv/2", "b.csv")}
    assert len(drawn) == 4 and max(drawn) - min(drawn) > 30.0
    assert angles("a.csv") == angles("a.csv")


def test_moving_on_turns_the_thigh_away_as_the_recording_ends_and_leaves_it_there():
    """The recording as it was, then gravity turning MOVE_ON_DEG about one axis in
    MOVE_ON_S and staying there MOVED_REST_S; the gyroscope turns with it (the band turns
    the other way to gravity); the axis drawn per file and draw."""
    rec, _ = _nodding(seconds=30.0)
    out = vary(rec, MOVES_ON, key="a.csv")
    n = len(rec.t)
    assert np.array_equal(out.t[:n], rec.t) and np.array_equal(out.acc[:n], rec.acc)
    assert np.all(np.diff(out.t) > 0) and out.t[-1] - rec.t[-1] == pytest.approx(MOVE_ON_S + MOVED_REST_S, abs=0.02)
    last = rec.acc[rec.t >= rec.t[-1] - 0.3].mean(axis=0)
    last /= np.linalg.norm(last)
    unit = out.acc[n:] / np.linalg.norm(out.acc[n:], axis=1)[:, None]
    away = np.degrees(np.arccos(np.clip(unit @ last, -1, 1)))
    turning = out.t[n:] <= rec.t[-1] + MOVE_ON_S
    assert np.all(np.diff(away[turning][::10]) > 0)  # turning away all the way...
    assert np.ptp(away[~turning]) < 2.0  # ...then still
    # The appended gyroscope turns the band MOVE_ON_DEG about one axis: gravity, the
    # other way, ends where the accelerometer says.
    dt = np.diff(out.t[n - 1:])
    band_turn = np.radians(((out.gyro[n:] - np.median(rec.gyro, axis=0)) * dt[:, None]).sum(axis=0))
    assert np.degrees(np.linalg.norm(band_turn)) == pytest.approx(MOVE_ON_DEG, rel=0.02)
    end = Rotation.from_rotvec(-band_turn).apply(last)
    assert np.degrees(np.arccos(np.clip(unit[~turning].mean(axis=0) @ end, -1, 1))) < 2.0
    assert np.array_equal(vary(rec, MOVES_ON, key="a.csv").acc, out.acc)
    assert not np.allclose(vary(rec, MOVES_ON, key="a.csv/1").acc[n:], out.acc[n:], atol=0.05)
