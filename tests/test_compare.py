"""compare: same ground for all, folds never see the future, the table and JSON keep their shape."""

import json

import numpy as np
import pytest
from conftest import synthetic_long, synthetic_sine
from helpers.cli import invoke

from tsgate import Forecaster
from tsgate.compare import (
    BASELINES,
    CompareOptions,
    run_comparison,
    split_fold,
)
from tsgate.data import DataOptions, load_series
from tsgate.errors import OptionError
from tsgate.models import ModelConfig
from tsgate.sizes import count_parameters

ROW_KEYS = {"model", "kind", "rank", "parameters", "hidden", "train_seconds", "seconds_per_step", "steps_run", "forecast_ms", "effective_memory",
            "mae", "mae_std", "rmse", "rmse_std", "smape", "smape_std", "mase", "mase_std", "dm_p"}
TEMPLATE = dict(lookback=24, horizon=6, hidden=8, epochs=2, batch_size=64)
COMPARE_FAST = ["--lookback", "24", "--horizon", "6", "--hidden", "8", "--epochs", "2", "--quiet"]  # TEMPLATE's, on the CLI


def sine_series(n=300):
    return load_series(synthetic_sine(n=n), DataOptions())


@pytest.fixture(scope="module")
def comparison():
    return run_comparison(sine_series(), Forecaster(**TEMPLATE), CompareOptions(seeds=2, folds=2))


def test_one_row_per_backbone_and_baseline(comparison):
    assert sorted(row["model"] for row in comparison.rows) == sorted(["rnn", "gru", "lstm", *BASELINES])
    assert all(set(row) == ROW_KEYS for row in comparison.rows)
    assert sorted(row["rank"] for row in comparison.rows) == list(range(1, 7))
    ranked = [row["mase"] for row in comparison.rows]
    assert ranked == sorted(ranked)


def test_parameter_counts_are_the_hand_counts(comparison):
    # Hourly data: day and week calendar inputs (4 channels), and the highway (on by default).
    hand = {"rnn": 1 * (8 * (5 + 8) + 2 * 8), "gru": 3 * (8 * (5 + 8) + 2 * 8), "lstm": 4 * (8 * (5 + 8) + 2 * 8)}
    head, highway = 8 * 6 + 6, 24 * 6 + 6
    for row in comparison.rows:
        if row["kind"] == "recurrent":
            config = ModelConfig(row["model"], n_targets=1, lookback=24, horizon=6, hidden=8, n_calendar=4, highway=True)
            assert row["parameters"] == count_parameters(config) == hand[row["model"]] + head + highway


def test_baselines_have_no_training_columns_and_no_spread(comparison):
    naive = next(row for row in comparison.rows if row["model"] == "naive")
    assert naive["parameters"] is None and naive["steps_run"] is None and naive["train_seconds"] is None
    assert naive["seconds_per_step"] is None
    assert naive["mae_std"] == 0.0
    recurrent = [row for row in comparison.rows if row["kind"] == "recurrent"]
    assert len(recurrent) == 3
    # --epochs 2 caps each watched run at 2 passes of ceil(~200 windows / 64) = 4 steps: 8 steps, checked once
    # at the end (inside the 10-step check interval); then a refit of 0 or 8 steps. 3 members: 24 to 48 steps.
    assert all(3 * 8 <= row["steps_run"] <= 3 * 16 for row in recurrent)
    assert all(row["train_seconds"] > 0 and row["seconds_per_step"] > 0 for row in recurrent)


def test_best_row_has_no_p_value_and_others_have_one(comparison):
    best, *others = comparison.rows
    assert best["dm_p"] is None
    assert all(0.0 <= row["dm_p"] <= 1.0 for row in others)


def test_seasonal_naive_on_an_exactly_periodic_series_is_perfect():
    series = load_series(synthetic_sine(n=300, noise=0.0), DataOptions())
    # A network anchored on the last value has to learn the season, and 8 steps do not teach it.
    result = run_comparison(series, Forecaster(**TEMPLATE, anchor="last"), CompareOptions(models=("rnn",)))
    seasonal = next(row for row in result.rows if row["model"] == "seasonal_naive")
    assert result.settings["season"] == 24
    assert seasonal["mae"] < 1e-9 and seasonal["rank"] == 1
    # Anchored on the season (what anchor auto picks here) the untrained network already forecasts
    # seasonal naive exactly, and no step improves on a perfect forecast: the two tie.
    anchored = run_comparison(series, Forecaster(**TEMPLATE), CompareOptions(models=("rnn",)))
    rows = {row["model"]: row for row in anchored.rows}
    assert rows["seasonal_naive"]["mae"] < 1e-9 and rows["rnn"]["mae"] < 1e-9
    assert {rows["seasonal_naive"]["rank"], rows["rnn"]["rank"]} == {1, 2}


def test_metrics_are_on_the_original_scale():
    frame = synthetic_sine(n=300)
    frame["load"] *= 1000
    result = run_comparison(load_series(frame, DataOptions()), Forecaster(**TEMPLATE), CompareOptions(models=("gru",)))
    small = run_comparison(sine_series(), Forecaster(**TEMPLATE), CompareOptions(models=("gru",)))
    naive_big = next(r for r in result.rows if r["model"] == "naive")
    naive_small = next(r for r in small.rows if r["model"] == "naive")
    assert naive_big["mae"] == pytest.approx(1000 * naive_small["mae"])
    assert naive_big["mase"] == pytest.approx(naive_small["mase"])


def test_a_fold_never_trains_on_data_at_or_after_its_origin(monkeypatch):
    series = sine_series()
    seen = []
    original = Forecaster.fitting

    def spy(self, train_set, **how):
        seen.append(train_set.index[0][-1])
        assert train_set.ids == series.ids  # every series is fitted and scored on every fold
        return original(self, train_set, **how)

    monkeypatch.setattr(Forecaster, "fitting", spy)
    run_comparison(series, Forecaster(**TEMPLATE), CompareOptions(models=("rnn",), folds=3))
    stamps = series.index[0]
    origins = [stamps[len(stamps) - (k + 1) * 6] for k in range(3)]  # first test point of each fold
    assert len(seen) == 3
    assert all(last < origin for last, origin in zip(seen, origins))
    assert seen[0] == stamps[-7]  # fold 0 trains right up to the last horizon


def test_split_fold_truth_is_the_horizon_after_the_origin():
    series = sine_series()
    train_set, truth = split_fold(series, 6, 1)
    values = series.values[0]
    assert np.array_equal(truth[0], values[-12:-6])
    assert np.array_equal(train_set.values[0], values[:-12])


def test_global_comparison_over_many_series():
    series = load_series(synthetic_long(), DataOptions(id_col="store"))
    result = run_comparison(series, Forecaster(**{**TEMPLATE, "lookback": 14, "horizon": 7}), CompareOptions(models=("gru",)))
    assert result.settings["series"] == 3 and result.settings["season"] == 7
    assert len(result.rows) == 4


@pytest.mark.parametrize("options,message", [
    (CompareOptions(folds=45), "--folds 45 leave"),
    (CompareOptions(season=300 - 6), "as long as the shortest series"),  # 300 points less the test horizon
    (CompareOptions(season=500), "as long as the shortest series"),
    (CompareOptions(models=("rnn", "cnn")), "unknown model 'cnn'"),
    (CompareOptions(seeds=0), "--seeds must be at least 1"),
])
def test_contradictory_options_are_refused_before_training(options, message):
    with pytest.raises(OptionError, match=message):
        run_comparison(sine_series(), Forecaster(**TEMPLATE), options)


def test_a_season_longer_than_the_lookback_is_read_from_the_series_end():
    series = sine_series()
    template = Forecaster(**{**TEMPLATE, "ensemble": 1})
    result = run_comparison(series, template, CompareOptions(models=("rnn",), season=48))  # lookback 24
    assert result.settings["season"] == 48
    values = series.values[0][:, 0]
    train, truth = values[:-6], values[-6:]
    by_hand = np.abs(truth - train[-48:-42]).mean()  # the last 48 points repeated: the horizon is their first 6
    seasonal = next(row for row in result.rows if row["model"] == "seasonal_naive")
    assert seasonal["mae"] == pytest.approx(by_hand, rel=1e-12)
    assert seasonal["mae"] != pytest.approx(np.abs(truth - train[-24:-18]).mean(), rel=1e-3)  # not the lag-24 forecast


def test_cli_json_shape_and_same_numbers_as_csv(sine_csv):
    args = ["compare", sine_csv, "--models", "rnn,gru", *COMPARE_FAST]
    as_json = invoke(*args, "--format", "json")
    assert as_json.exit_code == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    assert set(document) == {"rows", "settings", "versions", "verdict"}
    assert set(document["versions"]) == {"tsgate", "torch", "python"}
    assert document["settings"]["models"] == ["rnn", "gru"] and document["settings"]["rank_by"] == "mase"
    assert all(set(row) == ROW_KEYS for row in document["rows"])
    as_csv = invoke(*args, "--format", "csv")
    header, *lines = as_csv.stdout.strip().splitlines()
    assert len(lines) == 5 and header.split(",")[0] == "model"
    first = dict(zip(header.split(","), lines[0].split(",")))
    assert float(first["mase"]) == pytest.approx(document["rows"][0]["mase"])


def test_cli_save_dir_keeps_models_that_forecast(sine_csv, tmp_path):
    save_dir = tmp_path / "models"
    result = invoke("compare", sine_csv, "--models", "gru", *COMPARE_FAST, "--save-dir", save_dir, "-f", "csv")
    assert result.exit_code == 0, result.stderr
    saved = save_dir / "gru-seed0-fold0.tsgate"
    assert saved.exists()
    forecast = invoke("forecast", saved, "-f", "json")
    assert forecast.exit_code == 0 and len(json.loads(forecast.stdout)) == 6


def test_cli_markdown_has_a_row_per_model(sine_csv):
    result = invoke("compare", sine_csv, "--models", "rnn", *COMPARE_FAST, "-f", "markdown")
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("| model |") and len(lines) == 2 + 4


def test_a_season_as_long_as_the_shortest_series_is_recorded_and_seasonal_naive_falls_back():
    from tsgate.compare import resolve_season

    hourly = sine_series(n=300)  # season 24
    assert resolve_season(CompareOptions(), hourly, reference=24) is None
    assert resolve_season(CompareOptions(), hourly, reference=25) == 24
    with pytest.raises(OptionError, match="--season 30 is as long as the shortest series"):
        resolve_season(CompareOptions(season=30), hourly, reference=30)
    short = load_series(synthetic_sine(n=24), DataOptions())  # 24 - 1 fold x 4 leaves 20 points, under 24
    result = run_comparison(short, Forecaster(lookback=4, horizon=4, hidden=4, epochs=1, ensemble=1),
                            CompareOptions(models=("gru",)))
    assert result.settings["season"] is None and result.season_too_long == ("h", 24, 20)
