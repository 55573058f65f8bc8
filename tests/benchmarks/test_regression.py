from benchmarks.regression import judge


def test_ratio_within_tolerance_passes_and_beyond_fails():
    baseline = {"value": 2.0, "higher_is_better": True}
    assert judge("speedup", {"value": 1.6, "higher_is_better": True}, baseline, 0.25).passed
    failed = judge("speedup", {"value": 1.4, "higher_is_better": True}, baseline, 0.25)
    assert not failed.passed and abs(failed.change - 0.3) < 1e-12


def test_lower_is_better_ratio_fails_when_it_grows():
    baseline = {"value": 0.5, "higher_is_better": False}
    assert judge("time_ratio", {"value": 0.6, "higher_is_better": False}, baseline, 0.25).passed
    assert not judge("time_ratio", {"value": 0.7, "higher_is_better": False}, baseline, 0.25).passed


def test_improvement_and_new_ratio_pass():
    baseline = {"value": 0.5, "higher_is_better": False}
    assert judge("time_ratio", {"value": 0.1, "higher_is_better": False}, baseline, 0.25).passed
    new = judge("fresh", {"value": 3.0, "higher_is_better": True}, None, 0.25)
    assert new.passed and new.baseline is None


def test_baseline_is_the_median_of_repeated_runs():
    from benchmarks.regression import median_ratios

    runs = [{"r": {"value": value, "higher_is_better": True}} for value in (2.0, 9.0, 3.0)]
    assert median_ratios(runs) == {"r": {"value": 3.0, "higher_is_better": True}}
