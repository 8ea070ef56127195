"""compare --claims: the verdict rules on constructed numbers, the sweeps' data (nested, one test
period), and the command end to end on a small synthetic series with tiny fits."""

import json

import numpy as np
import pytest
from conftest import FAST, synthetic_long, synthetic_sine
from helpers.cli import assert_one_line_error, describe, invoke

from tsgate import verdicts
from tsgate.claims import ClaimsOptions, SweepPoint, plan_claims, recent_part, sweep_fits
from tsgate.compare import CompareOptions
from tsgate.data import DataOptions, load_series
from tsgate.errors import DataError, OptionError
from tsgate.forecaster import Forecaster
from tsgate.verdicts import CONTRADICTED, NOISE, SUPPORTED, TOO_LITTLE

CLAIM_IDS = ["fewer-parameters-faster", "converges-more-easily", "lstm-better-on-large-data",
             "rnn-enough-for-short-sequences"]


# ---- the verdict rules, on numbers given directly ---------------------------------------------


def lookback_point(lookback, gap, p, spread=0.0, gated="gru"):
    return {"value": lookback, "size": lookback, "gap": {gated: gap}, "dm_p": {gated: p}, "gap_std": {gated: spread},
            "gated": gated}


def lookback_evidence(points, change, p, spread=0.0):
    return {"points": points, "trend": {"change": change, "dm_p": p, "spread": spread}, "dropped": []}


def test_rnn_claim_is_supported_where_a_long_memory_matters():
    # RNN as good as the gated cells over short windows, clearly worse once the window is long.
    evidence = lookback_evidence([lookback_point(6, 0.01, 0.7), lookback_point(12, 0.02, 0.5),
                                  lookback_point(24, 0.15, 0.01), lookback_point(48, 0.40, 0.001)], 0.39, 0.002)
    assert verdicts.rnn_enough_for_short_sequences(evidence) == SUPPORTED


def test_rnn_claim_is_within_noise_where_memory_does_not_matter():
    # The gap stays small at every lookback: RNN is enough everywhere, the claimed growth is not there.
    evidence = lookback_evidence([lookback_point(6, 0.01, 0.8), lookback_point(12, -0.01, 0.9),
                                  lookback_point(24, 0.00, 1.0), lookback_point(48, 0.02, 0.6)], 0.01, 0.7)
    assert verdicts.rnn_enough_for_short_sequences(evidence) == NOISE


def test_rnn_claim_is_within_noise_when_the_gap_is_pure_noise():
    # A large gap at the longest lookback, but DM cannot separate it and the seeds spread wider.
    evidence = lookback_evidence([lookback_point(6, 0.0, 0.9), lookback_point(12, 0.1, 0.4),
                                  lookback_point(48, 0.5, 0.30, spread=0.6)], 0.5, 0.3, spread=0.7)
    assert verdicts.rnn_enough_for_short_sequences(evidence) == NOISE
    # Significant by DM but inside the spread over seeds: still noise.
    evidence = lookback_evidence([lookback_point(6, 0.0, 0.9), lookback_point(48, 0.5, 0.01, spread=0.6)],
                                 0.5, 0.01, spread=0.7)
    assert verdicts.rnn_enough_for_short_sequences(evidence) == NOISE


def test_rnn_claim_is_contradicted_when_rnn_loses_at_short_lookbacks():
    evidence = lookback_evidence([lookback_point(6, 0.3, 0.001), lookback_point(12, 0.3, 0.01),
                                  lookback_point(48, 0.3, 0.01)], 0.0, 0.9)
    assert verdicts.rnn_enough_for_short_sequences(evidence) == CONTRADICTED


def test_rnn_claim_needs_lookbacks_a_factor_of_two_apart():
    narrow = lookback_evidence([lookback_point(10, 0.0, 0.9), lookback_point(15, 0.5, 0.001)], 0.5, 0.001)
    assert verdicts.rnn_enough_for_short_sequences(narrow) == TOO_LITTLE
    single = {"points": [lookback_point(10, 0.0, 0.9)], "trend": None, "dropped": []}
    assert verdicts.rnn_enough_for_short_sequences(single) == TOO_LITTLE


def data_point(fraction, gaps, ps, spread=0.0):
    return {"value": fraction, "size": int(1000 * fraction), "gap": dict(gaps), "dm_p": dict(ps),
            "gap_std": {name: spread for name in gaps}}


def data_evidence(axes):
    return {"data": {}, "axes": axes}


def data_axis(small, large, trends):
    return {"points": [small, large], "dropped": [],
            "trend": {name: {"change": change, "dm_p": p, "spread": 0.0} for name, (change, p) in trends.items()}}


@pytest.mark.parametrize("small, large, trends, expected", [
    # LSTM behind on 1/8 of the data, ahead on all of it, the gap's change separated by DM
    (({"gru": 0.10, "rnn": 0.12}, {"gru": 0.01, "rnn": 0.01}), ({"gru": -0.05, "rnn": -0.08}, {"gru": 0.02, "rnn": 0.01}),
     {"gru": (-0.15, 0.001), "rnn": (-0.20, 0.001)}, SUPPORTED),
    # LSTM falls behind GRU beyond noise once all the data is there
    (({"gru": 0.02, "rnn": 0.0}, {"gru": 0.6, "rnn": 0.9}), ({"gru": 0.04, "rnn": 0.01}, {"gru": 0.01, "rnn": 0.7}),
     {"gru": (0.02, 0.3), "rnn": (0.01, 0.8)}, CONTRADICTED),
    # LSTM gains on GRU as the data grows, but only draws level with it: not "better on large data"
    (({"gru": 0.10, "rnn": 0.12}, {"gru": 0.01, "rnn": 0.01}), ({"gru": 0.0, "rnn": -0.08}, {"gru": 1.0, "rnn": 0.01}),
     {"gru": (-0.10, 0.001), "rnn": (-0.20, 0.001)}, NOISE),
    # the same numbers as the supported case, but DM cannot separate any of them: pure noise
    (({"gru": 0.10, "rnn": 0.12}, {"gru": 0.4, "rnn": 0.3}), ({"gru": -0.05, "rnn": -0.08}, {"gru": 0.5, "rnn": 0.2}),
     {"gru": (-0.15, 0.2), "rnn": (-0.20, 0.09)}, NOISE),
], ids=["gap-closes", "falls-behind", "draws-level", "noise"])
def test_lstm_claim_reads_the_trend_of_its_gap_as_the_data_grows(small, large, trends, expected):
    axis = data_axis(data_point(0.125, *small), data_point(1.0, *large), trends)
    assert verdicts.lstm_better_on_large_data(data_evidence({"history": axis})) == expected


def test_lstm_claim_axes_that_disagree_are_within_noise_and_a_missing_sweep_is_too_little_data():
    small = data_point(0.125, {"gru": 0.10, "rnn": 0.12}, {"gru": 0.01, "rnn": 0.01})
    gains = data_axis(small, data_point(1.0, {"gru": -0.05, "rnn": -0.08}, {"gru": 0.02, "rnn": 0.01}),
                      {"gru": (-0.15, 0.001), "rnn": (-0.20, 0.001)})
    loses = data_axis(small, data_point(1.0, {"gru": 0.3, "rnn": 0.3}, {"gru": 0.001, "rnn": 0.001}),
                      {"gru": (0.2, 0.001), "rnn": (0.18, 0.001)})
    assert verdicts.lstm_better_on_large_data(data_evidence({"history": gains, "series": loses})) == NOISE
    empty = {"points": [small], "trend": None, "dropped": [{"axis": "history", "value": 0.5, "have": 10, "need": 30}]}
    assert verdicts.lstm_better_on_large_data(data_evidence({"history": empty})) == TOO_LITTLE
    assert verdicts.lstm_better_on_large_data(data_evidence({"history": empty, "series": gains})) == SUPPORTED


def timing(mean, std=0.0, n=1):
    return {"mean": mean, "std": std, "n": n}


def speed_evidence(gru, lstm, counts=(600, 700)):
    return {"parameters_at_equal_hidden": {"rnn": 300, "gru": counts[0], "lstm": counts[1]},
            "seconds_per_step": {"rnn": timing(0.001), "gru": gru, "lstm": lstm}}


def test_speed_claim_needs_a_step_time_difference_beyond_the_spread():
    assert verdicts.fewer_parameters_faster(speed_evidence(timing(0.006), timing(0.008))) == SUPPORTED
    assert verdicts.fewer_parameters_faster(speed_evidence(timing(0.010), timing(0.008))) == CONTRADICTED
    # 5% apart, one fit each: inside the timing tolerance.
    assert verdicts.fewer_parameters_faster(speed_evidence(timing(0.0076), timing(0.008))) == NOISE
    # 25% apart, but the fits spread more than that.
    wide = speed_evidence(timing(0.006, 0.003, 3), timing(0.008, 0.003, 3))
    assert verdicts.fewer_parameters_faster(wide) == NOISE
    assert verdicts.fewer_parameters_faster(speed_evidence(timing(0.006), timing(0.008), (800, 700))) == CONTRADICTED


def convergence_evidence(gru_steps, lstm_steps, every=10):
    def side(steps):
        return {"steps_to_near_best": timing(*steps), "check_every": every}

    return {"near": 0.05, "rnn": side((100, 10, 3)), "gru": side(gru_steps), "lstm": side(lstm_steps)}


def test_convergence_claim_reads_steps_to_near_best_against_their_spread_and_the_check_interval():
    assert verdicts.converges_more_easily(convergence_evidence((100, 10, 3), (200, 20, 3))) == SUPPORTED
    assert verdicts.converges_more_easily(convergence_evidence((300, 10, 3), (200, 20, 3))) == CONTRADICTED
    assert verdicts.converges_more_easily(convergence_evidence((100, 80, 3), (150, 80, 3))) == NOISE
    # Closer than one check apart: the history cannot tell.
    assert verdicts.converges_more_easily(convergence_evidence((100, 0, 3), (140, 0, 3), every=50)) == NOISE
    assert verdicts.converges_more_easily(convergence_evidence((100, 0, 1), (140, 0, 1))) == TOO_LITTLE


def test_steps_to_near_best_are_measured_on_the_way_down_not_on_the_loss():
    from tsgate.evidence import steps_to_near

    checks = [{"step": 0, "val_loss": 1.0}, {"step": 10, "val_loss": 0.6}, {"step": 20, "val_loss": 0.52},
              {"step": 30, "val_loss": 0.5}, {"step": 40, "val_loss": 0.55}]
    assert steps_to_near(checks, 0.5, 0.05) == 20  # 0.52 is within 5% of the 0.5 fallen from 1.0
    flat = [{"step": 0, "val_loss": 0.364}, {"step": 10, "val_loss": 0.356}, {"step": 20, "val_loss": 0.348}]
    assert steps_to_near(flat, 0.348, 0.05) == 20  # the first check is within 5% of the loss, not of the way


# ---- the sweeps' data ----------------------------------------------------------------------------


def test_recent_parts_are_nested_suffixes_that_end_at_the_same_point():
    series = load_series(synthetic_long(n=100), DataOptions(id_col="store"))
    parts = [recent_part(series, fraction) for fraction in (1 / 8, 1 / 4, 1 / 2, 1.0)]
    assert [part.lengths for part in parts] == [[13] * 3, [25] * 3, [50] * 3, [100] * 3]
    for smaller, larger in zip(parts, parts[1:]):
        for small, large in zip(smaller.values, larger.values):
            assert np.array_equal(small, large[-len(small):])
        assert (smaller.last == larger.last).all()
    assert (parts[0].first == series.first + np.timedelta64(87, "D")).all()


def tiny_template(**changes):
    return Forecaster(**{"hidden": 8, "steps": 20, "lookback": 12, "horizon": 4, "ensemble": 1, **changes})


def test_every_sweep_fit_of_an_axis_is_scored_on_the_same_test_period():
    series = load_series(synthetic_long(ids=tuple("abcdefgh"), n=120), DataOptions(id_col="store"))
    template, options = tiny_template(), CompareOptions(folds=2)
    plan = plan_claims(series, template, options)
    fitted = {name: [template.with_params(backbone=name)] for name in ("rnn", "gru", "lstm")}
    fits = sweep_fits(series, template, options, plan, ClaimsOptions(), fitted)
    assert len(fits) == 2 * 3 * len(plan.distinct)
    for axis in ("history", "series", "lookback"):
        for fold in (0, 1):
            mine = [fit for fit in fits if fit.point.axis == axis and fit.fold == fold]
            assert len({fit.point for fit in mine}) >= 2, axis
            first = mine[0]
            for fit in mine[1:]:
                assert np.array_equal(fit.truth, first.truth)
                assert fit.score_set.ids == first.score_set.ids
                assert (fit.score_set.last == first.score_set.last).all()
                ends = dict(zip(fit.train_set.ids, fit.train_set.last))
                assert [ends[key] for key in fit.score_set.ids] == list(fit.score_set.last)  # training ends at the origin
    by_point = {fit.point: fit for fit in fits if fit.point.axis == "series" and fit.fold == 0}
    series_fits = [by_point[point] for point in sorted(by_point, key=lambda point: point.size)]
    learned = [set(fit.train_set.ids) for fit in series_fits]
    assert [len(ids) for ids in learned] == [1, 2, 4, 8]
    assert all(small < large for small, large in zip(learned, learned[1:]))  # nested sets of series
    assert set(series_fits[0].score_set.ids) == learned[0]


def test_the_plan_drops_what_the_series_cannot_hold_and_shares_the_full_data_fit():
    series = load_series(synthetic_sine(n=120), DataOptions())
    plan = plan_claims(series, tiny_template(), CompareOptions())
    assert [p.value for p in plan.axis("history")] == [0.25, 0.5, 1.0]
    # 1/8 of 116 points is 15, fewer than lookback 12 + horizon 4 + validation 4 + 3 more windows
    assert plan.dropped == [{"axis": "history", "value": 0.125, "have": 15, "need": 23}]
    assert [p.value for p in plan.axis("lookback")] == [3, 6, 12, 24]
    assert plan.aliases == {SweepPoint("lookback", 12, 12): SweepPoint("history", 1.0, 116)}
    assert len(plan.distinct) == len(plan.points) - 1


def test_data_too_short_for_any_sweep_is_one_data_error():
    series = load_series(synthetic_sine(n=14), DataOptions())
    with pytest.raises(DataError, match="--claims needs room"):
        plan_claims(series, tiny_template(lookback=2), CompareOptions())
    with pytest.raises(OptionError, match="--models lacks lstm"):
        plan_claims(series, tiny_template(), CompareOptions(models=("rnn", "gru")))


# ---- end to end --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def claims_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("claims")
    data = folder / "sine.csv"
    synthetic_sine(n=200).to_csv(data, index=False)
    loud = [option for option in FAST if option != "--quiet"]  # the plan and the claims' lines are on stderr
    result = invoke("compare", data, *loud, "--ensemble", "2", "--claims", "--format", "json",
                    "--plot", folder / "claims.png")
    assert result.exit_code == 0, describe(result)
    return result, folder


def test_compare_claims_gives_every_claim_with_its_verdict_and_evidence(claims_run):
    result, folder = claims_run
    document = json.loads(result.stdout)
    assert [claim["id"] for claim in document["claims"]] == CLAIM_IDS
    for claim in document["claims"]:
        assert set(claim) == {"id", "claim", "verdict", "summary", "evidence"}
        assert claim["verdict"] in verdicts.VERDICTS
        assert claim["summary"].endswith(claim["summary"].split(": ", 1)[1])
        assert f"{claim['verdict']} here" in claim["summary"]
    evidence = {claim["id"]: claim["evidence"] for claim in document["claims"]}
    counts = evidence["fewer-parameters-faster"]["parameters_at_equal_hidden"]
    assert counts["rnn"] < counts["gru"] < counts["lstm"]
    assert document["settings"]["match"] == "params"  # --claims judges at matched sizes unless told otherwise
    trained = evidence["fewer-parameters-faster"]["hidden_trained"]
    assert trained["gru"] == 8 and trained["rnn"] > 8 and trained["lstm"] < 8
    assert "at matched parameter counts" in document["claims"][0]["summary"]
    assert evidence["converges-more-easily"]["gru"]["steps_to_near_best"]["n"] == 2  # both ensemble members
    history = evidence["lstm-better-on-large-data"]["axes"]["history"]["points"]
    assert [point["value"] for point in history] == sorted(point["value"] for point in history)
    assert [p["value"] for p in evidence["rnn-enough-for-short-sequences"]["points"]] == [3, 6, 12, 24]
    plan = document["claims_plan"]
    assert plan["sweep_fits"] == 3 * (len(history) + 3)  # one seed; the base lookback shares the full-data fit
    assert plan["data"]["series"] == 1 and plan["data"]["points"] == 200
    assert (folder / "claims.png").read_bytes().startswith(b"\x89PNG")
    lines = result.stderr.splitlines()  # JSON on stdout: the plan, then the verdict and the claims, on stderr
    assert lines[0].startswith("claims: ") and "sweep fits" in lines[0]
    assert sum(line.startswith(("GRU ", "LSTM ", "RNN ")) for line in lines) == 4


def test_compare_claims_table_has_a_summary_line_per_claim_and_respects_match_hidden(tmp_path):
    data = tmp_path / "sine.csv"
    synthetic_sine(n=160).to_csv(data, index=False)
    result = invoke("compare", data, *FAST, "--ensemble", "1", "--models", "gru,lstm,rnn", "--claims",
                    "--match", "hidden", "--format", "table")
    assert result.exit_code == 0, describe(result)
    assert "Claims tested on 1 series, 160 points" in result.stdout
    assert "at equal hidden size a GRU step" in result.stdout
    for title in ("GRU fewer parameters, faster: ", "GRU converges more easily: too little data here",
                  "LSTM better on large data: ", "RNN enough for short sequences: "):
        assert title in result.stdout


def test_compare_claims_refuses_data_too_short_for_any_sweep_in_one_line(tmp_path):
    data = tmp_path / "short.csv"
    synthetic_sine(n=14).to_csv(data, index=False)
    result = invoke("compare", data, "--hidden", "4", "--epochs", "1", "--lookback", "2", "--horizon", "4", "--quiet",
                    "--claims")
    assert_one_line_error(result, pattern="--claims needs room")
    assert "--claims needs room" in result.stderr


def test_tuned_claims_read_the_trials_spread_from_rows_that_already_carry_their_search():
    from tsgate import Forecaster
    from tsgate.compare import CompareOptions
    from tsgate.data import DataOptions, load_series
    from tsgate.experiment import run_experiment
    from tsgate.tune import tuning_request

    series = load_series(synthetic_sine(n=200), DataOptions())
    template = Forecaster(lookback=12, horizon=4, hidden=8, epochs=1, ensemble=1)
    request = tuning_request(2)
    found = run_experiment(series, template, CompareOptions(match="params"), request, claims=True)
    rows = {row["model"]: row for row in found.comparison.rows}
    evidence = next(claim.evidence for claim in found.claims if claim.id == "converges-more-easily")
    for name in ("rnn", "gru", "lstm"):
        assert rows[name]["tuning"]["trials"] + rows[name]["tuning"]["pruned"] == 2
        assert evidence[name]["tuning"]["trials"] == rows[name]["tuning"]["trials"]
