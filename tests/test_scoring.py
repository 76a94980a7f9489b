"""Scoring rules of the data README, on hand-built truth with known outcomes."""
import math

import pytest

from repband import scoring


def rep(t_start, t_top, t_end, exercise="bridge", kind="full", side=None):
    return {"exercise": exercise, "side": side, "t_start": t_start, "t_top": t_top,
            "t_end": t_end, "kind": kind, "rom_deg": 20.0}


def count(t, exercise="bridge", side=None, partial=False):
    return {"t": t, "exercise": exercise, "side": side, "partial": partial}


def truth(reps=(), sets=(), holds=(), distractors=(), leg="right", duration_s=1000.0):
    return {"kind": "test", "leg": leg, "placement": "thigh", "mount_tier": "nominal",
            "duration_s": duration_s, "reps": list(reps), "sets": list(sets),
            "holds": list(holds), "distractors": list(distractors)}


SPAN = (0.0, 1000.0)
# window of this rep: [10 + 0.3 * 2, 16 + 1.5] = [10.6, 17.5]
R = rep(10.0, 12.0, 16.0)


def score(counts, tr, holds=()):
    return scoring.score_sim(list(counts), list(holds), tr, t_span=SPAN)


@pytest.mark.parametrize("t,ok", [(10.6, True), (10.5999, False), (17.5, True), (17.5001, False),
                                  (12.0, True), (16.0, True)])
def test_window_edges(t, ok):
    s = score([count(t)], truth([R]))
    assert (s["tp"], s["fp"], s["fn"]) == ((1, 0, 0) if ok else (0, 1, 1))


def test_one_to_one_second_count_in_same_window_is_false():
    s = score([count(12.0), count(13.0)], truth([R]))
    assert (s["tp"], s["fp"], s["fn"]) == (1, 1, 0)


def test_overlapping_windows_are_matched_in_time_order():
    r2 = rep(16.2, 18.0, 22.0)  # window [16.74, 23.5] overlaps R's [10.6, 17.5]
    s = score([count(16.8), count(17.3)], truth([R, r2]))
    assert (s["tp"], s["fp"], s["fn"]) == (2, 0, 0)
    # one late count only: it belongs to the rep whose window closes first, the other is missed
    s = score([count(17.0)], truth([R, r2]))
    assert (s["tp"], s["fp"], s["fn"]) == (1, 0, 1)
    assert s["misses"][0]["t_start"] == 16.2


def test_maximum_matching_not_greedy_first_window():
    # A long rep whose window is wide, a short one inside it: greedy "first window"
    # would give the first count to A and leave B unmatched.
    a = rep(0.0, 1.0, 20.0)  # [0.3, 21.5]
    b = rep(5.0, 6.0, 7.0)  # [5.3, 8.5]
    s = score([count(6.0), count(20.0)], truth([a, b]))
    assert (s["tp"], s["fp"], s["fn"]) == (2, 0, 0)


def test_exercise_must_match():
    s = score([count(12.0, "clam", "right")], truth([R]))
    assert (s["tp"], s["fp"], s["fn"]) == (0, 1, 1)


def test_partial_detections_are_not_counts():
    s = score([count(12.0, partial=True)], truth([R]))
    assert (s["tp"], s["fp"], s["fn"]) == (0, 0, 1)


def test_partial_truth_rep_counted_or_not_both_fine():
    p = rep(30.0, 31.0, 34.0, kind="partial")
    s = score([count(32.0)], truth([p]))
    assert (s["tp"], s["fp"], s["fn"], s["neutral_partial"]) == (0, 0, 0, 1)
    s = score([], truth([p]))
    assert (s["tp"], s["fp"], s["fn"]) == (0, 0, 0)
    # two counts on one partial rep: one neutral, one false
    s = score([count(32.0), count(33.0)], truth([p]))
    assert (s["fp"], s["neutral_partial"]) == (1, 1)


def test_tiny_truth_rep_must_not_be_counted():
    t = rep(30.0, 31.0, 33.0, kind="tiny")
    s = score([count(31.5)], truth([t]))
    assert (s["tp"], s["fp"], s["fn"], s["fp_tiny"]) == (0, 1, 0, 1)
    assert s["false_reps"][0]["tiny"] is True
    s = score([], truth([t]))
    assert (s["tp"], s["fp"], s["fn"]) == (0, 0, 0)


def test_full_rep_wins_over_overlapping_partial_and_tiny():
    p = rep(16.5, 17.0, 19.0, kind="partial")  # window [16.65, 20.5]
    t = rep(16.5, 17.0, 19.0, kind="tiny")
    s = score([count(17.2)], truth([R, p]))
    assert (s["tp"], s["fp"], s["fn"], s["neutral_partial"]) == (1, 0, 0, 0)
    s = score([count(17.2)], truth([R, t]))
    assert (s["tp"], s["fp"], s["fn"], s["fp_tiny"]) == (1, 0, 0, 0)
    # full rep already taken: the second count goes to the partial rep
    s = score([count(12.0), count(17.2)], truth([R, p]))
    assert (s["tp"], s["fp"], s["neutral_partial"]) == (1, 0, 1)


def test_clam_other_leg_rule():
    tr = truth([], distractors=[{"kind": "clam_other_leg", "t_start": 100.0, "t_end": 150.0}],
               leg="right")
    s = score([count(120.0, "clam", "left")], tr)
    assert (s["tp"], s["fp"], s["fn"], s["neutral_other_leg"]) == (0, 0, 0, 1)
    s = score([count(120.0, "clam", "right")], tr)  # the sensor leg is not moving
    assert (s["fp"], s["neutral_other_leg"]) == (1, 0)
    s = score([count(120.0, "clam", None)], tr)
    assert s["fp"] == 1
    s = score([count(160.0, "clam", "left")], tr)  # outside the window
    assert s["fp"] == 1
    s = score([count(120.0, "bridge")], tr)  # not a clam
    assert s["fp"] == 1


def test_clam_side_accuracy_over_matched_clams():
    reps = [rep(10.0 * i, 10.0 * i + 1, 10.0 * i + 3, "clam", side="left") for i in range(1, 5)]
    reps.append(rep(60.0, 61.0, 63.0, "clam", kind="partial", side="left"))
    counts = [count(11.5, "clam", "left"), count(21.5, "clam", "left"),
              count(31.5, "clam", "right"), count(61.5, "clam", "left")]
    s = score(counts, truth(reps, leg="left"))
    assert (s["tp"], s["fn"], s["neutral_partial"]) == (3, 1, 1)
    assert (s["side_correct"], s["side_total"]) == (3, 4)
    assert s["side_accuracy"] == pytest.approx(0.75)


def test_set_exactness_window_and_partials():
    st = {"exercise": "bridge", "side": None, "t_start": 100.0, "t_end": 200.0, "count": 3,
          "n_partial": 1}
    tr = truth([], sets=[st])

    def exact(times, exercise="bridge"):
        return score([count(t, exercise) for t in times], tr)["sets"][0]["exact"]

    assert not exact([120, 140])
    assert exact([120, 140, 160])
    assert exact([120, 140, 160, 180])  # one partial rep counted: fine
    assert not exact([120, 140, 160, 180, 190])
    assert exact([99.0, 140, 202.0])  # window edges [t_start - 1, t_end + 2] included
    assert not exact([98.99, 140, 202.01])
    assert not exact([120, 140, 160], exercise="clam")  # other exercise does not count
    s = score([count(t) for t in (120, 140, 160)], tr)
    assert (s["sets_exact"], s["sets_total"], s["sets_exact_frac"]) == (1, 1, 1.0)


def test_idle_false_reps_per_hour():
    st = {"exercise": "bridge", "side": None, "t_start": 100.0, "t_end": 200.0, "count": 1,
          "n_partial": 0}
    hold = {"exercise": "hip_flexor_stretch", "side": "right", "t_start": 300.0,
            "t_end": 400.0, "scored": False}
    tr = truth([rep(110.0, 111.0, 113.0)], sets=[st], holds=[hold])
    # false reps: 150 (inside the set window: not idle), 350 (in a hold: idle),
    # 500 and 900 (idle)
    s = score([count(112.0), count(150.0), count(350.0), count(500.0), count(900.0)], tr)
    assert (s["tp"], s["fp"]) == (1, 4)
    assert s["idle_fp"] == 3
    # span 1000 s minus the set window [99, 202] and the hold [300, 400]
    assert s["idle_s"] == pytest.approx(1000.0 - 103.0 - 100.0)
    assert s["idle_fp_per_h"] == pytest.approx(3 / (797.0 / 3600.0))


def test_idle_span_from_truth_without_t_span():
    tr = truth([], distractors=[{"kind": "walk", "t_start": 5.0, "t_end": 50.0}], duration_s=360.0)
    s = scoring.score_sim([count(20.0)], [], tr)
    assert s["idle_s"] == pytest.approx(360.0)
    assert s["idle_fp_per_h"] == pytest.approx(10.0)


def test_latency_is_count_time_minus_t_end():
    s = score([count(12.0)], truth([R]))
    assert s["latencies"] == [pytest.approx(-4.0)]
    s = score([count(17.0)], truth([R]))
    assert s["latencies"] == [pytest.approx(1.0)]
    assert s["latency_median_s"] == pytest.approx(1.0)


def test_holds_found_error_and_side():
    scored = {"exercise": "hip_flexor_stretch", "side": "right", "t_start": 50.0, "t_end": 80.0,
              "scored": True}
    unscored = {"exercise": "hip_flexor_stretch", "side": "left", "t_start": 120.0,
                "t_end": 150.0, "scored": False}
    tr = truth([], holds=[scored, unscored])

    def det(t0, t1, side="right"):
        return {"t_start": t0, "t_end": t1, "duration_s": t1 - t0,
                "exercise": "hip_flexor_stretch", "side": side}

    s = score([], tr, holds=[det(52.0, 79.0)])
    assert (s["holds_scored"], s["holds_found"]) == (1, 1)
    assert s["hold_errors"] == [pytest.approx(3.0)]
    assert s["hold_side_ok"] == 1 and s["false_holds"] == 0
    # no overlap (touching is not overlapping) -> not found; the unscored hold is neutral
    s = score([], tr, holds=[det(80.0, 90.0), det(125.0, 140.0, "left")])
    assert (s["holds_found"], s["false_holds"]) == (0, 1)
    # two detections on one hold: the one overlapping most is scored, neither is false
    s = score([], tr, holds=[det(45.0, 55.0), det(56.0, 81.0)])
    assert s["hold_errors"] == [pytest.approx(5.0)] and s["false_holds"] == 0
    s = score([], tr, holds=[])
    assert (s["holds_found"], s["holds_scored"], s["holds_found_frac"]) == (0, 1, 0.0)


def test_precision_recall_f1():
    reps = [rep(10.0 * i, 10.0 * i + 1, 10.0 * i + 3) for i in range(1, 11)]
    counts = [count(10.0 * i + 2) for i in range(1, 9)] + [count(500.0), count(600.0)]
    s = score(counts, truth(reps))
    assert (s["tp"], s["fp"], s["fn"]) == (8, 2, 2)
    assert s["precision"] == pytest.approx(0.8)
    assert s["recall"] == pytest.approx(0.8)
    assert s["f1"] == pytest.approx(0.8)


def test_aggregate_sums_then_derives():
    a = score([count(12.0)], truth([R]))
    b = score([count(500.0)], truth([R]))
    tot = scoring.aggregate([a, b])["sim"]
    assert (tot["tp"], tot["fp"], tot["fn"], tot["files"]) == (1, 1, 1, 2)
    assert tot["f1"] == pytest.approx(0.5)
    assert tot["idle_fp"] == 1
    assert tot["idle_s"] == pytest.approx(2000.0)


def test_mex_labels_and_rules(tmp_path):
    p = tmp_path / "labels.csv"
    p.write_text("# comment\n# more\nsubject,file,kind,lo,hi\n01,02_act_1,bridge,9,10\n"
                 "01,04_act_1,dontcare,0,0\n03,04_act_1,zero,0,0\n")
    labels = scoring.read_labels(p)
    assert labels["S01_02_act_1"] == {"kind": "bridge", "lo": 9, "hi": 10}
    assert scoring.mex_code("x/S01_02_act_1.csv") == "02"
    assert scoring.mex_code("foo.csv") is None
    ok = [scoring.score_mex("S01_02_act_1.csv", n, 60.0, labels)["in_range"] for n in (8, 9, 10, 11)]
    assert ok == [False, True, True, False]
    assert scoring.score_mex("S01_04_act_1.csv", 7, 60.0, labels)["in_range"] is None
    assert scoring.score_mex("S03_04_act_1.csv", 0, 60.0, labels)["in_range"] is True
    assert scoring.score_mex("S03_04_act_1.csv", 1, 60.0, labels)["in_range"] is False
    nr = scoring.score_mex("S01_05_act_1.csv", 2, 1800.0, labels)
    assert (nr["label"], nr["false_reps"], nr["in_range"]) == ("no_rep", 2, None)
    tot = scoring.aggregate([
        scoring.score_mex("S01_02_act_1.csv", 9, 60.0, labels),
        scoring.score_mex("S03_04_act_1.csv", 0, 60.0, labels),
        scoring.score_mex("S01_04_act_1.csv", 5, 60.0, labels),
        nr,
        scoring.score_mex("S01_07_act_1.csv", 0, 1800.0, labels),
    ])["mex"]
    assert (tot["rep_files"], tot["rep_files_in_range"]) == (1, 1)
    assert (tot["zero_files"], tot["zero_files_ok"]) == (1, 1)
    assert tot["no_rep_false_reps"] == 2
    assert tot["no_rep_false_per_h"] == pytest.approx(2.0)
    assert not math.isnan(tot["no_rep_hours"])


def test_a_varied_count_is_compared_with_the_same_file_as_recorded(tmp_path):
    """Under --vary, a count the label's range still allows may have changed: scored
    files carry their count as recorded, and the totals say how many went lower or
    higher (unscored files are left out)."""
    p = tmp_path / "labels.csv"
    p.write_text("subject,file,kind,lo,hi\n01,02_act_1,bridge,9,10\n01,04_act_1,dontcare,0,0\n"
                 "03,04_act_1,zero,0,0\n")
    labels = scoring.read_labels(p)

    def varied(name, count, as_recorded):
        return dict(scoring.score_mex(name, count, 60.0, labels), count_as_recorded=as_recorded)

    tot = scoring.aggregate([
        varied("S01_02_act_1.csv", 9, 10),  # lower, in range all the same
        varied("S01_02_act_1.csv", 10, 9),  # higher
        varied("S01_02_act_1.csv", 10, 10),
        varied("S03_04_act_1.csv", 1, 0),  # a zero file's: higher
    ])["mex"]
    assert (tot["counts_compared"], tot["counts_lower"], tot["counts_higher"]) == (4, 1, 2)
    plain = scoring.aggregate([scoring.score_mex("S01_02_act_1.csv", 9, 60.0, labels)])["mex"]
    assert (plain["counts_compared"], plain["counts_lower"], plain["counts_higher"]) == (0, 0, 0)


def test_metrics_undefined_without_reps_or_counts():
    s = score([], truth([]))
    assert (s["precision"], s["recall"], s["f1"]) == (None, None, None)
    s = score([count(500.0)], truth([]))
    assert (s["precision"], s["recall"], s["f1"]) == (0.0, None, 0.0)
