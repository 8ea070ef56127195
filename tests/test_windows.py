"""Scaling fitted on training parts, the time split, and windows as views (synthetic data only)."""

import numpy as np
import pytest
import torch
from helpers.windowing import fit_affine, windows_of

from tsgate.errors import DataError, OptionError
from tsgate.windows import (
    SCALERS,
    Scaling,
    StartRanges,
    build_windows,
    check_length,
    fit_scaling,
    gather_windows,
    ragged_arange,
    segment_percentiles,
    start_counts,
    validation_length,
    validation_lengths,
    window_starts,
)


def synthetic(lengths, columns=1, seed=0):
    """Random-walk series of the given lengths, one (T, C) array each (synthetic)."""
    rng = np.random.default_rng(seed)
    return [np.cumsum(rng.standard_normal((n, columns)), axis=0) + 10 * k for k, n in enumerate(lengths)]


def end_to_end(values):
    """(flat, offsets) of per-series arrays."""
    return np.concatenate(values), np.concatenate([[0], np.cumsum([len(v) for v in values])])


def fit(kind, values, train_lengths, labels, **how):
    return fit_scaling(kind, *end_to_end(values), train_lengths, labels, **how)


# ---- scaling -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", SCALERS)
def test_scaler_round_trip(kind):
    values = synthetic([50, 80], columns=2)
    scaling = fit(kind, values, [40, 60], ["a", "b"])
    assert scaling.center.shape == (2, 2) and scaling.scale.shape == (2, 2)
    for i, series in enumerate(values):
        scaled = scaling.transform(i, series)
        np.testing.assert_allclose(scaling.inverse(i, scaled), series, rtol=1e-12, atol=1e-12)
        if kind != "none":
            assert not np.allclose(scaled, series)


def test_scalers_match_scikit_learn():
    from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

    train = synthetic([60], columns=3)[0]
    train[:, 2] = np.where(np.arange(60) % 10 == 0, 5.0, 0.0)  # mostly zeros: robust's spread is 0
    for kind, scaler in (("standard", StandardScaler()), ("minmax", MinMaxScaler()), ("robust", RobustScaler())):
        expected = scaler.fit_transform(train)
        center, scale = fit_affine(kind, train)
        np.testing.assert_allclose((train - center) / scale, expected, atol=1e-12)
        scaling = fit(kind, [train], [60], ["s"])
        np.testing.assert_allclose(scaling.transform(0, train), expected, atol=1e-12)


def test_none_scaler_is_identity():
    scaling = fit("none", [np.ones((5, 3))], [5], ["s"], constant="flag")
    center, scale = scaling.center[0], scaling.scale[0]
    assert center.tolist() == [0, 0, 0] and scale.tolist() == [1, 1, 1]


def test_unknown_scaler():
    with pytest.raises(OptionError, match="unknown --scaler 'log'"):
        fit("log", [np.arange(6.0).reshape(3, 2)], [3], ["s"])


def test_segment_percentiles_are_numpys_percentiles_of_each_segment_exactly():
    rng = np.random.default_rng(7)
    lengths = np.concatenate([[1, 1, 2, 3], rng.integers(1, 40, size=60)])
    part = rng.standard_normal((int(lengths.sum()), 2)) * rng.uniform(0.1, 100)
    part[: len(part) // 2, 1] = np.round(part[: len(part) // 2, 1])  # ties, as counts have
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    qs = (25, 50, 75, 10, 99.5)
    found = segment_percentiles(part, starts, lengths, qs)
    assert found.shape == (len(qs), len(lengths), 2)
    for k, (start, length) in enumerate(zip(starts, lengths)):
        np.testing.assert_array_equal(found[:, k], np.percentile(part[start:start + length], qs, axis=0))


@pytest.mark.parametrize("kind", ["standard", "minmax", "robust"])
def test_scaler_sees_only_the_training_part(kind):
    series = synthetic([100])[0]
    changed = series.copy()
    changed[70:] *= 1000  # wildly different validation part
    first = fit(kind, [series], [70], ["s"])
    second = fit(kind, [changed], [70], ["s"])
    np.testing.assert_array_equal(first.center, second.center)
    np.testing.assert_array_equal(first.scale, second.scale)
    # ... while changing one training point does change them.
    moved = series.copy()
    moved[:5] += 50
    third = fit(kind, [moved], [70], ["s"])
    assert not (np.array_equal(first.center, third.center) and np.array_equal(first.scale, third.scale))


def test_scaling_is_per_series():
    values = [np.linspace(0, 1, 30)[:, None], np.linspace(100, 300, 30)[:, None]]
    scaling = fit("minmax", values, [30, 30], ["a", "b"])
    assert scaling.center[:, 0].tolist() == [0.0, 100.0]
    np.testing.assert_allclose(scaling.scale[:, 0], [1.0, 200.0])


def test_constant_training_part_is_refused():
    series = np.concatenate([np.full(40, 3.5), np.arange(10.0)])[:, None]  # varies only in validation
    with pytest.raises(DataError) as caught:
        fit("standard", [synthetic([50])[0], series], [40, 40], ["series 'a'", "series 'b'"])
    message = str(caught.value)
    assert "series 'b'" in message and "constant" in message and "3.5" in message and "\n" not in message


def test_constant_column_among_others_is_refused():
    series = np.column_stack([np.arange(20.0), np.zeros(20)])
    with pytest.raises(DataError, match="constant"):
        fit("none", [series], [15], ["the series"])


@pytest.mark.parametrize("kind", SCALERS)
def test_scalers_fitted_together_equal_each_series_fitted_alone(kind):
    rng = np.random.default_rng(3)
    lengths = rng.integers(2, 60, size=40)
    values = [rng.standard_normal((n, 2)) * rng.uniform(0.1, 50) + rng.uniform(-100, 100) for n in lengths]
    values[5][:, 1] = np.round(values[5][:, 1])  # ties, as counts have
    train_lengths = np.maximum(lengths * 3 // 4, 1)
    scaling = fit(kind, values, train_lengths, [f"s{k}" for k in range(40)], constant="flag")
    for k, (series, t) in enumerate(zip(values, train_lengths)):
        center, scale = fit_affine(kind, series[:t])
        np.testing.assert_allclose(scaling.center[k], center, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(scaling.scale[k], scale, rtol=1e-12, atol=1e-12)


def test_constant_series_are_flagged_when_asked_and_scaled_by_one():
    values = [synthetic([30])[0], np.zeros((30, 1)), np.column_stack([np.arange(30.0), np.zeros(30)])[:, :1]]
    scaling = fit("standard", values, [20, 20, 20], ["a", "b", "c"], constant="flag")
    assert scaling.is_constant().tolist() == [False, True, False]
    assert scaling.scale[1].tolist() == [1.0] and scaling.center[1].tolist() == [0.0]
    with pytest.raises(DataError, match="'b'|b is constant"):
        fit("standard", values, [20, 20, 20], ["a", "b", "c"])


def test_transform_many_series_at_once_equals_one_by_one():
    values = synthetic([30, 40, 50], columns=2)
    scaling = fit("robust", values, [20, 30, 40], ["a", "b", "c"])
    contexts = np.stack([v[-10:] for v in values])
    numbers = np.array([2, 0, 1])
    together = scaling.transform(numbers, contexts[numbers])
    for row, k in enumerate(numbers):
        np.testing.assert_allclose(together[row], scaling.transform(k, contexts[k]))
    np.testing.assert_allclose(scaling.inverse(numbers, together), contexts[numbers])


def test_window_starts_are_every_window_that_fits_in_order():
    ends, span = np.array([5, 2, 7, 4]), 3  # series 1 is too short for one window
    series, starts = window_starts(ends, span)
    expected = [(s, t) for s, end in enumerate(ends) for t in range(end - span + 1)]
    assert list(zip(series.tolist(), starts.tolist())) == expected
    assert start_counts(ends, span).tolist() == [3, 0, 5, 2]
    series, starts = window_starts(ends, span, begin=np.array([1, 0, 4, 3]))  # series 3 has room for none
    assert list(zip(series.tolist(), starts.tolist())) == [(0, 1), (0, 2), (2, 4)]


def test_window_starts_thin_evenly_to_at_most_a_number():
    ends, span = np.array([50, 30, 80]), 4
    every = list(zip(*(part.tolist() for part in window_starts(ends, span))))
    series, starts = window_starts(ends, span, most=10)
    assert len(series) == 10
    picked = list(zip(series.tolist(), starts.tolist()))
    assert picked[0] == every[0] and picked[-1] == every[-1] and set(picked) <= set(every)
    assert len(window_starts(ends, span, most=1000)[0]) == len(every)


def test_gather_windows_cuts_each_series_at_its_own_rows():
    values = synthetic([12, 9, 15], columns=2)
    flat, offsets = end_to_end(values)
    series, starts = np.array([2, 0, 1, 2]), np.array([11, 0, 5, 3])
    windows = gather_windows(flat, offsets, series, starts, 4)
    assert windows.shape == (4, 4, 2)
    for window, s, t in zip(windows, series, starts):
        np.testing.assert_array_equal(window, values[s][t:t + 4])
    # Rows of one shared grid, each series from its own first row (offsets without the total).
    grid = np.arange(100.0)
    assert gather_windows(grid, np.array([10, 40]), np.array([1, 0]), np.array([2, 0]), 3).tolist() == [[42, 43, 44], [10, 11, 12]]


def test_ragged_arange_is_the_loop_it_replaces():
    starts, counts = [5, 0, 100, 7], [3, 0, 4, 1]
    expected = np.concatenate([s + 2 * np.arange(c) for s, c in zip(starts, counts)])
    assert ragged_arange(starts, counts, 2).tolist() == expected.tolist()
    assert ragged_arange([1], [0]).tolist() == []


def test_scaling_from_saved_arrays_inverts():
    scaling = Scaling(np.array([[10.0]]), np.array([[2.0]]))
    assert scaling.transform(0, np.array([[14.0]])).tolist() == [[2.0]]
    assert scaling.inverse(0, np.array([[2.0]])).tolist() == [[14.0]]


# ---- lengths -------------------------------------------------------------------------------------


def test_validation_length_is_at_least_one_horizon():
    assert validation_length(100, 12, 0.05) == 12
    assert validation_length(100, 4, 0.2) == 20
    assert validation_length(101, 4, 0.2) == 21  # rounded up
    lengths = np.arange(5, 400)
    assert validation_lengths(lengths, 7, 0.15).tolist() == [validation_length(n, 7, 0.15) for n in lengths]


def test_check_length_message():
    check_length(40, 24, 12, 4, "the series")  # exactly enough
    with pytest.raises(DataError) as caught:
        check_length(39, 24, 12, 4, "series 'x'")
    message = str(caught.value)
    assert "series 'x' has 39 points" in message
    assert "at least 40" in message and "--lookback" in message and "\n" not in message


# ---- windows ---------------------------------------------------------------------------------------


def make(lengths, lookback, horizon, fraction=0.2, columns=1, **how):
    values = synthetic(lengths, columns)
    vals = [validation_length(n, horizon, fraction) for n in lengths]
    train_lengths = [n - v for n, v in zip(lengths, vals)]
    return values, train_lengths, windows_of(values, train_lengths, lookback, horizon, **how)


def series_bounds(lengths):
    ends = np.cumsum(lengths)
    return ends - np.asarray(lengths), ends


def test_shapes_and_dtypes():
    lengths, lookback, horizon = [50, 37, 64], 8, 3
    values, train_lengths, data = make(lengths, lookback, horizon, columns=2)
    total = sum(lengths)
    assert data.flat.shape == (total, 2) and data.flat.dtype == torch.float64
    assert data.windows.shape == (total - lookback - horizon + 1, lookback + horizon, 2)
    assert data.val_starts.dtype == torch.int64
    assert len(data.series_of_val) == len(data.val_starts)
    assert data.lookback == lookback and data.n_targets == 2
    # float64 asked for: the series are held exactly, not rounded to float32.
    np.testing.assert_array_equal(data.flat.numpy(), np.concatenate(values))
    # `all` is every window inside one series (what a refit learns from), and no other.
    first, end = series_bounds(lengths)
    expected = np.concatenate([np.arange(f, e - lookback - horizon + 1) for f, e in zip(first, end)])
    np.testing.assert_array_equal(data.all.tensor().numpy(), expected)
    assert set(data.train.tensor().tolist()) <= set(expected.tolist())
    assert set(data.val_starts.tolist()) <= set(expected.tolist())
    assert windows_of(values, train_lengths, lookback, horizon, dtype=np.float32).flat.dtype == torch.float32


def test_start_ranges_find_the_kth_start_of_the_set():
    ranges = StartRanges([0, 50, 90, 200], [10, 0, 5, 3])
    expected = list(range(0, 10)) + list(range(90, 95)) + list(range(200, 203))
    assert len(ranges) == 18 and ranges.tensor().tolist() == expected
    order = torch.tensor([17, 0, 10, 9, 14], dtype=torch.int32)
    assert ranges.at(order).tolist() == [expected[k] for k in order.tolist()]


def test_series_that_do_not_learn_give_no_windows():
    lengths, lookback, horizon = [40, 40, 40], 6, 2
    values = synthetic(lengths)
    train_lengths = [32, 32, 32]
    offsets = np.array([0, 40, 80, 120])
    data = build_windows(np.concatenate(values), offsets, train_lengths, lookback, horizon, learn=[True, False, True])
    for starts in (data.train.tensor(), data.all.tensor(), data.val_starts):
        assert not ((starts >= 40) & (starts < 80)).any()
    assert set(data.series_of_val.tolist()) == {0, 2}


def test_calendar_inputs_follow_the_targets():
    lengths, lookback, horizon = [30, 25], 5, 3
    values = synthetic(lengths, columns=2)
    train_lengths = [n - validation_length(n, horizon, 0.2) for n in lengths]
    calendar = [np.full((n, 3), 100.0 + k) + np.arange(n)[:, None] for k, n in enumerate(lengths)]
    data = windows_of(values, train_lengths, lookback, horizon, calendar)
    assert data.flat.shape == (sum(lengths), 2) and data.n_targets == 2
    np.testing.assert_array_equal(data.flat.numpy(), np.concatenate(values))
    # The calendar changes no split: the same starts as without it.
    plain = windows_of(values, train_lengths, lookback, horizon)
    for name in ("train", "all"):
        assert torch.equal(getattr(data, name).tensor(), getattr(plain, name).tensor())
    assert torch.equal(data.val_starts, plain.val_starts)


def test_calendar_on_a_shared_grid_gives_each_window_its_own_steps():
    lookback, horizon, lengths = 4, 2, [20, 15]
    values = synthetic(lengths)
    grid = np.arange(40.0)[:, None] * np.array([[1.0, -1.0]])  # grid point g has features (g, -g)
    offsets = np.array([0, 20, 35])
    data = build_windows(np.concatenate(values), offsets, [16, 11], lookback, horizon, (grid, np.array([3, 21])))
    starts = torch.tensor([0, 7, 20, 26])
    x, _ = data.gather(starts)
    for row, start in enumerate(starts.tolist()):
        series = 0 if start < 20 else 1
        first_grid = [3, 21][series] + start - offsets[series]
        assert x[row, :, 1].tolist() == list(range(first_grid, first_grid + lookback))


def test_windows_are_a_view_of_flat():
    _, _, data = make([40, 40], 6, 2)
    assert data.windows.untyped_storage().data_ptr() == data.flat.untyped_storage().data_ptr()
    start = int(data.train.tensor()[3])
    data.flat[start + 1, 0] = 12345.0
    assert data.windows[start, 1, 0].item() == 12345.0


def test_window_contents_match_the_series():
    lookback, horizon = 5, 3
    values, _, data = make([30, 25], lookback, horizon, columns=2)
    flat = np.concatenate(values)
    for start in data.train.tensor().tolist() + data.val_starts.tolist() + data.all.tensor().tolist():
        np.testing.assert_array_equal(data.windows[start].numpy(), flat[start:start + lookback + horizon])


@pytest.mark.parametrize("lengths, lookback, horizon", [([40], 6, 2), ([50, 31, 77], 7, 4), ([20, 20], 1, 1), ([30], 10, 10)])
def test_no_leakage_no_boundary_crossing_and_right_counts(lengths, lookback, horizon):
    _, train_lengths, data = make(lengths, lookback, horizon)
    span = lookback + horizon
    first, end = series_bounds(lengths)
    train_starts = data.train.tensor().numpy()
    val_starts = data.val_starts.numpy()

    def owner_of(start):
        return int(np.searchsorted(end, start, side="right"))

    for start in train_starts:
        s = owner_of(start)
        assert start + span <= end[s], "window crosses into the next series"
        last_target = start + span - 1
        assert last_target < first[s] + train_lengths[s], "training target inside the validation part"
    for start, s_expected in zip(val_starts, data.series_of_val):
        s = owner_of(start)
        assert s == s_expected
        assert start + span <= end[s], "window crosses into the next series"
        assert start + lookback >= first[s] + train_lengths[s], "validation target inside the training part"
        assert start >= first[s], "validation input reaches into the previous series"

    for s, (n, t) in enumerate(zip(lengths, train_lengths)):
        assert ((train_starts >= first[s]) & (train_starts < end[s])).sum() == t - span + 1
        assert ((val_starts >= first[s]) & (val_starts < end[s])).sum() == n - t - horizon + 1
    # Every validation target point is covered by some window.
    for s, (n, t) in enumerate(zip(lengths, train_lengths)):
        covered = {p for st in val_starts if first[s] <= st < end[s] for p in range(st + lookback, st + span)}
        assert covered == set(range(first[s] + t, first[s] + n))


def test_starts_are_unique_and_sorted():
    _, _, data = make([60, 45], 8, 4)
    for starts in (data.train.tensor().numpy(), data.val_starts.numpy()):
        assert np.all(np.diff(starts) > 0)


def test_gather_shapes_and_values():
    lookback, horizon = 6, 3
    _, _, data = make([40, 40], lookback, horizon, columns=2)
    starts = data.train.at(torch.tensor([0, 5, 9]))
    x, y = data.gather(starts)
    assert x.shape == (3, lookback, 2) and y.shape == (3, horizon, 2)
    assert x.dtype == y.dtype == torch.float64
    first = int(starts[1])
    assert torch.equal(x[1], data.flat[first:first + lookback])
    assert torch.equal(y[1], data.flat[first + lookback:first + lookback + horizon])
    # The batch is a copy: changing it leaves the series alone.
    before = data.flat.clone()
    x.add_(1.0)
    assert torch.equal(data.flat, before)


def test_gather_targets_leave_out_the_calendar():
    lookback, horizon, lengths = 6, 3, [40, 40]
    values = synthetic(lengths, columns=2)
    train_lengths = [n - validation_length(n, horizon, 0.2) for n in lengths]
    calendar = [np.column_stack([np.sin(np.arange(n)), np.cos(np.arange(n)), -np.arange(n, dtype=float)]) for n in lengths]
    data = windows_of(values, train_lengths, lookback, horizon, calendar)
    starts = data.train.at(torch.tensor([0, 5, 9]))
    x, y = data.gather(starts)
    assert x.shape == (3, lookback, 5) and y.shape == (3, horizon, 2)
    first = int(starts[2])
    flat_calendar = torch.from_numpy(np.concatenate(calendar))
    assert torch.equal(x[2, :, :2], data.flat[first:first + lookback])  # targets
    assert torch.equal(x[2, :, 2:], flat_calendar[first:first + lookback])  # then calendar
    assert torch.equal(y[2], data.flat[first + lookback:first + lookback + horizon])  # targets only
