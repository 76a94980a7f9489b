"""What a patient who counts along expects, on scenarios played by the project's simulator
(development seeds only): slow reps count, the last rep counts when the person moves
on at once, changes of posture and stairs are never reps, a set the band cannot name yet
is held and then counted or reported, walking alone calibrates."""
from __future__ import annotations

import io

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from repband import firmware
from repband.recording import Recording, to_samples
from repband.replay import detect
from repband.scoring import score_sim
from repband.sim import activities as A
from repband.sim import simulate
from repband.sim.clips import CLIPS, POCKET_WAYS, flat_on_thigh, simulate_clip
from repband.summary import human_summary
from repband.variations import turned

firmware.import_firmware()
from repcore import events as E  # noqa: E402
from repcore.detector import Detector  # noqa: E402


def _intro(b):
    A.rest(b, 4.0)
    A.walk(b, 12.0)
    A.rest(b, 3.0)


def _run(scenario, seed=1, mode="auto", **kw):
    rec, truth = simulate(scenario, seed=seed, **kw)
    out = detect(rec, exercise=mode)
    return out, score_sim(out["reps"], out["holds"], truth, (float(rec.t[0]), float(rec.t[-1])))


def _no_false_rep(scenario, mode, seed, board=False, **kw):
    """`scenario` (the right leg on odd seeds) counts no false rep in `mode`; with
    `board`, the board's MicroPython gives the same output."""
    kw.setdefault("leg", "right" if seed % 2 else "left")
    rec, truth = simulate(scenario, seed=seed, **kw)
    out = detect(rec, exercise=mode)
    s = score_sim(out["reps"], out["holds"], truth, (float(rec.t[0]), float(rec.t[-1])))
    assert s["fp"] == 0, out["reps"]
    if board:
        _alike_on_the_board(rec, out, mode)


# A slow patient (up, top, down, rest; s): 3 s up, held 10 s, 3 s down, resting 2 s or
# 8 s (a rep and its rest then take 24 s, more than the 20 s a set waits for its next
# rep), or held 5 s and resting 10 s.
SLOW_TEMPOS = [(3.0, 10.0, 3.0, 2.0), (3.0, 10.0, 3.0, 8.0), (3.0, 5.0, 3.0, 10.0)]


def _set(b, exercise, n_reps, rest, **kw):
    """Down to the mat for `exercise`, still for `rest` s, then a set of `n_reps`."""
    if exercise == "bridge":
        A.go(b, "hook")
        A.rest(b, rest)
        A.bridge_set(b, n_reps, **kw)
    else:
        A.go(b, A.side_down_for(b, True))
        A.rest(b, rest)
        A.clam_set(b, n_reps, **kw)


def _slow(exercise, tempo):
    def scenario(b, mount):
        _intro(b)
        _set(b, exercise, 5, 5.0, tempo=tempo)
        A.rest(b, 3.0)

    scenario.__name__ = f"slow_{exercise}s"
    return scenario


@pytest.mark.parametrize("exercise", ["bridge", "clam"])
@pytest.mark.parametrize("tempo", SLOW_TEMPOS, ids=["rest-2s", "rest-8s", "top-5s-rest-10s"])
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_slow_reps_count(exercise, tempo, seed, gyro):
    """Slow reps are counted, every one: the set goes on while the next rep starts
    within 20 s of the last one's end, and a descent over 3 s is no top held."""
    _, s = _run(_slow(exercise, tempo), seed=seed, gyro=gyro)
    assert s["tp"] == 5 and s["fp"] == 0, (s["misses"], s["false_reps"])


def _then(exercise, posture):
    def scenario(b, mount):
        _intro(b)
        _set(b, exercise, 8, 3.0)
        A.go(b, posture)  # no pause after the last rep
        A.rest(b, 3.0)
    scenario.__name__ = f"{exercise}_then_{posture}"
    return scenario


@pytest.mark.parametrize("scenario", [_then("bridge", "side_left"), _then("bridge", "floor_sit"),
                                      _then("bridge", "stand"), _then("clam", "supine"),
                                      _then("clam", "stand")], ids=lambda f: f.__name__)
def test_the_last_rep_counts_when_the_person_moves_on_at_once(scenario):
    _, s = _run(scenario, seed=2, mount="arbitrary")
    assert (s["tp"], s["fp"], s["fn"]) == (8, 0, 0), (s["misses"], s["false_reps"])


@pytest.mark.parametrize("exercise, posture, seed, mount", [
    ("bridge", "supine", 3, "arbitrary"), ("bridge", "floor_sit", 3, "arbitrary"),
    ("bridge", "side_left", 3, "arbitrary"), ("bridge", "stand", 3, "arbitrary"),
    ("bridge", "stand", 4, "nominal"),
    ("clam", "supine", 3, "nominal"), ("clam", "supine", 4, "nominal"),
    ("clam", "side_left", 1, "arbitrary"), ("clam", "prone", 1, "nominal"),
])
def test_a_wearer_who_named_the_exercise_has_every_rep_counted(exercise, posture, seed, mount):
    """Bridge or clam mode, from the walk to the mat to the move after the last rep.
    Lying down lifts the knee from sitting (a bridge lowers it) or turns the thigh onto
    its side with the knee level (a clam lifts it): held there a second, the thigh is
    at a new rest, not at the exercise's top, and the reps count from there (each of
    these lost 2-4 reps). A stride can leave a lone "rep" waiting for a second; once the
    thigh is still far from where that one started (lying down), it waits no more, and
    no longer pins rest where it was (seed 4 lost the set's first two bridges)."""
    _, s = _run(_then(exercise, posture), seed=seed, mode=exercise, mount=mount)
    assert (s["tp"], s["fp"], s["fn"]) == (8, 0, 0), (s["misses"], s["false_reps"])


def postures(b, mount):
    """Down to the floor, rolling over and back, prone, sitting up, getting up, a chair."""
    _intro(b)
    for p in ("floor_sit", "hook", "side_left", "supine", "side_right", "prone", "side_left",
              "hook", "floor_sit", "stand", "sit", "stand", "kneel", "half_kneel_front", "stand"):
        A.go(b, p)
        A.rest(b, b.rng.uniform(0.5, 4.0))


def stairs_and_chairs(b, mount):
    _intro(b)
    for _ in range(2):
        A.walk(b, 8.0, stairs=1)
        A.rest(b, 1.0)
        A.walk(b, 8.0, stairs=-1)
        A.go(b, "sit")
        A.rest(b, 2.0)
        A.go(b, "stand")
        A.walk(b, 5.0)
        A.go(b, "sit")
        A.go(b, "stand")


@pytest.mark.parametrize("mode", ["auto", "bridge", "clam"])
@pytest.mark.parametrize("seed", [1, 3])
def test_changes_of_posture_are_never_reps_in_any_mode(mode, seed):
    out, _ = _run(postures, seed=seed, mode=mode, mount="arbitrary")
    assert out["counts"]["total"] == 0, out["reps"]


def rolling_over(b, mount, lyings=("supine",) * 6 + ("hook",) * 4, walk=True):
    """Lying on the back, rolled onto one side and back, then the other, again and again
    (knees straight, then bent: `lyings`), and up; after a walk, or only a stand."""
    if walk:
        _intro(b)
    else:
        A.rest(b, 3.0)
    A.go(b, "supine")
    A.rest(b, 5.0)
    for lying in lyings:
        A.go(b, "side_left" if b.rng.uniform() < 0.5 else "side_right")
        A.rest(b, b.rng.uniform(1.0, 6.0))
        A.go(b, lying)
        A.rest(b, b.rng.uniform(1.0, 6.0))
    A.go(b, "stand")
    A.rest(b, 3.0)


def rolling_over_without_a_walk(b, mount):
    rolling_over(b, mount, walk=False)


def rolling_over_knees_straight(b, mount):
    rolling_over(b, mount, lyings=("supine",) * 8)


@pytest.mark.parametrize("mode", ["auto", "bridge"])
@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_rolling_onto_a_side_and_back_is_never_a_rep(mode, seed, gyro):
    """A roll turns the thigh 70-90 deg, mostly about its length. In bridge mode two
    rolls within 20 s passed for a set of bridges (82 false reps in 1.6 h of this
    scenario, 40 sessions); once a walk has shown where up is, a bridge must bring the
    knee down. (Clam mode: the tests below.)"""
    out, _ = _run(rolling_over, seed=seed, mode=mode, gyro=gyro)
    assert out["counts"]["total"] == 0, out["reps"]


@pytest.mark.parametrize("seed,mount", [(5, "nominal"), (5, "arbitrary"), (8, "nominal")])
@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_rolling_over_before_any_walk_is_no_bridge(seed, mount, gyro):
    """Before any walk, bridge mode took any turn for a bridge: rolls counted
    (32 false reps in 32 sessions of 8 people, now 8). A turn larger than any bridge's
    (70 deg, as in auto mode; real ones 8-43) is a change of posture."""
    out, _ = _run(rolling_over_without_a_walk, seed=seed, mode="bridge", gyro=gyro, mount=mount)
    assert out["counts"]["total"] == 0, out["reps"]


@pytest.mark.parametrize("scenario,seed,mount", [
    (rolling_over, 2, "nominal"), (rolling_over, 5, "nominal"), (rolling_over, 9, "nominal"),
    (rolling_over_knees_straight, 10, "arbitrary")])
@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_rolling_over_after_a_walk_is_no_clam(scenario, seed, mount, gyro):
    """Clam mode took any turn for a clam: rolls counted (32 false reps in 1.6 h of
    rolling, 40 sessions; now 6). A turn larger than any clam's (88 deg, as in auto mode)
    is a change of posture: a roll with the knees bent turns the thigh 85-96 deg. Once a
    walk has shown where up is, a clam lifts the knee by 0.3 of its turn at least (0.5
    and more in both body models); a roll with the knees straight, 0.15 at most."""
    out, _ = _run(scenario, seed=seed, mode="clam", gyro=gyro, mount=mount)
    assert out["counts"]["total"] == 0, out["reps"]


@pytest.mark.parametrize("seed,mount", [(2, "nominal"), (7, "nominal"), (5, "arbitrary")])
@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_rolling_over_after_a_stand_is_no_clam(seed, mount, gyro):
    """Before any walk clam mode took any turn under 88 deg for a clam: rolls after a
    stand counted (76 false reps in 32 sessions of 8 people; now 11, all at mounts where
    the stand looked like no stand). Once the stand and the flexion after it (lying down)
    have shown where up is, a clam lifts the knee, as after a walk."""
    out, _ = _run(rolling_over_without_a_walk, seed=seed, mode="clam", gyro=gyro, mount=mount)
    assert out["counts"]["total"] == 0, out["reps"]


def _walk_to_the_mat(b, exercise, still):
    """A walk, then down to the mat: still for `still` s, 8 reps of `exercise`."""
    _intro(b)
    _set(b, exercise, 8, still)
    A.rest(b, 3.0)


def walk_to_the_mat_for_bridges(b, mount):
    _walk_to_the_mat(b, "bridge", 3.0)


def walk_to_the_mat_for_clams(b, mount):
    _walk_to_the_mat(b, "clam", 3.0)


def clams_straight_after_lying_down(b, mount):
    _walk_to_the_mat(b, "clam", 0.5)


@pytest.mark.parametrize("seed", range(1, 7))
@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_clams_begun_straight_after_lying_down_count_in_clam_mode(seed, gyro):
    """Clams begun half a second after lying down: rest may first settle at the first
    clam's top, so the excursions run from the top down. In clam mode once a walk has
    shown up, such a turn lowers the knee: it re-seats rest where it peaked, as in auto
    mode, and is no rep but no loss either (taken for no clam, or for a clam as before
    stop 31, 2 of 8 were lost for person 4). The first clam itself may go uncounted, its
    start lost in the lying down. (The walk's first strides may pass for clams: a known
    limit, not checked here.)"""
    rec, truth = simulate(clams_straight_after_lying_down, seed=seed, gyro=gyro,
                          leg="right" if seed % 2 else "left")
    out = detect(rec, exercise="clam")
    score = score_sim(out["reps"], out["holds"], truth, (float(rec.t[0]), float(rec.t[-1])))
    assert score["tp"] >= 7, score
    if seed == 4 and not gyro:  # turns that re-seat rest at their top
        _alike_on_the_board(rec, out, "clam")


def bridges_held_long_straight_after_lying_down(b, mount):
    """A walk, down onto the back and still half a second, 8 bridges: up in 1.5 s, the
    top held 8 s, down in 1.5 s, 0.3 s at rest."""
    _intro(b)
    _set(b, "bridge", 8, 0.5, tempo=(1.5, 8.0, 1.5, 0.3))
    A.rest(b, 3.0)


@pytest.mark.parametrize("seed,mount", [(2, "nominal"), (3, "nominal"), (6, "loose"), (7, "arbitrary")])
@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_bridges_held_long_begun_as_the_wearer_lies_down_count_in_bridge_mode(seed, mount, gyro):
    """Bridge mode after a walk. Begun half a second after lying down, with tops held 8 s
    and 0.3 s at rest, rest can settle at the first top; then each excursion runs from
    the top down to the mat and back, lifting the knee, which no bridge does, and whole
    sets went by as nothing, unreported (22 of 48 sessions: 8 people, three mounts, both
    sensors). Once forward is known such a turn is a bridge's way back when it ends
    where a bridge rests, as auto mode names it: rest is re-seated there. Now 7 or 8 in
    every session (the first bridge's start can be lost in the lying down)."""
    rec, truth = simulate(bridges_held_long_straight_after_lying_down, seed=seed, gyro=gyro,
                          mount=mount, leg="right" if seed % 2 else "left")
    out = detect(rec, exercise="bridge")
    score = score_sim(out["reps"], out["holds"], truth, (float(rec.t[0]), float(rec.t[-1])))
    assert score["tp"] >= 7 and score["fp"] == 0, score
    if seed == 3 and gyro:
        _alike_on_the_board(rec, out, "bridge")


@pytest.mark.parametrize("scenario,seed", [
    (walk_to_the_mat_for_clams, 12), (walk_to_the_mat_for_clams, 19), (walk_to_the_mat_for_bridges, 15)])
def test_the_first_rep_after_lying_down_counts(scenario, seed):
    """A walk, down onto a side (or the back) and still 3 s, 8 reps; accelerometer only.
    The excursion that left standing was held on the mat, but a moment's stir before 3 s
    still kept that place from being a new rest, and the first clam's top, held, became
    rest instead: its way down was taken for the way back from a top, and that clam was
    lost (6 people of 20, three mounts, both sensors: 948 of 960 counted). No rep starts
    upright, so a place held a second after leaving upright is a new rest now (954). Then
    sitting on the mat before lying back is one, and the place lying on the back held a
    second after it, which a bridge's way back would reach, is a new rest as well (else
    one person lost 4 bridges: 960 of 960)."""
    rec, out = _all_8_count(scenario, seed, False, "auto", leg="right")
    if seed == 19:
        _alike_on_the_board(rec, out)


@pytest.mark.parametrize("scenario,seed", [(walk_to_the_mat_for_clams, 3), ("routine", 3)])
def test_a_place_held_on_the_mat_becomes_rest_before_the_clams_start(scenario, seed):
    """Strap upside down, the person lies on a side still 3-4 s, then clams (after a
    walk and sitting on the mat; in the routine, rolled over from the bridges). The
    excursion that left sitting, or the bridges' rest, had to be held 3 s there to end;
    one tick's stir 2.9 s in restarted that wait, and the first clams went by inside
    one excursion (4 of 8 counted; the routine 12 of 14 with the gyroscope, through a
    phone's export 10). Held is within 3 deg of one place now, a stir that stays there
    (50 deg and more from rest, farther than a bridge goes) pausing the count; and a
    place held a second farther from rest than any rep goes (88 deg: rolling from the
    back onto a side turns the thigh 85-96) is a new rest."""
    rec, truth = simulate(scenario, seed=seed, mount="arbitrary", gyro=scenario == "routine")
    out = detect(rec, leg="right")
    s = score_sim(out["reps"], out["holds"], truth, (float(rec.t[0]), float(rec.t[-1])))
    assert s["fn"] == 0 and s["fp"] == 0, (s["misses"], s["false_reps"])
    if scenario != "routine":
        _alike_on_the_board(rec, out)


def clams_after_a_stand(b, mount):
    """Standing still (the strap's nominal upright: the band trusts it), then down onto
    a side, still 3 s, and 8 clams."""
    A.rest(b, 5.0)
    _set(b, "clam", 8, 3.0)
    A.rest(b, 3.0)


def _all_8_count(scenario, seed, gyro, mode, placement="thigh", leg=None, mount="nominal"):
    """Person `seed` (legs alternate, unless `leg` is given) does `scenario`'s 8 reps: in
    `mode` all count, and nothing else does. The recording and the output, for more
    checks."""
    rec, truth = simulate(scenario, seed=seed, gyro=gyro, placement=placement, mount=mount,
                          leg=leg or ("right" if seed % 2 else "left"))
    out = detect(rec, exercise=mode, placement=placement)
    score = score_sim(out["reps"], out["holds"], truth, (float(rec.t[0]), float(rec.t[-1])))
    assert score["tp"] == 8 and score["fp"] == 0, score
    return rec, out


def bridges_after_a_stand(b, mount, tempo=None):
    """Standing still (the band trusts it as up), then down onto the back, still 3 s,
    and 8 bridges."""
    A.rest(b, 3.0)
    _set(b, "bridge", 8, 3.0, tempo=tempo)
    A.rest(b, 3.0)


def bridges_held_after_a_stand(b, mount):
    """The same, each bridge held 5 s at the top (as MEx's people were told) and 0.8 s
    between them."""
    bridges_after_a_stand(b, mount, tempo=(1.2, 5.0, 1.2, 0.8))


@pytest.mark.parametrize("scenario", [bridges_after_a_stand, bridges_held_after_a_stand])
@pytest.mark.parametrize("seed", [2, 8])
@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_bridges_after_a_stand_count_in_bridge_mode(scenario, seed, gyro):
    """Bridge mode after a stand but no walk: lying down lifts the knee from sitting, but
    for want of 3 s still on the mat that place passed for a bridge's top, and the set
    went by inside one 20 s excursion (10 people, both sensors, nominal and loose: 300 of
    320 counted, seed 2 none). With tops held 5 s and 0.8 s between, rest settled at a
    top and the reps counted from there lost the first ones (307 of 320). Once a stand
    and the flexion after it have shown up, a place held a second where the knee went up
    is a new rest, as after a walk (320 and 320)."""
    rec, out = _all_8_count(scenario, seed, gyro, "bridge")
    if scenario is bridges_held_after_a_stand and seed == 2 and not gyro:
        _alike_on_the_board(rec, out, "bridge")


@pytest.mark.parametrize("seed", [1, 5, 6, 7, 9])
@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_clams_after_a_stand_count_in_clam_mode(seed, gyro):
    """No rep starts standing. Clam mode knew it only once a walk had shown up: after a
    stand alone, lying down onto a side passed for the first clam's way up, and rest rode
    with it to that clam's top (10 people, both sensors, nominal and loose: 264 of 320
    counted). No clam starts upright once a stand and the flexion after it have shown up
    (286); nor does one start, or end, with the knee up or a turn that keeps the knee's
    height, as lying down onto a side from sitting does (318; auto mode 319). Seeds 1
    and 5 counted 4 of 8 without the second rule."""
    _all_8_count(clams_after_a_stand, seed, gyro, "clam")


@pytest.mark.parametrize("seed,mount", [(3, "nominal"), (4, "loose")])
@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_a_wearer_who_chose_clams_gets_none_from_bridges_after_only_a_stand(seed, mount, gyro):
    """Clam mode, a stand, then 8 bridges. The stand shows up, not yet forward (the
    strap's nominal one stands in): a bridge's way down from a top rest settled at
    lifted the knee and counted as a clam (8 people, both mounts and sensors: 48 false
    clams; 8 now). A clam turns the thigh about the hip-to-feet line, partly about its
    own length; a bridge turns it across it, and only up is needed to tell them."""
    _no_false_rep(bridges_after_a_stand, "clam", seed, gyro=gyro, mount=mount)


@pytest.mark.parametrize("scenario,mode,seed", [
    (walk_to_the_mat_for_clams, "bridge", 1), (walk_to_the_mat_for_clams, "bridge", 3),
    (walk_to_the_mat_for_bridges, "clam", 1), (walk_to_the_mat_for_bridges, "clam", 2)])
@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_a_hip_band_set_to_one_exercise_gets_none_from_the_other(scenario, mode, seed, gyro):
    """At the hip after a walk, a clam rolls the pelvis about its length and a bridge
    tilts it about its left-right axis. Bridge mode counted clams (6 people, both
    sensors: 59 false bridges of 96 clams), clam mode every bridge (96 of 96)."""
    _no_false_rep(scenario, mode, seed, gyro=gyro, placement="hip", mount="nominal")


def knees_swaying_after_a_stand(b, mount):
    """Standing still, then onto the back with the knees bent: the knees fall to one
    side and the other for 25 s."""
    A.rest(b, 3.0)
    A.go(b, "hook")
    A.rest(b, 3.0)
    A.supine_sway(b, 25.0)
    A.rest(b, 3.0)


@pytest.mark.parametrize("seed,mount", [(1, "nominal"), (3, "loose"), (8, "loose")])
@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_knees_swaying_after_only_a_stand_are_no_bridges_in_bridge_mode(seed, mount, gyro):
    """Bridge mode after a stand: knees falling to the side turn the thigh about the
    body's length, partly about its own (0.44-0.55 of the turn's axis along it), which
    a bridge never does (0.22 at most). They lower the knee as a bridge does, and only a
    walk made bridge mode ask which way it went (8 people, both mounts and sensors: 54
    false bridges; 4 now)."""
    _no_false_rep(knees_swaying_after_a_stand, "bridge", seed, board=seed == 8 and gyro, gyro=gyro, mount=mount)


@pytest.mark.parametrize("seed,mount", [(2, "arbitrary"), (3, "loose")])
@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_knees_swaying_after_only_a_stand_are_no_clams_in_clam_mode(seed, mount, gyro):
    """Clam mode after a stand: knees falling to the side turn the thigh about the
    body's length, partly about its own, as a clam does, and lift the knee of the leg
    that falls back (8 people, all three mounts, both sensors: 32 false clams; 18 now,
    10 of them before the band knew up). They rest with the knee 36-55 deg up; lying on
    a side for clams the thigh rests level."""
    _no_false_rep(knees_swaying_after_a_stand, "clam", seed, gyro=gyro, mount=mount)


def march_after_a_stand(b, mount):
    """Standing still, then onto the back with the knees bent: a leg marched toward the
    chest, again and again, for 20 s."""
    A.rest(b, 3.0)
    A.go(b, "hook")
    A.rest(b, 3.0)
    A.supine_march(b, 20.0)
    A.rest(b, 3.0)


@pytest.mark.parametrize("seed,mount", [(4, "nominal"), (5, "arbitrary"), (6, "loose"), (7, "nominal")])
@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_a_leg_marched_lying_down_after_only_a_stand_is_no_bridges_in_bridge_mode(seed, mount, gyro):
    """Bridge mode after a stand: a march lifts the knee toward the chest, the way a
    bridge's way back to its rest does, and only a walk made bridge mode ask which way
    the knee went (8 people, all three mounts, both sensors: 224 false bridges; 20 now,
    15 of them before the band knew up). A marched leg peaks with the knee within 26 deg
    of straight above the hip, where no bridge rests or peaks."""
    _no_false_rep(march_after_a_stand, "bridge", seed, board=seed == 4 and not gyro, gyro=gyro, mount=mount)


def _face_down_after_a_walk(b, seconds):
    """A walk, then lying face down: prone exercises for `seconds`."""
    _intro(b)
    A.go(b, "prone")
    A.rest(b, 3.0)
    A.prone_exercise(b, seconds)


def prone_exercises_after_a_walk(b, mount):
    _face_down_after_a_walk(b, 40.0)
    A.rest(b, 3.0)


@pytest.mark.parametrize("seed,mount", [(3, "loose"), (4, "nominal"), (5, "arbitrary"), (7, "nominal")])
@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_prone_exercises_after_a_walk_are_no_bridges_in_bridge_mode(seed, mount, gyro):
    """Bridge mode after a walk: a thigh lifted a little off the mat and lowered again,
    lying face down, brings the knee down as a bridge does (8 people, three mounts, both
    sensors: 230 false bridges). A bridge starts with the knee 24 deg above the hip or
    more (both body models: 30 and more; auto mode asks 30); face down the thigh lies
    near level (47 now: a thigh held lifted 24-26 deg, and the mount far askew)."""
    _no_false_rep(prone_exercises_after_a_walk, "bridge", seed, board=seed == 4 and gyro, gyro=gyro, mount=mount)


def _prone_exercises_then(exercise):
    def scenario(b, mount):
        """A walk, then prone exercises lying face down for 30 s, then 8 reps of
        `exercise`."""
        _face_down_after_a_walk(b, 30.0)
        A.rest(b, 2.0)
        _set(b, exercise, 8, 3.0)
        A.rest(b, 3.0)

    scenario.__name__ = f"prone_exercises_then_{exercise}s"
    return scenario


@pytest.mark.parametrize("exercise,mode", [("bridge", "auto"), ("clam", "auto"), ("clam", "clam")])
@pytest.mark.parametrize("seed,mount", [(2, "nominal"), (4, "loose"), (5, "nominal")])
@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_prone_exercises_after_a_walk_leave_forward_as_the_walk_showed_it(exercise, mode, seed, mount, gyro):
    """Lying face down after kneeling turns the thigh backward to level, as sitting turns
    it forward: taken for a hip flexion, it flipped the sign a walk had shown, and the
    bridges or clams after it read as no exercise (8 people, three mounts, both sensors:
    16 of 384 bridges and 32 of 384 clams counted in auto mode, 40 of 384 clams in clam
    mode). A level thigh no longer turns round the strap's nominal sign the walk kept;
    the knee held up lying on the back, or a set, settles it (246, 256 and 264: the
    rest at the mount far askew, where the sign is a guess a sit settles, but one
    person's bridges at the loose mount)."""
    out, s = _run(_prone_exercises_then(exercise), seed=seed, mode=mode, gyro=gyro, mount=mount,
                  leg="right" if seed % 2 else "left")
    assert s["tp"] == 8 and s["fp"] == 0, out["reps"]


@pytest.mark.parametrize("seed", [2, 4, 5, 7, 8])
def test_a_wearer_who_chose_bridges_walks_to_the_mat_and_lies_down(seed):
    """Bridge mode, from the first step. Before the band has seen the person stand, two
    turns as quick as strides (each under 1.5 s, a stride apart) are a walk's, as in
    auto mode: they open no set (seeds 4 and 7 counted 5 false reps each). Lying down
    from sitting is no bridge's top (seeds 2, 5 and 8 lost 2-5 bridges; see the test
    above)."""
    out, s = _run(walk_to_the_mat_for_bridges, seed=seed, mode="bridge", mount="nominal")
    assert s["fp"] == 0 and s["fn"] == 0, out["reps"]


@pytest.mark.parametrize("seed", [2, 4, 6, 7])
@pytest.mark.parametrize("mount", ["nominal", "arbitrary"])
@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_a_wearer_who_chose_clams_gets_no_clams_from_bridges_once_up_is_known(seed, mount, gyro):
    """Clam mode after a walk, 8 bridges. Each bridge lowers the knee from a rest with the
    knee up, and rest settled at its top: the way back down lifted the knee and counted
    as a clam (171 false reps in 24 sessions of 6 people; 50 at stop 32, where rest
    settled at a top with the knee under 12 deg up). A clam starts and ends with the
    thigh lying level on its side, the top knee no higher than the hip; once forward is
    known too, with its outer side up, within 45 deg as in auto mode (lying on the back
    it is level: 18 with the outer side only not facing down, seeds 4 and 7 among them;
    2 now)."""
    out, s = _run(walk_to_the_mat_for_bridges, seed=seed, mode="clam", gyro=gyro, mount=mount)
    assert s["fp"] == 0, out["reps"]
    if seed == 2 and mount == "nominal" and not gyro:
        rec, _ = simulate(walk_to_the_mat_for_bridges, seed=seed, mount=mount, gyro=gyro)
        _alike_on_the_board(rec, out, "clam")


def _the_other_legs_clams(b):
    """Onto the band's side, still 3 s: the other leg's 8 clams, the band's thigh
    underneath."""
    A.go(b, A.side_down_for(b, False))
    A.rest(b, 3.0)
    A.clam_other_leg(b, 8)
    A.rest(b, 3.0)


def clams_then_the_other_side(b, mount):
    """A walk, 8 clams with the band's leg on top, then over: the other leg's 8."""
    _walk_to_the_mat(b, "clam", 3.0)
    _the_other_legs_clams(b)


def the_other_side_first(b, mount):
    """A walk, the other leg's 8 clams, then over: 8 with the band's leg on top."""
    _intro(b)
    _the_other_legs_clams(b)
    _set(b, "clam", 8, 3.0)
    A.rest(b, 3.0)


@pytest.mark.parametrize("scenario,seed,mount", [
    *((clams_then_the_other_side, seed, "nominal") for seed in (4, 6)),
    *((the_other_side_first, seed, "loose") for seed in (1, 5, 8))])
@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_a_wearer_who_chose_clams_gets_none_from_the_other_legs_clams(scenario, seed, mount, gyro):
    """Clam mode, both sides. Underneath, the band's thigh lies on its outer side, and
    some people's rocks 5-25 deg with each clam of the other leg, lifting its knee as a
    clam does (8 people each way, both sensors: 88 false clams; 2 now, one person's
    first rocks before the frame was known). Once it is, a clam starts with the
    thigh's outer side up, as in auto mode."""
    rec, out = _all_8_count(scenario, seed, gyro, "clam", mount=mount)
    if seed == 4 and gyro:
        _alike_on_the_board(rec, out, "clam")


def bridges_then_clams_on_both_sides(b, mount):
    """A walk, 8 bridges, then clams: 8 with the band's leg on top, 8 of the other leg."""
    _walk_to_the_mat(b, "bridge", 3.0)
    _set(b, "clam", 8, 3.0)
    A.rest(b, 3.0)
    _the_other_legs_clams(b)


@pytest.mark.parametrize("seed,mount", [(2, "nominal"), (3, "nominal"), (1, "loose"), (5, "loose"),
                                        (2, "arbitrary"), (6, "arbitrary")])
@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_a_wearer_who_chose_bridges_gets_none_from_clams_once_forward_is_known(seed, mount, gyro):
    """Bridge mode, then clams on both sides. A bridge turns the thigh in the body's
    sagittal plane: the thigh's outer side stays level at rest and at the top. Lying on
    a side it faces up or down (8 people, both sensors, three mounts: 308 false bridges
    from the clams, 0 now)."""
    rec, out = _all_8_count(bridges_then_clams_on_both_sides, seed, gyro, "bridge", mount=mount)
    if seed == 2 and gyro:
        _alike_on_the_board(rec, out, "bridge")


@pytest.mark.parametrize("scenario,exercise,seed", [
    *((walk_to_the_mat_for_bridges, "bridge", seed) for seed in range(1, 6)),
    (walk_to_the_mat_for_clams, "clam", 1), (walk_to_the_mat_for_clams, "clam", 6)])
@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_a_hip_band_in_a_named_mode_counts_after_a_walk(scenario, exercise, seed, gyro):
    """Which way the knee went is the thigh's to tell: at the hip the band's long axis is
    the pelvis's, which a bridge tilts and a clam rolls about. Bridge and clam mode took
    the pelvis's for the thigh's once a walk had shown up (5 people, both sensors and
    mounts: 143 of 160 bridges, now 160; 15 of 160 clams, now 86: the others' pelvises
    roll too little for a clam to show)."""
    _all_8_count(scenario, seed, gyro, exercise, placement="hip")


def walk_about(b, mount):
    A.rest(b, 2.0)
    A.walk(b, 35.0)


def test_a_walk_leaves_the_hips_forward_axis_as_it_was():
    """At the hip a walk calibrates up, never forward: the pelvis sways side to side as it
    walks, and taking that sway for forward turned every bridge and clam after the walk
    into no exercise (accelerometer only, where the walk is seen: 0 of 38 counted)."""
    out, s = _run("routine", seed=2, placement="hip", gyro=False, mount="nominal", leg="left")
    methods = [c["method"] for c in out["calibration"]]
    assert len(methods) > 1 and "set" not in methods  # stands; forward was never lost
    assert s["tp"] == 38 and s["fp"] == 0 and s["fn"] == 0, s


@pytest.mark.parametrize("mode", ["bridge", "clam"])
def test_a_day_about_the_house_with_a_hip_band_set_to_one_exercise_is_no_reps(mode):
    """Bridge or clam mode counts any turn like the exercise, but every exercise is done
    lying: at the hip, once a stand has shown up, no rep starts with the pelvis upright
    (squats, stairs; this simulated day counted 8 bridges, or 8 clams)."""
    out, _ = _run("daily", seed=1, mode=mode, placement="hip", mount="nominal")
    assert out["counts"]["total"] == 0, out["reps"]


def _hip_band_round_the_waist(scenario, seed):
    """A hip session with the band a quarter round the waist from its nominal place (at
    the front of the pelvis, say): standing shows up, nothing shows which way it faces."""
    rec, truth = simulate(scenario, seed=seed, placement="hip", mount="nominal", leg="right")
    rec = turned(rec, Rotation.from_euler("x", 90.0, degrees=True).as_matrix())
    out = detect(rec, exercise="auto", placement="hip")
    return out, score_sim(out["reps"], out["holds"], truth, (float(rec.t[0]), float(rec.t[-1])))


@pytest.mark.parametrize("seed", [2, 3])
def test_a_set_of_bridges_shows_which_way_a_hip_band_faces(seed):
    """Lying on the back the belly faces up, and a bridge turns the pelvis about its
    left-right axis: a held set of bridges gives forward, and is counted (it was held
    for good, then reported as not counted). Seed 3 holds its tops longer than it rests
    between them, so its sets are held from the tops, the pelvis tilted 34 deg."""
    out, s = _hip_band_round_the_waist("bridges", seed)
    assert [c["method"] for c in out["calibration"]] == ["standing", "set"]
    assert s["tp"] >= 0.95 * (s["tp"] + s["fn"]) and s["fp"] <= 1, s


def test_a_hip_set_no_frame_names_is_reported_not_dropped():
    """The same band, clams only: nothing shows forward, and the set is reported as not
    counted, never dropped without a word."""
    out, s = _hip_band_round_the_waist("clams", 6)
    assert s["tp"] == 0 and s["fp"] == 0
    assert [x["count"] for x in out["sets"] if x["exercise"] is None] == [28]


def test_a_walk_shows_up_to_a_hip_band_worn_anywhere_round_the_waist():
    """With the gyroscope a simulated pelvis tilts in a walk 0.73-0.88 of the walking
    threshold the hip had (HAPT's real walks 1.0-2.3 times it): a band at a mount that
    never stood near its nominal upright learnt nothing from its walk. Its bridges were
    held until, 323 s in, lying still on its side between the clams (a pose this mount
    reads as its nominal upright) calibrated it on trust, and then reported as not
    counted. Until up is known a walk at the hip needs less sway (its footfalls still
    have to be there), so the stand next to it calibrates the band and the bridges
    count."""
    rec, truth = simulate("routine", seed=1, mount="arbitrary", placement="hip", leg="right")
    out = detect(rec, exercise="auto", placement="hip")
    first = out["calibration"][0]
    assert first["method"] == "standing" and first["t"] - float(rec.t[0]) < 20.0
    assert [(x["exercise"], x["count"]) for x in out["sets"]] == [("bridge", 11)]


def test_a_hip_set_held_before_a_stand_is_reported_when_the_stand_cannot_name_it():
    """The same band switched on at the mat (the session's walk cut): its set of bridges
    is held. 293 s in, lying still on its side (a pose this mount reads as its nominal
    upright) calibrates up on trust, which names no bridges and shows not which way the
    band faces: the set is reported as not counted, not dropped."""
    rec, _ = simulate("routine", seed=1, mount="arbitrary", placement="hip", leg="right")
    i = int(np.searchsorted(rec.t, rec.t[0] + 30.0))
    rec = Recording(t=rec.t[i:], acc=rec.acc[i:], gyro=rec.gyro[i:], meta=rec.meta)
    out = detect(rec, exercise="auto", placement="hip")
    assert [c["method"] for c in out["calibration"]] == ["standing"]
    assert out["calibration"][0]["t"] > max(x["t_end"] for x in out["sets"])
    assert [(x["exercise"], x["count"]) for x in out["sets"]] == [(None, 11)]
    # What to do next time: a walk cannot show which way a hip band faces; its nominal
    # place or bridges can.
    text = io.StringIO()
    human_summary(out, "session", out=text)
    assert "over the side of your pelvis" in text.getvalue() and "walk a few steps" not in text.getvalue()


def test_a_hip_detector_made_with_the_last_streams_calibration_walks_as_calibrated():
    """The app makes a new detector on every wake (and on a clock rebase or a new mode),
    handing it the calibration it had. At the hip a calibrated one needs a walk's full
    sway: given the lower threshold of a band not yet calibrated, this session split 45 s
    in saw walks the whole one did not, and the stands next to them moved up twice more
    (355 s and 359 s in)."""
    rows = to_samples(simulate("routine", seed=1, placement="hip", mount="nominal", leg="right")[0])
    cut = rows[0][0] + 45000
    kw = dict(leg=E.SIDE_RIGHT, placement=E.PLACEMENT_HIP)
    whole = _events(rows, **kw)
    split = []
    before = Detector(split.append, **kw)
    for r in rows[rows[:, 0] < cut]:
        before.push(*(int(v) for v in r))
    assert before.frame.calibrated
    _events_into(split, rows[rows[:, 0] >= cut], frame=before.frame, **kw)

    def after_cut(evs):
        return [e[:3] for e in evs if e[0] == E.EV_CALIBRATED and e[1] >= cut]

    assert after_cut(split) == after_cut(whole) == []
    assert [e[2] for e in split if e[0] == E.EV_REP] == [e[2] for e in whole if e[0] == E.EV_REP]


def test_pelvis_tilts_lying_on_a_side_show_a_hip_band_no_forward():
    """Standing, then lying on a side: four 25 deg tilts of the pelvis about its front-back
    axis, tops held 1.5 s, its lower end going down (hips lifted from the floor, as in a
    side plank). Up and the pelvis's axis alone cannot tell that from bridges by a band
    a quarter round the waist, but a bridge lifts the lower end: no forward is taken
    from it, and the set is reported as not counted (it was counted as 4 bridges, and
    later bridges on the back would then have been dropped)."""
    fs = 104.0
    t = np.arange(int(60 * fs)) / fs
    lie = np.clip((t - 6.0) / 2.0, 0.0, 1.0) * np.pi / 2  # up turns from -x to +z
    tilt = np.zeros_like(t)
    for t0 in (14.0, 22.0, 30.0, 38.0):
        tilt += np.radians(25.0) * np.clip(np.minimum(t - t0, t0 + 3.5 - t), 0.0, 1.0)
    up = np.column_stack([-np.cos(lie) - np.sin(tilt), 0.0 * t, np.sin(lie) * np.cos(tilt)])
    up /= np.linalg.norm(up, axis=1, keepdims=True)
    rows = np.column_stack([np.round(t * 1000).astype(int), np.round(up * 1000).astype(int),
                            np.zeros((len(t), 3), int)])
    events = _events(rows, placement=E.PLACEMENT_HIP, gyro=False)
    assert [e[2] for e in events if e[0] == E.EV_CALIBRATED] == [E.CAL_STANDING]
    assert not [e for e in events if e[0] == E.EV_REP]
    assert [(e[3], e[5]) for e in events if e[0] == E.EV_SET] == [(E.EX_NONE, 4)]


@pytest.mark.parametrize(("seed", "gyro"), [(2, True), (2, False), (5, True)])
def test_a_wearer_who_chose_bridges_and_walks_about_counts_no_bridge(seed, gyro):
    """Bridge mode, a walk joined 5 s in (the band has seen no stand). A stride that
    jolts as footfalls do, 3 s into a walk, is no bridge, and ends any set: these
    walks counted 3, 8 and 2 bridges."""
    rec, _ = simulate(walk_about, seed=seed, mount="arbitrary", gyro=gyro)
    i = int(np.searchsorted(rec.t, rec.t[0] + 7.0))
    gyr = None if rec.gyro is None else rec.gyro[i:]
    out = detect(Recording(t=rec.t[i:], acc=rec.acc[i:], gyro=gyr, meta=rec.meta), exercise="bridge")
    assert out["counts"]["total"] == 0, out["reps"]


@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_stairs_and_sitting_down_are_never_reps(gyro):
    out, _ = _run(stairs_and_chairs, seed=4, gyro=gyro, mount="arbitrary")
    assert out["counts"]["total"] == 0, out["reps"]


def _events(rows, **kw):
    return _events_into([], rows, **kw)


def _events_into(out, rows, **kw):
    det = Detector(out.append, **kw)
    for r in rows:
        det.push(*(int(v) for v in r))
    det.finish(int(rows[-1][0]))
    return out


def test_jolts_make_a_turn_no_rep():
    """Three alike 20 deg turns, a bridge set: counted; the same with a hop's jolts in
    them (|a| 2.5 g at every landing, twice a second): none, in any mode."""
    fs = 104.0
    t = np.arange(int(40 * fs)) / fs
    tilt = np.zeros_like(t)
    for t0 in (10.0, 20.0, 30.0):
        tilt += 20.0 * np.clip(np.minimum(t - t0, t0 + 5.0 - t), 0.0, 1.0)
    a = np.radians(tilt)
    acc = np.column_stack([np.sin(a), -np.cos(a), 0.0 * t])  # a thigh turning in x-y
    jolt = 1.0 + 1.5 * (np.sin(2 * np.pi * 2.0 * t) > 0.95) * (tilt > 1.0)  # landings: 2.5 g

    def rows(scale):
        m = np.round(acc * scale[:, None] * 1000).astype(int)
        return np.column_stack([np.round(t * 1000).astype(int), m, np.zeros((len(t), 3), int)])

    calm = _events(rows(np.ones_like(t)), mode=E.MODE_BRIDGE, gyro=False)
    assert sum(1 for e in calm if e[0] == E.EV_REP) == 3
    jolted = _events(rows(jolt), mode=E.MODE_BRIDGE, gyro=False)
    assert not [e for e in jolted if e[0] == E.EV_REP]


def test_a_set_landing_hard_after_each_rep_counts_every_rep():
    """Five 20 deg bridges, 1.2 s apart, the hips dropping onto the mat harder as the set
    goes on: from the second rep on each landing jolts |a| to 3 g for 80 ms. A jolt that
    recent before a turn makes it no rep (a stair, a hop), but not the set's own last rep
    landing: every rep counts (MEx's hardest landings, at 12.5-33 Hz or a slower pace,
    had taken one or two reps from a set of clams or bridges)."""
    fs = 104.0
    t = np.arange(int(40 * fs)) / fs
    tilt = np.zeros_like(t)
    landings = []
    for k, t0 in enumerate(np.arange(5.0, 30.0, 5.2)):
        tilt += 20.0 * np.clip(np.minimum(t - t0, t0 + 4.0 - t), 0.0, 1.0)
        if k:
            landings.append(t0 + 4.0)
    a = np.radians(tilt)
    acc = np.column_stack([np.sin(a), -np.cos(a), 0.0 * t])
    thump = np.ones_like(t)
    for t1 in landings:
        thump[(t >= t1) & (t < t1 + 0.08)] = 3.0
    m = np.round(acc * thump[:, None] * 1000).astype(int)
    rows = np.column_stack([np.round(t * 1000).astype(int), m, np.zeros((len(t), 3), int)])
    out = _events(rows, mode=E.MODE_BRIDGE, gyro=False)
    assert sum(1 for e in out if e[0] == E.EV_REP and not e[4]) == 5, out


@pytest.mark.parametrize("pause", [4.0, 6.0, 8.0])
def test_a_slow_way_down_that_pauses_short_of_the_mat_counts_every_rep(pause):
    """Six 25 deg bridges, each lowered slowly with a 1 s pause `pause` deg short of the
    mat, then on down. The pause settles as rest, so the last few degrees down are a
    small turn the other way from the set's reps: the thigh still settling, not a rep,
    and the next rep starts from the mat (it had carried rest along with it, up to the
    next top, and the set lost reps: MEx at a slower and uneven pace)."""
    fs = 104.0
    t = np.arange(int(70 * fs)) / fs
    kt, kv = [0.0], [0.0]
    for t0 in np.arange(4.0, 64.0, 10.0):
        for dt, v in ((0.0, 0.0), (1.5, 25.0), (4.5, 25.0), (6.0, pause), (7.0, pause), (8.0, 0.0)):
            kt.append(t0 + dt)
            kv.append(v)
    a = np.radians(np.interp(t, kt, kv))
    m = np.round(np.column_stack([np.sin(a), -np.cos(a), 0.0 * t]) * 1000).astype(int)
    rows = np.column_stack([np.round(t * 1000).astype(int), m, np.zeros((len(t), 3), int)])
    out = _events(rows, mode=E.MODE_BRIDGE, gyro=False)
    assert sum(1 for e in out if e[0] == E.EV_REP and not e[4]) == 6, out


def _turned_strap(scenario, axis="x", gyro=True, rotation=None, leg="right", seed=5):
    """The strap turned 90 deg about the thigh (x): forward and outward are swapped, so
    lying on the back looks like no exercise in the strap's nominal frame. About y, the
    band's x lies across the thigh, as a phone's may in a pocket. Or any `rotation`."""
    from repband.sim import scenarios, sensor

    def draw(rng, tier):
        return rotation or Rotation.from_euler(axis, 90, degrees=True)

    orig = sensor.draw_mount
    scenarios.draw_mount = draw
    try:
        return simulate(scenario, seed=seed, mount="arbitrary", gyro=gyro, leg=leg)
    finally:
        scenarios.draw_mount = orig


def bridges_no_walk(b, mount):
    """Straight down to the floor, no stand or walk first: nothing to calibrate from."""
    _set(b, "bridge", 8, 3.0)
    A.rest(b, 3.0)


def bridges_then_walk(b, mount):
    bridges_no_walk(b, mount)
    A.go(b, "stand")
    A.rest(b, 2.0)
    A.walk(b, 12.0)
    A.rest(b, 3.0)
    A.go(b, "sit")  # sitting down tells forward
    A.rest(b, 3.0)


def test_a_set_the_band_cannot_name_is_reported_never_dropped_without_a_word():
    """The band's x across the thigh: neither the guessed frame nor the set's own shape
    (see below) can name the set."""
    rec, truth = _turned_strap(bridges_no_walk, axis="y")
    out = detect(rec)
    assert out["counts"]["total"] == 0  # precision first: no guess at the exercise
    assert out["fault_counts"].get("uncalibrated") == 1  # the band asked for a calibration
    uncounted = [s for s in out["sets"] if s["exercise"] is None]
    assert len(uncounted) == 1 and abs(uncounted[0]["count"] - 8) <= 1


def test_a_held_set_is_counted_once_a_walk_calibrates():
    rec, truth = _turned_strap(bridges_then_walk, axis="y")
    out = detect(rec)
    s = score_sim(out["reps"], out["holds"], truth, (float(rec.t[0]), float(rec.t[-1])))
    assert (s["tp"], s["fp"]) == (8, 0), (s["misses"], s["false_reps"])  # at their own times
    assert [x["exercise"] for x in out["sets"]] == ["bridge"]


@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_bridges_through_a_strap_turned_round_the_thigh_wait_for_a_stand_or_a_walk(gyro):
    """Turned a quarter round the thigh, with no stand or walk first, the strap is far
    from its nominal mount, and a set alone cannot show where the thigh points through
    it (press-ups lying prone turn it as bridges do: MEx's sensors spun). The band asks
    for a calibration and reports the set as not counted (it took the set's shape for
    the frame before); the walk and the sit after it give the frame, and every bridge
    counts at its own time."""
    rec, truth = _turned_strap(bridges_no_walk, gyro=gyro)
    out = detect(rec)
    assert out["counts"]["total"] == 0 and out["calibration"] == []
    assert out["fault_counts"].get("uncalibrated") == 1
    assert [(x["exercise"], x["count"]) for x in out["sets"]] == [(None, 8)]
    rec, truth = _turned_strap(bridges_then_walk, gyro=gyro)
    out = detect(rec)
    s = score_sim(out["reps"], out["holds"], truth, (float(rec.t[0]), float(rec.t[-1])))
    assert (s["tp"], s["fp"]) == (8, 0), (s["misses"], s["false_reps"])


@pytest.mark.parametrize("scenario,seed,mount,method", [
    (walk_to_the_mat_for_bridges, 5, "nominal", "forward"), (walk_to_the_mat_for_clams, 2, "arbitrary", "set")])
def test_a_flexion_far_round_the_thigh_from_a_walks_axis_leaves_forward_to_a_sit_or_the_set(
        scenario, seed, mount, method):
    """Accelerometer only, a walk can show forward's axis 50 deg off (1 of 60 walks to the
    mat; the others 17 at most), and a flexion only settled its sign. Person 5's bridges
    then turned out of the frame's sagittal plane: the set counted none and was reported
    as nothing, a silent zero. Sitting down on the mat was 56 deg from that axis, round
    the thigh: now a flexion over 45 deg from it leaves the whole axis to a plain sit
    (this one, 3 deg off) or to a set. Person 2 (strap upside down) held a clam's top 47
    deg from it: with up known from the stand, the set of clams shows forward."""
    rec, out = _all_8_count(scenario, seed, False, "auto", leg="right", mount=mount)
    assert out["calibration"][-1]["method"] == method
    if method == "set":
        _alike_on_the_board(rec, out)


@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_bridges_through_a_strap_slanted_30_deg_are_never_named_clams(gyro):
    """Slanted 30 deg on the thigh, the strap's x is off the bridges' plane: they fail
    the bridges' test, and the thigh lies level enough and each bridge lifts the knee
    enough for a clam. But a bridge turns the thigh about an axis across it and lifts
    the knee by 0.95 of its turn; a clam turns it about the hip-to-feet line and lifts
    it by 0.9 at most. The set had calibrated the band as clams and counted 8 of them;
    it is reported as not counted now."""
    rec, truth = _turned_strap(bridges_no_walk, gyro=gyro, seed=5,
                               rotation=Rotation.from_rotvec([7.31, -3.0, -28.94], degrees=True))
    out = detect(rec)
    assert not [r for r in out["reps"] if r["exercise"] == "clam"]
    assert [(x["exercise"], x["count"]) for x in out["sets"]] == [(None, 8)]
    assert out["calibration"] == []


def clams_lying_on_a_side(b, mount):
    """On a side (the recording starts there: no stand, no walk, as the shared sim-dev's
    clam sessions), then a set of clams."""
    A.go(b, A.side_down_for(b, True))
    t = b.t
    A.rest(b, 3.0)
    b.mark("recording starts", t, b.t)
    A.clam_set(b, 10)
    A.rest(b, 3.0)


def _alike_on_the_board(rec, out, mode="auto"):
    """The board's MicroPython gives `rec` the same output as CPython gave (`out`)."""
    mpy = detect(rec, exercise=mode, engine="micropython")
    assert {k: v for k, v in mpy.items() if k != "engine"} == {k: v for k, v in out.items() if k != "engine"}


def _from_the_mark(rec, truth):
    """The recording from where the scenario marked it starts."""
    t0 = next(d["t_start"] for d in truth["distractors"] if d["kind"] == "recording starts")
    i = int(np.searchsorted(rec.t, t0))
    return Recording(t=rec.t[i:], acc=rec.acc[i:], gyro=None if rec.gyro is None else rec.gyro[i:], meta=rec.meta)


@pytest.mark.parametrize("slant", [-20, -30])
@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_a_set_of_clams_calibrates_a_slanted_strap_that_never_stood(slant, gyro):
    """Put on crooked, slanted on the thigh (sensor x 20-30 deg off it, toward the
    hip-to-feet line the clams turn about), the strap's guessed frame cannot name the
    clams: the band asks for a calibration and holds the set. From the third clam its
    shape calibrates the band (the thigh level, each clam lifting the knee 12 deg and
    more, the top held, the thigh still between them), and all its reps count at their
    own times, on the right side. The strap sees the knee rise by less of each clam's
    turn (0.37 of it at 20 deg, where 0.45 had been asked), but by 12 deg and more, as
    it never does in press-ups lying prone (9-10 deg)."""
    rec, truth = _turned_strap(clams_lying_on_a_side, gyro=gyro, rotation=Rotation.from_euler("z", slant, degrees=True))
    rec = _from_the_mark(rec, truth)
    out = detect(rec)
    s = score_sim(out["reps"], out["holds"], truth, (float(rec.t[0]), float(rec.t[-1])))
    assert (s["tp"], s["fp"]) == (10, 0), (s["misses"], s["false_reps"])
    assert s["side_correct"] == 10
    assert out["fault_counts"].get("uncalibrated") == 1
    assert [c["method"] for c in out["calibration"]] == ["set"]
    if slant == -20 and gyro:  # the board's MicroPython calibrates and counts alike
        _alike_on_the_board(rec, out)


@pytest.mark.parametrize("angle, slant", [(90, 0), (180, 0), (270, 0), (180, -20)])
@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_clams_through_a_strap_turned_round_the_thigh_that_never_stood_are_reported(angle, slant, gyro):
    """Turned a quarter or half way round the thigh, the strap is far from its nominal
    mount: a set alone cannot show where the thigh points through it (knee rolling
    turns it as clams do: MEx's sensors spun), so the band asks for a calibration and
    reports the set, every clam of it, as not counted (it took the set's shape for the
    frame before)."""
    rot = Rotation.from_euler("z", slant, degrees=True) * Rotation.from_euler("x", angle, degrees=True)
    rec, truth = _turned_strap(clams_lying_on_a_side, gyro=gyro, rotation=rot)
    out = detect(_from_the_mark(rec, truth))
    assert out["counts"]["total"] == 0 and out["calibration"] == []
    assert out["fault_counts"].get("uncalibrated") == 1
    assert [(x["exercise"], x["count"]) for x in out["sets"]] == [(None, 10)]


def stand_bridges_march(b, mount):
    """A stand (no walk), lowered slowly onto the back (too slowly for a sit to show
    forward), a set of bridges, then a leg marched toward the chest."""
    A.rest(b, 4.0)
    b.move_to(A.target(b, "hook"), 7.0)
    b.posture = "hook"
    A.rest(b, 3.0)
    A.bridge_set(b, 6)
    A.rest(b, 4.0)
    A.supine_march(b, 12.0)
    A.rest(b, 3.0)


@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_bridges_named_in_a_frame_trusted_on_a_stand_show_forward(gyro):
    """Standing near its nominal upright, the band trusts the strap's forward; its set of
    bridges, named in that frame, shows forward is right. The march after them is no
    exercise then, not a set the band could not count: it had asked for a calibration
    and reported the march as a set not counted (and through a strap askew, knees
    swaying to the sides in its place had calibrated the band as bridges)."""
    rec, truth = simulate(stand_bridges_march, seed=3, mount="nominal", gyro=gyro, leg="right")
    out = detect(rec)
    assert [(x["exercise"], x["count"]) for x in out["sets"]] == [("bridge", 6)]
    assert [c["method"] for c in out["calibration"]] == ["standing"]
    assert "uncalibrated" not in out["fault_counts"]
    if gyro:
        _alike_on_the_board(rec, out)


@pytest.mark.parametrize("angle", [90, 180, 270])
def test_a_stand_shows_a_strap_turned_round_the_thigh_lies_along_it_and_the_set_shows_forward(angle):
    """Turned round the thigh, the strap is far from its nominal mount, but standing
    still its x hangs upright: the band trusts that (x lies down the thigh), and the
    set of bridges then shows which way the strap faces. Without the stand a set
    alone cannot, and is reported as not counted (above)."""
    rec, truth = _turned_strap(stand_bridges_march, seed=3, rotation=Rotation.from_euler("x", angle, degrees=True))
    out = detect(rec)
    s = score_sim(out["reps"], out["holds"], truth, (float(rec.t[0]), float(rec.t[-1])))
    assert s["fp"] == 0 and s["tp"] >= 5, (s["misses"], s["false_reps"])
    assert out["sets"][0]["exercise"] == "bridge"
    assert [c["method"] for c in out["calibration"]] == ["standing", "set"]


def march_then_bridges(b, mount):
    """On the back (the recording starts there: no stand, no walk), a leg marched toward
    the chest, then a set of bridges a few seconds after (as the shared sim-dev's hard
    sessions do)."""
    A.go(b, "hook")
    t = b.t
    A.rest(b, 3.0)
    b.mark("recording starts", t, b.t)
    A.supine_march(b, 10.0)
    A.rest(b, 4.0)
    A.bridge_set(b, 8)
    A.rest(b, 3.0)


@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_bridges_after_a_march_lying_down_are_a_set_of_their_own(gyro):
    """Through a strap turned round the thigh the march and the bridges are sets the
    band cannot name. They turn the thigh opposite ways, so they are two held sets, each
    reported with its own reps (as one set, opened by the march, the bridges were lost
    in it: 0 of 8, and the shared sim-dev's hard session with its strap turned a quarter
    0 of 26)."""
    rec, truth = _turned_strap(march_then_bridges, gyro=gyro, seed=1)
    out = detect(_from_the_mark(rec, truth))
    assert out["counts"]["total"] == 0 and out["fault_counts"].get("uncalibrated") == 2
    assert [(x["exercise"], x["count"]) for x in out["sets"]] == [(None, 3), (None, 8)]


def bridge_clam(b, mount):
    """Bridges, then clams, with no stand or walk first (the name seeds the simulator);
    then up and a walk."""
    A.go(b, "hook")
    A.rest(b, 3.0)
    A.bridge_set(b, 10)
    A.rest(b, 5.0)
    A.go(b, A.side_down_for(b, True))
    A.rest(b, 3.0)
    A.clam_set(b, 10)
    A.rest(b, 3.0)
    A.go(b, "stand")
    A.rest(b, 2.0)
    A.walk(b, 12.0)
    A.rest(b, 3.0)


@pytest.mark.parametrize("mount", ["upside-down", "arbitrary"])
@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_sets_through_a_band_far_from_its_mount_are_reported_never_counted_in_a_wrong_frame(mount, gyro):
    """Bridges, then clams, before any stand or walk, through a band upside down (and a
    little askew: lying on the back with the knees bent it looks like one standing at
    the nominal mount, and it trusts that as a stand) or at a mount the simulator drew
    with x far off the thigh. Neither frame can name the sets, nor can a set show where
    the thigh points through such a mount: both are reported as not counted, never
    counted as what the wrong frame makes of them. (The set of bridges had calibrated
    these bands before, taking x up the thigh; a set's shape now takes the strap's own x
    down it, and only near its nominal mount or after a stand showed it hanging upright.)
    The walk after them shows up, not forward, and counts nothing either."""
    if mount == "upside-down":
        rec, truth = _turned_strap(bridge_clam, gyro=gyro,
                                   rotation=Rotation.from_rotvec([11.88, -10.85, -176.41], degrees=True))
    else:
        rec, truth = simulate(bridge_clam, seed=8, mount="arbitrary", gyro=gyro, leg="left")
    out = detect(rec)
    assert out["counts"]["total"] == 0, out["reps"]
    assert [(x["exercise"], x["count"]) for x in out["sets"]] == [(None, 10), (None, 10)]
    assert out["fault_counts"].get("uncalibrated") == 2
    assert "set" not in [c["method"] for c in out["calibration"]]


def walk_only(b, mount):
    A.rest(b, 0.5)
    A.walk(b, 15.0)


@pytest.mark.parametrize("seed", [6, 7])
@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_walking_alone_calibrates_any_mount(seed, gyro):
    """A 15 s walk with no stand before or after it (a phone in a trouser pocket)."""
    rec, truth = simulate(walk_only, seed=seed, mount="arbitrary", gyro=gyro)
    out = []
    samples = to_samples(rec)
    det = Detector(out.append, leg=E.SIDE_RIGHT, gyro=gyro)
    for r in samples.tolist():
        det.push(*r)
    cal = [e for e in out if e[0] == E.EV_CALIBRATED]
    assert cal and cal[0][2] == E.CAL_WALKING
    mount = Rotation.from_rotvec(np.radians(truth["mount_rotvec_deg"]))  # nominal <- sensor
    thigh = mount.inv().apply([1.0, 0.0, 0.0])  # body x (down the thigh), sensor frame
    got = np.array([det.frame.xx, det.frame.xy, det.frame.xz])
    assert np.degrees(np.arccos(min(1.0, float(got @ thigh)))) < 12.0


def march_lying_down(b, mount):
    A.go(b, "hook")
    A.rest(b, 3.0)
    A.supine_march(b, 20.0)
    A.rest(b, 3.0)


def test_a_leg_marched_lying_down_is_no_walk_to_calibrate_from():
    out, _ = _run(march_lying_down, seed=8, mount="arbitrary")
    assert not [c for c in out["calibration"] if c["method"] in ("walking", "standing")]


@pytest.mark.parametrize("seed,leg", [(13, "right"), (14, "left"), (17, "left")])
def test_fast_clams_wobbling_at_the_top_are_no_walk(seed, leg):
    """Accelerometer only: quick clams whose knee wobbles at the top turn as often as a
    stride does, but a turn that is slow and has no footfall in it is no stride."""
    out, s = _run("clams", seed=seed, leg=leg, mount="arbitrary", gyro=False)
    assert s["fn"] == 0 and s["fp"] == 0, s["misses"]


def _fast_clams(tempo):
    def scenario(b, mount):
        _intro(b)
        _set(b, "clam", 10, 4.0, tempo=tempo)
        A.rest(b, 3.0)

    scenario.__name__ = "intro_fast_clams"
    return scenario


@pytest.mark.parametrize("tempo", [(0.9, 0.2, 0.9, 0.2), (0.8, 0.1, 0.8, 0.1)], ids=["2.2s", "1.8s"])
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_fast_clams_back_to_back_count_once_the_band_knows_up(tempo, seed, gyro):
    """Clams 1.8-2.2 s each with no rest between (the shared sim-dev draws some 1.4-1.6 s
    long): they swing the thigh a turn a second and jolt it at each turn, much as a
    walk's strides do, and two of them a stride apart looked like a climb's first
    steps. Once a calibration has shown up, the thigh lying level is no walk: nobody
    walks lying down (2-6 of 10 counted before at 2.2 s, none at 1.8 s). Person 4's
    walk shows forward's axis but not its sign: up is enough."""
    rec, truth = simulate(_fast_clams(tempo), seed=seed, gyro=gyro)
    out = detect(rec)
    s = score_sim(out["reps"], out["holds"], truth, (float(rec.t[0]), float(rec.t[-1])))
    assert s["tp"] == 10 and s["fp"] == 0, (s["misses"], s["false_reps"])
    if gyro and seed == 1:
        _alike_on_the_board(rec, out)


@pytest.mark.parametrize("name,placement", [(n, p) for p in ("thigh", "hip") for n in CLIPS])
def test_daily_living_clips_are_never_reps(name, placement):
    """Each clip starts uncalibrated, at the nominal mount or any other. (Climbing one
    step at a time, the thigh rests on the step with the knee well above the hip: at
    some mounts the guessed frame reads it lying on a side, its straightening a clam.)"""
    for seed in (1, 2):
        for mount in ("nominal", "arbitrary"):
            for gyro in (True, False):
                rec = simulate_clip(name, seed, placement, gyro, mount)[0]
                out = detect(rec, exercise="auto", placement=placement)
                assert out["counts"]["total"] == 0, (seed, mount, gyro, out["reps"])


@pytest.mark.parametrize("seed", [1, 3])
def test_a_wearer_who_chose_bridges_climbs_stairs_one_step_at_a_time(seed):
    """Bridge mode, before the band knows up, counts any turn like a bridge's, and a
    climb's steps taken one at a time are as slow. But a step turns the thigh 50 deg and
    more, a real bridge 8-43 deg: no set of bridges opens with such turns (these climbs
    counted 5 bridges each). Seed 2's first steps turn it 43-49 deg: still counted."""
    for gyro in (True, False):
        rec = simulate_clip("one step at a time", seed, gyro=gyro, mount="nominal")[0]
        out = detect(rec, exercise="bridge")
        assert out["counts"]["total"] == 0, (gyro, out["reps"])


@pytest.mark.parametrize("exercise", ["bridge", "clam"])
@pytest.mark.parametrize("name", ["stairs up", "stairs down", "slow stairs up", "one step at a time"])
def test_a_wearer_who_named_the_exercise_walks_off_and_climbs_stairs_with_no_rep(exercise, name):
    """The band still set to bridges or clams, its wearer walks off and climbs stairs.
    The walk showed where up is, and no rep was counted while it went on: no rep starts
    with the thigh upright, as a step does (climbing one step at a time counted 2-7
    reps a climb, stairs up 4-5). The walk's first strides, before the band knows it is
    walking, may still open a set of clams (a known limit): only reps after the walk
    calibrated the band are asked about."""
    for seed in range(1, 6):
        for gyro in (True, False):
            rec = simulate_clip(name, seed, gyro=gyro, mount="nominal", walk_first=True)[0]
            out = detect(rec, exercise=exercise)
            walked = [c["t"] for c in out["calibration"] if c["method"] == "walking"]
            assert walked, (seed, gyro, out["calibration"])
            assert [r for r in out["reps"] if r["t"] > walked[0]] == [], (seed, gyro, out["reps"])


def test_a_slow_climb_from_a_trouser_pocket_opens_no_set_of_bridges():
    """Accelerometer only, a phone in a pocket: at some angles the guessed frame reads a
    slow climb's steps as bridges as large as real ones. Before calibration a set of
    bridges opens only when its second rep leaves a pause at rest: people rest between
    bridges, a climb never between steps."""
    for seed in range(1, 11):
        rec = simulate_clip("slow stairs up", seed, gyro=False, mount="nominal")[0]
        for turn in POCKET_WAYS:
            out = detect(turned(rec, turn), exercise="auto")
            assert out["counts"]["total"] == 0, (seed, turn.tolist(), out["reps"])


# Seeds whose climbs a phone slanted in a pocket once read as bridges (a sweep of every
# 15 deg about the thigh's outward axis, screen out and in, 20 seeds): 3-5 false reps
# per climb, and for the slow ones a calibration from a "set of bridges".
SLANTED_CLIMBS = {"slow stairs up": (4, 7), "one step at a time": (2, 8)}


@pytest.mark.parametrize("name", SLANTED_CLIMBS)
def test_a_climb_with_a_phone_slanted_in_a_pocket_is_never_reps(name):
    """A phone slanted in its pocket (its long side off the thigh) turns the thigh's
    path in the guessed frame until a climb reads as bridges. A climb one step at a
    time lifts the thigh 47 deg and more, farther than a bridge; a slow climb's step
    passes its top in 0.4 s, where a bridge's top is held (the squeeze: real ones
    0.64 s and more). Neither opens a set of bridges, or calibrates the band as one."""
    for seed in SLANTED_CLIMBS[name]:
        rec = simulate_clip(name, seed, gyro=False, mount="nominal")[0]
        for facing in (90, 270):  # screen out, screen in
            for slant in range(0, 360, 15):
                out = detect(turned(rec, flat_on_thigh(1, facing, slant)), exercise="auto")
                assert out["counts"]["total"] == 0 and out["calibration"] == [], (
                    seed, facing, slant, out["reps"], out["calibration"])


# Phones askew in their pockets (the eight square ways, each tilted 16-45 deg, mostly
# round the thigh) whose climbs once read as clams before calibration (a sweep of every
# clip, 10 seeds, 3 random tilts per pocket way: 31 false reps in 21.6 h up to 30 deg,
# then 9 more up to 45).
# (clip, seed, gyroscope, pocket way, tilt as a rotation vector in degrees)
TILTED_POCKET_CLIMBS = [
    ("slow stairs up", 1, False, 0, [-17.7, -22.2, 9.0]),
    ("slow stairs up", 1, False, 0, [2.2, -11.7, 15.4]),
    ("slow stairs up", 4, False, 6, [4.2, -15.7, -1.0]),
    ("slow stairs up", 9, True, 0, [-19.5, -6.4, 7.3]),
    ("one step at a time", 2, False, 2, [1.2, -16.9, 7.2]),
    ("one step at a time", 3, False, 4, [-2.9, -20.2, -6.8]),
    ("one step at a time", 4, True, 6, [1.3, -9.6, -27.6]),
    ("one step at a time", 6, False, 2, [-11.7, -27.4, 0.3]),
    ("one step at a time", 6, False, 6, [-13.6, -11.5, -22.4]),
    ("one step at a time", 10, False, 6, [8.0, -24.2, -15.8]),
    ("slow stairs up", 1, False, 0, [-26.5, -33.3, 13.4]),
    ("one step at a time", 10, False, 6, [12.0, -36.3, -23.7]),
]


@pytest.mark.parametrize("name,seed,gyro,way,tilt", TILTED_POCKET_CLIMBS)
def test_a_climb_with_a_phone_askew_in_a_pocket_is_no_set_of_clams(name, seed, gyro, way, tilt):
    """Before calibration only the knee's rise names a clam. Seen through a phone turned
    a little round the thigh, a climb's step rests with the knee below the hip and
    lifts it to level, as a side-lying clam does; but a clam lifts the knee by half its
    turn or more, these steps by 0.30-0.47 of theirs. Tilted farther, the steps end
    with the thigh's front 50-57 deg down, where a clam's turns up."""
    rec = simulate_clip(name, seed, gyro=gyro, mount="nominal")[0]
    turn = Rotation.from_rotvec(tilt, degrees=True).as_matrix() @ POCKET_WAYS[way]
    out = detect(turned(rec, turn), exercise="auto")
    assert out["counts"]["total"] == 0, out["reps"]


@pytest.mark.parametrize("name", ["slow stairs up", "one step at a time"])
def test_a_climb_with_a_phone_in_a_front_pocket_is_no_set_of_clams(name):
    """A front pocket holds the phone flat on the thigh 30 deg round from the front,
    either way, at any slant. Seen so, a climb's step rests with the knee below the
    hip and lifts it, as a clam does, but ends with the thigh's outer side level (-1 to
    12 deg up): at a clam's top it still faces up (MEx: 34 deg and more)."""
    rec = simulate_clip(name, 1, gyro=False, mount="nominal")[0]
    for up in (1, -1):
        for facing in (30, -30):
            for slant in range(0, 360, 30):
                out = detect(turned(rec, flat_on_thigh(up, facing, slant)), exercise="auto")
                assert out["counts"]["total"] == 0, (up, facing, slant, out["reps"])


# A strap at an angle (one the simulator drew for a clip) where the guessed frame reads
# the thigh on a stair, knee well up, as lying on a side.
STAIR_AS_SIDE_LYING = Rotation.from_rotvec([-1.73, 120.18, -128.52], degrees=True).as_matrix()


@pytest.mark.parametrize("gyro", [True, False], ids=["gyro", "accel-only"])
def test_climbing_one_step_at_a_time_is_no_set_of_clams(gyro):
    """Lying on a side the top knee rests no higher than the hip: before calibration a
    "clam" from a rest with the knee well up is held, not counted."""
    rec = turned(simulate_clip("one step at a time", 4, gyro=gyro, mount="nominal")[0], STAIR_AS_SIDE_LYING)
    out = detect(rec, exercise="auto")
    assert out["counts"]["total"] == 0, out["reps"]


@pytest.mark.parametrize("name", CLIPS)
def test_daily_living_clips_from_a_trouser_pocket_are_never_reps(name):
    """A phone in a pocket at any of its usual angles. Turned 90 deg about the thigh's
    outward axis (its long side along the thigh, the band's along it across), a slow
    climb's foot on the step and the stand above it are, to the guessed frame, a
    bridge's rest and a top with the thigh level: held until the band calibrates."""
    for gyro in (True, False):
        rec = simulate_clip(name, 1, gyro=gyro, mount="nominal")[0]
        for turn in POCKET_WAYS:
            out = detect(turned(rec, turn), exercise="auto")
            assert out["counts"]["total"] == 0, (turn.tolist(), gyro, out["reps"])


@pytest.mark.parametrize("name", ["one step at a time", "slow stairs up"])
def test_a_slow_climb_from_a_trouser_pocket_never_calibrates_as_a_set_of_bridges(name):
    """A band's x lies along the thigh, so a set of bridges may calibrate it; a phone's
    x lies across. Some pocket angles then read a slow climb as bridges turning in the
    thigh's plane: but a step turns the thigh farther than any bridge (50 deg and more)
    and leaves the knee level at its top, where a bridge keeps it above the hip."""
    for seed in (1, 2, 3):
        rec = simulate_clip(name, seed, gyro=False, mount="nominal")[0]
        for turn in POCKET_WAYS:
            out = detect(turned(rec, turn), exercise="auto")
            assert out["calibration"] == [] and out["counts"]["total"] == 0, (seed, turn.tolist(), out)
