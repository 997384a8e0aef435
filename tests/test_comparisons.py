"""Paired statistics behind the verdicts (issue 31): tests across seeds, Holm's correction,
equivalence within a margin, the sentences they become, code versions, and the shipped sweeps
read with them."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from scipy import stats as scipy_stats

from gan_core import claims, comparisons, sweep_stats, verdicts, versions
from lab_app import sweep_results

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
KEYS = {"a", "b", "metric", "diff", "ci_low", "ci_high", "p", "p_holm", "test", "n"}


# --- the statistics ----------------------------------------------------------------------------

def test_paired_comparison_is_the_paired_t_test_with_its_interval():
    a = {"0": 185.0, "1": 220.0, "2": 150.0, "3": 160.0, "4": 210.0}
    b = {"0": 180.0, "1": 185.0, "2": 123.0, "3": 216.0, "4": 253.0}
    c = comparisons.paired("g2", "g1", "judge_fd", a, b)
    seeds = sorted(a)
    ref = scipy_stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds])
    diffs = [a[s] - b[s] for s in seeds]
    half = scipy_stats.t.ppf(0.975, 4) * scipy_stats.tstd(diffs) / 5 ** 0.5
    assert c.n == 5 and c.test == "paired t-test"
    assert c.diff == pytest.approx(sum(diffs) / 5)
    assert c.p == pytest.approx(ref.pvalue)
    assert (c.ci_low, c.ci_high) == (pytest.approx(c.diff - half), pytest.approx(c.diff + half))


def test_arms_are_paired_by_seed_and_a_seed_either_lacks_is_left_out():
    a = {"0": 10.0, "1": 12.0, "2": None, "3": 11.0}
    b = {"1": 2.0, "0": 1.0, "2": 5.0, "3": float("nan")}
    c = comparisons.paired("a", "b", "x", a, b)
    assert c.n == 2 and c.diff == pytest.approx(9.5)          # seeds 0 and 1 only, by seed
    one = comparisons.paired("a", "b", "x", {"0": 3.0}, {"0": 1.0})
    assert (one.n, one.diff, one.p) == (1, 2.0, None)         # one pair: not tested
    assert not one.clear and "not tested" in comparisons.interval(one)


def test_a_constant_difference_is_clear_and_no_difference_is_not():
    same = comparisons.paired("a", "b", "x", {"0": 1.0, "1": 2.0}, {"0": 1.0, "1": 2.0})
    shift = comparisons.paired("a", "b", "x", {"0": 3.0, "1": 4.0}, {"0": 1.0, "1": 2.0})
    comparisons.holm([same, shift])
    assert (same.p, same.clear) == (1.0, False)
    assert (shift.p, shift.ci_low, shift.ci_high, shift.clear) == (0.0, 2.0, 2.0, True)


def test_holm_multiplies_the_kth_smallest_p_and_keeps_the_order():
    cs = [comparisons.Comparison("a", "b", "x", 1.0, 0.0, 2.0, p, 5) for p in (0.01, 0.04, 0.03)]
    cs.append(comparisons.Comparison("a", "b", "x", 1.0, None, None, None, 1))   # untested
    comparisons.holm(cs)
    # sorted: 0.01 x 3 = 0.03; 0.03 x 2 = 0.06; 0.04 x 1 = 0.04, raised to 0.06 (monotone)
    assert [c.p_holm for c in cs[:3]] == [pytest.approx(0.03), pytest.approx(0.06),
                                          pytest.approx(0.06)]
    assert cs[3].p_holm is None
    assert [c.clear for c in cs] == [True, False, False, False]
    big = [comparisons.Comparison("a", "b", "x", 1.0, 0.0, 2.0, 0.5, 5) for _ in range(4)]
    assert all(c.p_holm == 1.0 for c in comparisons.holm(big))       # capped at 1


def test_equivalence_needs_the_whole_interval_inside_the_margin():
    inside = comparisons.Comparison("a", "b", "x", 0.001, -0.008, 0.009, 0.7, 3)
    across = comparisons.Comparison("a", "b", "x", 0.003, -0.027, 0.021, 0.7, 3)  # cgan-augment
    assert inside.within(0.01) and not across.within(0.01)


# --- the sentences ------------------------------------------------------------------------------

def _ratio_rows(fd: dict) -> list[dict]:
    exp = claims.EXPERIMENTS["gd-ratio-equal-g"]
    return [dict(arm=a.name, seed=s, judge_fd=fd[a.name][s], g_updates=312, train_seconds=10.0,
                 log_lg_ld=0.0) for a in exp.arms for s in range(5)]


def test_gd_ratio_names_no_best_from_a_difference_within_the_noise():
    """The shipped gd-ratio-equal-g: 2:1 at 185 ± 21 against 1:1 at 191 ± 29 printed
    "Best FD: G:D 2:1" (paired p about 0.75)."""
    exp = claims.EXPERIMENTS["gd-ratio-equal-g"]
    fd = dict(g1=[180, 185, 123, 216, 253], g2=[185, 220, 150, 160, 210],
              g4=[250, 260, 240, 300, 270], g50=[1930, 1920, 1950, 1915, 1940],
              d2=[240, 250, 230, 245, 250], d5=[300, 420, 280, 390, 270])
    text, comps = verdicts.reading(exp, sweep_stats.arm_stats(exp, _ratio_rows(fd)))
    assert "Best FD" not in text and "Lowest FD:" not in text
    assert "G:D 2:1 -6 (95% CI" in text and "no clear difference" in text
    assert "No arm is clearly lowest: the lowest mean FD (G:D 2:1) is not clearly below that " \
           "of G:D 1:1" in text
    assert all(KEYS <= set(c.to_dict()) for c in comps)


def test_gd_ratio_names_the_lowest_arm_when_it_is_clearly_below_every_other():
    exp = claims.EXPERIMENTS["gd-ratio"]
    fd = {a.name: [500 + 100 * i + e for e in (-3, 1, 4, 0, -2)] for i, a in enumerate(exp.arms)}
    fd["g4"] = [130, 135, 128, 140, 133]
    text = verdicts.verdict(exp, sweep_stats.arm_stats(exp, _ratio_rows(fd)))
    assert "Lowest FD: G:D 4:1, clearly below every other arm." in text
    assert "G:D 4:1 -367 (95% CI -374 to -360, Holm p < 0.001), clearly lower" in text


def test_small_data_does_not_say_clearly_from_three_seeds_at_p_015():
    """The shipped small-data: 56 ± 4% nearer a training image (3 seeds) was "clearly"
    nearer by the old 2-standard-error rule; the one-sample t-test's p is about 0.15."""
    exp = claims.EXPERIMENTS["small-data"]
    shares = dict(n500=[0.60, 0.555, 0.525], n3500=[0.49, 0.51, 0.475])
    rows = [dict(arm=a, seed=s, copy_share=v, copy_ratio=1.0, judge_fd=100.0)
            for a, vs in shares.items() for s, v in enumerate(vs)]
    text, comps = verdicts.reading(exp, sweep_stats.arm_stats(exp, rows))
    assert "clearly but far from" not in text and "Copies" not in text
    assert "No arm's samples sit nearer their training images than unseen digits" in text
    first = comps[0]
    assert first.test == "one-sample t-test" and 0.1 < first.p < 0.2 and not first.clear


@pytest.mark.parametrize("name", list(claims.EXPERIMENTS))
def test_a_quick_run_is_too_short_to_judge(name):
    exp = claims.EXPERIMENTS[name]
    rows = [dict(arm=a.name, seed=s, judge_fd=2010.0 + s, copy_share=0.5, classes_covered=1,
                 steps_to_threshold=16, **{f"acc_gen_{p}": 0.1 for p in claims.AUGMENT_SHARES})
            for a in exp.arms for s in range(2)]
    text, comps = verdicts.reading(exp, sweep_stats.arm_stats(exp, rows), quick=True)
    assert text == verdicts.QUICK_VERDICT and comps == []
    assert text.startswith("Too short to judge; this checks that the sweep runs.")


# --- code versions -----------------------------------------------------------------------------

def test_a_run_records_the_commit_and_the_evaluator(monkeypatch):
    versions.code_version.cache_clear()
    stamp = versions.stamp()
    assert stamp["evaluator_version"] == versions.EVALUATOR_VERSION
    commit = stamp["code_version"]
    assert commit == "unknown" or len(commit.split("+")[0]) == 40
    monkeypatch.setenv("PATH", "/nonexistent")                     # no git: no traceback
    monkeypatch.delenv("GAN_LAB_CODE_VERSION", raising=False)
    versions.code_version.cache_clear()
    assert versions.code_version() == "unknown"
    monkeypatch.setenv("GAN_LAB_CODE_VERSION", "abc123 from the image")
    versions.code_version.cache_clear()
    assert versions.code_version() == "abc123 from the image"
    versions.code_version.cache_clear()


def test_a_sweep_says_when_its_runs_mix_code_versions():
    new = dict(run_id="a_s1", seed=1, code_version="f" * 40, evaluator_version=1,
               final=dict(eval_n=1000))
    unrecorded = dict(run_id="a_s2", seed=2, final=dict(eval_n=1000))
    older = dict(run_id="a_s0", seed=0, final=dict(judge_fd=1.0))
    one = versions.sweep_versions([new, dict(new, run_id="b_s1")])
    assert one["code_version"] == "f" * 40 and versions.describe(one) == ""
    mixed = versions.sweep_versions([new, unrecorded, older])
    assert mixed["code_version"] == versions.MIXED and mixed["older_runs"] == ["a_s0"]
    assert mixed["older_whole_seeds"]
    assert versions.describe(mixed).startswith("The runs of this sweep do not share one recorded "
                                               "code version: 1 of 3 were made by older code")
    # the sentence names the command that makes the sweep one version again
    said = versions.describe(dict(mixed, experiment="gd-ratio"))
    assert "sweep gd-ratio --out experiments/gd-ratio --redo-other-versions" in said
    assert "--redo" not in versions.describe(dict(mixed, experiment="x; rm -rf /"))


# --- the shipped sweeps, summarised again ----------------------------------------------------

REGENERATED = {"cgan-augment"}       # remade with one code version and 5 seeds (issue 31)


@pytest.mark.parametrize("name", list(claims.EXPERIMENTS))
def test_every_shipped_summary_holds_its_comparisons_and_code_version(name):
    summary = json.loads((EXPERIMENTS / name / "summary.json").read_text())
    assert summary["comparisons"] and all(KEYS <= set(c) for c in summary["comparisons"])
    if name in REGENERATED:                              # one commit, every run new
        assert re.fullmatch(r"[0-9a-f]{40}", summary["code_version"])
        assert summary["older_runs"] == [] and summary["runs_done"] == summary["runs_total"]
        assert summary["runs_done"] >= 5 * len(claims.EXPERIMENTS[name].arms)
    else:
        assert summary["code_version"] == versions.MIXED  # made before runs recorded one
    loaded, _, _ = sweep_results.load_shipped(name)
    assert loaded["verdict"] == summary["verdict"]       # the file is today's reading
    assert len(sweep_results.comparison_rows(loaded)) == len(summary["comparisons"])


def test_the_shipped_verdicts_state_only_what_their_tests_support():
    verdict = {n: json.loads((EXPERIMENTS / n / "summary.json").read_text())["verdict"]
               for n in claims.EXPERIMENTS}
    assert "Best FD" not in verdict["gd-ratio-equal-g"]
    assert "No arm is clearly lowest" in verdict["gd-ratio-equal-g"]
    paper = verdict["focal-vs-dcgan-paper"]
    assert "the paper's claim is not supported here" in paper and "bought by" not in paper
    assert "can stand in" not in verdict["cgan-augment"]
    assert "No share is shown to cost at most 1 point" in verdict["cgan-augment"]
    assert "Clearly lower accuracy: 75% generated, 100% generated." in verdict["cgan-augment"]
    assert "clearly" not in verdict["small-data"].split("Against 50%")[1].split(". Each")[0]
    older = {n: len(json.loads((EXPERIMENTS / n / "summary.json").read_text())["older_runs"])
             for n in claims.EXPERIMENTS}
    assert sum(older.values()) == 59 and older["focal-vs-dcgan"] == 20


def test_summarise_only_rereads_a_sweep_without_training(cli, tmp_path):
    out = tmp_path / "small"
    shutil.copytree(EXPERIMENTS / "small-data", out,
                    ignore=shutil.ignore_patterns("*.png", "summary.json", "*.csv"))
    r = cli("sweep", "small-data", "--summarise-only", "--out", out)
    assert r.returncode == 0, r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verdict"] in r.stdout and summary["runs_done"] == 6
    assert {c["test"] for c in summary["comparisons"]} == {"one-sample t-test", "paired t-test"}
    assert "do not share one recorded code version" in r.stderr
    wrong = cli("sweep", "sagan", "--summarise-only", "--out", out)
    assert wrong.returncode == 2 and "holds the sweep 'small-data'" in wrong.stderr
    assert "Traceback" not in wrong.stderr


def test_in_short_says_better_worse_and_no_clear_difference_from_the_comparisons():
    from lab_app.sweep_results import in_short

    def comp(a, b, metric, diff, p_holm):
        return dict(a=a, b=b, a_label=a.upper(), b_label=b.upper(), metric=metric, diff=diff,
                    ci_low=diff - 1, ci_high=diff + 1, p=p_holm, p_holm=p_holm, n=5)
    said = in_short(dict(comparisons=[
        comp("fl", "dc", "steps_to_threshold", -57.0, 0.02),       # fewer steps: better
        comp("fo", "dc", "steps_to_threshold", +99.0, 0.01),       # more steps: worse
        comp("cs", "dc", "confident_share", -0.1, 0.03),           # a lower share: worse
        comp("fc", "cl", "steps_to_threshold", -10.0, 0.18),       # not clear
        comp("x", "y", "log_lg_ld", 0.4, 0.001)]))                 # no better way: higher
    assert "FL is clearly better than DC on steps to threshold (lower)" in said
    assert "FO is clearly worse than DC on steps to threshold (higher)" in said
    assert "CS is clearly worse than DC on share the judge recognises" in said
    assert "No clear difference between FC and CL (steps to threshold)" in said
    assert "X is clearly higher than Y on log(L_G / L_D)" in said.replace("\\", "")
    assert in_short(dict(comparisons=[])) == "" and in_short({}) == ""
    # labels come from a file: Markdown in them is escaped
    evil = in_short(dict(comparisons=[dict(comp("a", "b", "judge_fd", 1.0, 0.5),
                                           a_label="[x](http://evil.example)")]))
    assert "](http" not in evil
