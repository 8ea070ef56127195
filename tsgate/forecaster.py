"""Forecaster: the estimator a user scripts, and the one `train`, `forecast` and `compare` call.

    from tsgate import Forecaster
    from tsgate.data import DataOptions, load_series
    from tsgate.io import read_csv

    series = load_series(read_csv("sample_data/air_passengers.csv"), DataOptions())
    model = Forecaster(backbone="gru", horizon=12).fit(series)
    model.predict()          # DataFrame: the next 12 months after the training data
    model.save("air.tsgate")

A fitted Forecaster is an ensemble of `ensemble` networks of one backbone that
differ in seed (and, with lookback "auto", in lookback); its forecast is their
median. Each member trains with early stopping on the validation part and is
then refitted on every window for the number of steps that validated best.

The estimator holds the contract and delegates the work: prepare.py turns the series into a
training plan, schedule.py trains the members on it and returns a fitted.Fitted record, whose
fields become the `*_` attributes; modelfile.py writes and reads that record.
"""

from __future__ import annotations

import inspect
from dataclasses import fields, replace

import numpy as np

from tsgate.config import (
    ANCHORS,
    BACKBONE_NAMES,
    DEFAULT_ANCHOR,
    DEFAULT_CALENDAR,
    DEFAULT_LOOKBACK,
    MODEL_CHOICES,
    ModelConfig,
    TrainConfig,
)
from tsgate.errors import DataError, ModelFileError, OptionError

M, T = ModelConfig, TrainConfig  # their field defaults are the Forecaster's


class Forecaster:
    """A recurrent forecaster with scikit-learn's contract: __init__ stores, fit learns `*_`, predict checks."""

    def __init__(self, backbone: str = M.backbone, lookback: int | str = DEFAULT_LOOKBACK, horizon: int = M.horizon,
                 hidden: int = M.hidden, layers: int = M.layers, dropout: float = M.dropout, norm: str = M.norm,
                 highway: bool = M.highway, anchor: str = DEFAULT_ANCHOR, calendar: bool = DEFAULT_CALENDAR, steps: int = T.steps,
                 epochs: int | None = T.epochs, batch_size: int = T.batch_size, lr: float = T.lr,
                 patience: int = T.patience, clip: float = T.clip, val_fraction: float = T.val_fraction,
                 scaler: str = T.scaler, loss: str = T.loss, refit: bool = T.refit, ensemble: int = T.ensemble,
                 device: str = T.device, seed: int = T.seed, threads: int = T.threads):
        self.backbone = backbone
        self.lookback = lookback
        self.horizon = horizon
        self.hidden = hidden
        self.layers = layers
        self.dropout = dropout
        self.norm = norm
        self.highway = highway
        self.anchor = anchor
        self.calendar = calendar
        self.steps = steps
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.clip = clip
        self.val_fraction = val_fraction
        self.scaler = scaler
        self.loss = loss
        self.refit = refit
        self.ensemble = ensemble
        self.device = device
        self.seed = seed
        self.threads = threads

    # ---- configuration -------------------------------------------------------------

    def check_options(self) -> TrainConfig:
        """Validate every option before any data is read (OptionError for bad values)."""
        if self.backbone not in MODEL_CHOICES:
            raise OptionError(f"unknown model {self.backbone!r}: use one of {', '.join(MODEL_CHOICES)}")
        if self.anchor not in ANCHORS:
            raise OptionError(f"unknown --anchor {self.anchor!r}: use one of {', '.join(ANCHORS)}")
        if self.lookback != "auto" and not (isinstance(self.lookback, int) and not isinstance(self.lookback, bool)):
            raise OptionError(f"--lookback must be a whole number of steps or 'auto', got {self.lookback!r}")
        self.network_shape()
        return self.train_config()

    def network_shape(self) -> ModelConfig:
        """The network options every member shares; the fit sets each member's backbone, targets,
        lookback, anchor and calendar inputs from the data."""
        lookback = M.lookback if self.lookback == "auto" else self.lookback
        return ModelConfig(BACKBONE_NAMES[0] if self.backbone == "auto" else self.backbone, 1, lookback, self.horizon,
                           self.hidden, self.layers, self.dropout, self.norm, 0 if self.anchor == "none" else 1, 0,
                           self.highway)

    def train_config(self, seed: int | None = None) -> TrainConfig:
        return TrainConfig(self.steps, self.epochs, self.batch_size, self.lr, self.patience, self.clip, self.val_fraction,
                           self.scaler, self.loss, self.refit, self.ensemble, self.device,
                           self.seed if seed is None else seed, self.threads)

    def resolve_lookback(self, series) -> int:
        """The base lookback a fit on these series reads: the given one (checked against every series of
        a strict set), or the auto choice (in a panel, from its typical series)."""
        from tsgate.prepare import usable_series

        return usable_series(series, self.lookback, self.horizon, self.val_fraction)[1]

    # ---- fit ---------------------------------------------------------------------------

    def fit(self, series, on_progress=None, jobs: int = 1, time_limit: float | None = None, **columns) -> "Forecaster":
        """Train on a SeriesSet, or on a pandas DataFrame read as the CLI reads a CSV, its columns named
        by `columns` (DataOptions' fields: target, time_col, id_col, past_cov, future_cov, static_cov,
        categorical, freq, fill, strict; a name or a list for the lists), with the same validation and
        errors; `on_progress(done, total, train_loss, val_loss)` reports steps.
        The members train on up to `jobs` worker processes (on CPU; one at a time on a GPU);
        the result does not depend on `jobs`. In a panel, a series shorter than the lookback is read
        through padded windows, one too short to learn from is forecast from its own points and
        flagged (`fallback_`), and a constant one forecasts its constant, unless `series.strict`.
        `time_limit` bounds each network's watched run in seconds (see `fitting`)."""
        from tsgate.data import as_series_set

        from tsgate.ensemble import run_fits

        series = as_series_set(series, columns)
        run_fits([self.fitting(series, time_limit)], self.workers(jobs), on_progress, self.expected_steps(series))
        return self

    def workers(self, jobs: int | None) -> int:
        """Worker processes for `jobs` (None: one per usable core); 1 on a GPU, which the fits would share."""
        from tsgate.parallel import check_jobs
        from tsgate.train import resolve_device

        jobs = check_jobs(jobs)
        return jobs if resolve_device(self.check_options().device).type == "cpu" else 1

    def fitting(self, series, time_limit: float | None = None):
        """The fit as a generator: it yields lists of ensemble.MemberTask, is sent their
        TrainedMember, and sets the fitted attributes at its end (ensemble.run_fits drives it).
        With `time_limit`, each network's watched run stops after that many seconds (compare's
        equal wall-clock budget); the fit then depends on the machine's speed."""
        from tsgate import train as training
        from tsgate.prepare import plan_training
        from tsgate.schedule import fit_ensemble

        train_config = self.check_options()
        device = training.resolve_device(train_config.device)
        training.configure_torch(train_config.threads)
        plan = plan_training(series, lookback=self.lookback, horizon=self.horizon, val_fraction=self.val_fraction,
                             members=self.ensemble, anchor=self.anchor, calendar=self.calendar, scaler=self.scaler)
        fitted = yield from fit_ensemble(plan, self.backbone, self.network_shape(), train_config, device.type, time_limit)
        return self.set_fitted(fitted)

    def set_fitted(self, fitted) -> "Forecaster":
        """Take the learned state of a fitted.Fitted: each field becomes the attribute of its name
        with a trailing underscore (ids -> ids_)."""
        for field in fields(fitted):
            setattr(self, f"{field.name}_", getattr(fitted, field.name))
        return self

    def fitted_state(self):
        """The learned state as a fitted.Fitted record (what a model file holds)."""
        from tsgate.fitted import Fitted

        self.check_fitted()
        return Fitted(**{field.name: getattr(self, f"{field.name}_") for field in fields(Fitted)})

    def expected_steps(self, series) -> int:
        """The progress bar's total: the most watched steps of every network the fit trains."""
        from tsgate.prepare import train_lengths
        from tsgate.train import step_budget

        runs = self.ensemble + (len(BACKBONE_NAMES) - 1 if self.backbone == "auto" else 0)
        lookback = 1 if self.lookback == "auto" else self.lookback
        windows = np.maximum(train_lengths(series, self.horizon, self.val_fraction) - lookback - self.horizon + 1, 1).sum()
        return runs * step_budget(self.check_options(), int(windows))

    # ---- predict -------------------------------------------------------------------------

    def check_fitted(self) -> None:
        if not hasattr(self, "members_"):
            raise OptionError("this Forecaster is not fitted yet: call fit() or Forecaster.load() first")

    @property
    def context_length(self) -> int:
        """Points of history a forecast reads: the longest member lookback."""
        self.check_fitted()
        return self.context_.shape[1]

    def predict(self, series=None, levels=()):
        """The next `horizon` points after each series of `series` (a SeriesSet, or a DataFrame laid out as
        in training; default: after the training data) as a DataFrame; with `levels` (percentages), each
        target is followed by its `<target>_lo_<level>` and `<target>_hi_<level>` interval bounds."""
        return self.predict_array(self.as_data(series), levels).frame()

    def as_data(self, series):
        """`series` as a SeriesSet: a DataFrame is read with the columns and covariates of training."""
        import pandas as pd

        from tsgate.data import load_series

        if isinstance(series, pd.DataFrame):
            return load_series(series, self.data_options())
        return series

    def predict_array(self, series=None, levels=()):
        """A prediction.Prediction: raw-scale forecasts (S, H, C) after each series' end, with interval
        bounds at `levels`. In new data of several series, a series the model cannot forecast (unknown
        to it, or shorter than its lookback) is left out and listed in `skipped`, unless `series.strict`."""
        from tsgate.intervals import check_levels
        from tsgate.prediction import Prediction, check_forecast_finite

        self.check_fitted()
        levels = check_levels(levels)
        if levels and self.calibration_ is None:
            raise ModelFileError("this model has no interval calibration (it was trained by tsgate 0.2 or older): "
                                 "retrain it to forecast with --level")
        numbers, (context, points, covariates), last, scales, skipped = self.forecast_inputs(series)
        values = self.predict_values(numbers, context, last, points, covariates)
        bounds = self.calibration_.bounds(values, scales, levels, numbers) if levels else {}
        ids = [self.ids_[n] for n in numbers]
        check_forecast_finite(values, bounds, ids)
        fallback = None if self.fallback_ is None else self.fallback_[numbers]
        return Prediction(numbers, values, last, bounds, skipped, ids, self.targets_, self.freq_, self.time_col_,
                          self.id_col_, fallback)

    def predict_values(self, numbers: np.ndarray, context: np.ndarray, last_timestamps, points=None,
                       covariates=None) -> np.ndarray:
        """Raw-scale forecasts (S, H, C): the median of the members' forecasts from raw contexts
        (S, L_max, C) of the stored series `numbers`, ending at `last_timestamps`, each holding `points`
        of its own (None: all; see network_inputs), with `covariates` as covariate_inputs gives them
        (None: the model has none). A series that was constant in training forecasts its last value."""
        forecasts = self.member_forecasts(numbers, context, last_timestamps, points, covariates)
        values = np.median(forecasts, axis=0)  # (K, S, H, C) -> (S, H, C)
        constant = self.constant_[numbers]
        values[constant] = context[constant, -1:, :]
        return values

    def member_forecasts(self, numbers: np.ndarray, context: np.ndarray, last_timestamps, points=None,
                         covariates=None) -> np.ndarray:
        """Each member's raw-scale forecasts, (K, S, H, C)."""
        from tsgate.train import predict_inputs

        inputs = self.network_inputs(numbers, context, last_timestamps, points, covariates)
        ahead = self.horizon if self.members_[0].config.n_future else 0  # rows after the lookback (future covariates)
        outputs = [predict_inputs(network, inputs[:, -(network.config.lookback + ahead):]).numpy() for network in self.members_]
        return np.stack([self.scaling_.inverse(numbers, output) for output in outputs])

    def network_inputs(self, numbers: np.ndarray, context: np.ndarray, last_timestamps, points=None, covariates=None):
        """What the networks read (S, L, I) from raw contexts (S, L, C) of the stored series `numbers`
        ending at `last_timestamps`: scaled values, then the calendar inputs of those steps, then the
        covariates (`covariates`: covariate_inputs' raw triple), then (for networks with a mask input)
        1 on the last `points[s]` steps of row s and 0 on the padding before; with future covariates,
        H more rows holding only those of the horizon (as windows.CovariateWindows lays them out)."""
        import torch

        from tsgate.covariates import append_horizon
        from tsgate.freq import context_calendar

        inputs = self.scaling_.transform(numbers, context)
        length = inputs.shape[1]
        if self.cycles_:
            inputs = np.concatenate([inputs, context_calendar(last_timestamps, length, self.freq_, self.cycles_)], axis=2)
        ahead = None
        if self.covariates_ is not None:
            along, ahead = self.covariates_.inputs(numbers, *covariates)
            inputs = np.concatenate([inputs, along[:, -length:]], axis=2)
        if self.members_[0].config.masked:
            own = np.full(len(inputs), length) if points is None else np.minimum(points, length)
            inputs = np.concatenate([inputs, (np.arange(length) >= length - own[:, None])[..., None]], axis=2)
        inputs = append_horizon(inputs, ahead, self.first_future)
        return torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float64))

    @property
    def first_future(self) -> int:
        """The input channel of the first future covariate."""
        config = self.members_[0].config
        return config.first_covariate + config.n_past

    def covariate_inputs(self, numbers: np.ndarray, series=None):
        """The raw covariates a forecast of the stored series `numbers` reads: (dynamic rows (S, L_max, Kd)
        up to each series' end, static values (S, Ks), the horizon's future values (S, H, Kf) or None),
        from `series` (the data, of those series in that order) or from what training stored; None
        for a model without covariates."""
        from tsgate.covariates import check_ahead, last_rows

        if self.covariates_ is None:
            return None
        model = self.covariates_
        if series is None:
            if model.widths["future"]:
                names = ", ".join(c.name for c in model.columns if c.role == "future")
                raise DataError(f"this model reads future covariates ({names}): give DATA with a row per horizon step "
                                "after each series' last target, the target empty and the future covariates filled")
            return model.context[numbers], model.static[numbers], None
        model.check_data(series.covariates)
        check_ahead(series, self.horizon)
        data = series.covariates
        ahead = data.ahead(series.length_array, self.horizon) if model.widths["future"] else None
        return last_rows(data, series.length_array, self.context_length), data.static, ahead

    def forecast_inputs(self, series):
        """(series numbers (S,), (raw contexts (S, L_max, C), each one's own points (S,) or None), last
        timestamps, recent scales (S, C) for the intervals, [(id, why)] left out) from new data or from what
        was stored at the end of the training data."""
        from tsgate.windows import last_points_padded

        if series is None:
            everyone = np.arange(len(self.ids_))
            stored = (self.context_, self.context_points_, self.covariate_inputs(everyone))
            return everyone, stored, self.last_timestamps_, self.interval_scale_, []
        numbers = self.stored_numbers(series)
        needed = self.context_length
        shortest = 1 if self.members_[0].config.masked else needed  # networks with a mask input pad a short one
        problems = np.where(numbers < 0, "unknown", np.where(series.length_array < shortest, "short", ""))
        skipped = [(key, self.forecast_problem(key, kind, series.length_array[k]))
                   for k, (key, kind) in enumerate(zip(series.ids, problems)) if kind]
        if skipped and (not series.lenient or len(skipped) == len(series.ids)):
            from tsgate.data import series_label

            key, why = skipped[0]
            raise DataError(f"{series_label(key)} {why}")
        usable = series.subset(np.flatnonzero(problems == "")) if skipped else series
        numbers = numbers[problems == ""]
        context = last_points_padded(usable.flat, usable.offsets, needed)
        return numbers, (*context, self.covariate_inputs(numbers, usable)), usable.last, \
            self.interval_scales(numbers, usable), skipped

    def forecast_problem(self, key: str, kind: str, length: int) -> str:
        """Why a series of new data cannot be forecast, as the end of a sentence naming it."""
        left_out = dict(self.skipped_)
        if kind == "unknown" and key in left_out:
            return f"was left out of the model's training data (it {left_out[key]})"
        if kind == "unknown":
            known = ", ".join(self.ids_[:10]) + (" ..." if len(self.ids_) > 10 else "")
            return f"was not in the training data (known ids: {known}): the model has no scaler for it"
        return f"has {length} points, fewer than the model's lookback {self.context_length}: give more history"

    def interval_scales(self, numbers: np.ndarray, series) -> np.ndarray:
        """The intervals' recent scales (S, C) of the stored series `numbers` at the end of `series`, raw units."""
        from tsgate.intervals import recent_scales_of_series

        if self.calibration_ is None:
            return np.full((len(numbers), len(self.targets_)), np.nan)
        scaled = self.scaling_.transform_flat(series.flat, series.offsets, numbers)
        scales = recent_scales_of_series(scaled, series.offsets, np.arange(len(numbers)), series.length_array, self.calibration_.span)
        return scales * self.scaling_.scale[numbers]

    def check_compatible(self, series) -> None:
        if list(series.targets) != self.targets_:
            raise DataError(f"the data's value columns {series.targets} differ from the model's {self.targets_}: pass the same --target as in training")
        if bool(series.id_col) != bool(self.id_col_):
            raise DataError(f"the model was trained {'with' if self.id_col_ else 'without'} --id-col, the data comes {'with' if series.id_col else 'without'} one: use the same layout as in training")
        if series.freq != self.freq_:
            raise DataError(f"the data's frequency {series.freq} differs from the model's {self.freq_}: pass --freq {self.freq_} or use data at that frequency")

    # ---- the first network, for looking inside -------------------------------------------------

    def first_network(self):
        """Member 0's network (models.RecurrentForecaster), in evaluation mode: the one gates reads."""
        self.check_fitted()
        return self.members_[0]

    def first_network_inputs(self, series=None, max_windows: int = 512):
        """The inputs (N, L, I) of the first network in the units `RecurrentForecaster.forward` takes
        (scaled values, then calendar inputs), float64. Without `series`: one window per stored series,
        ending where the training data ended. With `series` (a SeriesSet laid out as in training):
        windows at every start that fits in every known series long enough, thinned evenly to at most
        `max_windows`."""
        import torch

        from tsgate.covariates import append_horizon, window_inputs
        from tsgate.prepare import calendar_grid
        from tsgate.windows import gather_windows, window_starts

        lookback = self.first_network().config.lookback
        ahead = self.horizon if self.first_network().config.n_future else 0  # windows read future rows
        if max_windows < 1:
            raise OptionError(f"max_windows must be at least 1, got {max_windows}")
        if series is None:  # the stored context's last window of each series, as forecast reads it
            everyone = np.arange(len(self.ids_))
            return self.network_inputs(everyone, self.context_[:, -lookback:], self.last_timestamps_, self.context_points_,
                                       self.covariate_inputs(everyone))
        usable, numbers = self.known_series(series, lookback + ahead)
        scaled = self.scaling_.transform_flat(usable.flat, usable.offsets, numbers)  # (T_total, C)
        owner, start = window_starts(usable.length_array - ahead, lookback, most=max_windows)  # (N,) each
        inputs = gather_windows(scaled, usable.offsets, owner, start, lookback)  # (N, L, C)
        if self.cycles_:
            features, first = calendar_grid(usable, self.cycles_)
            inputs = np.concatenate([inputs, gather_windows(features, first, owner, start, lookback)], axis=2)
        future = None
        if self.covariates_ is not None:
            self.covariates_.check_data(usable.covariates)
            along, future = window_inputs(self.covariates_, usable.covariates, numbers, owner, start, lookback, self.horizon)
            inputs = np.concatenate([inputs, along], axis=2)
        if self.first_network().config.masked:  # whole windows: every step is the series' own
            inputs = np.concatenate([inputs, np.ones(inputs.shape[:2] + (1,))], axis=2)
        inputs = append_horizon(inputs, future, self.first_future)
        return torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float64))

    def stored_numbers(self, series) -> np.ndarray:
        """Each series' number among the model's (-1: one the model has no scaler for), once the data's
        columns and frequency are checked against the model's."""
        import pandas as pd

        self.check_compatible(series)
        return pd.Index(self.ids_).get_indexer(series.ids)

    def known_series(self, series, lookback: int):
        """(the series of `series` the model has a scaler for and at least `lookback` long, their stored numbers)."""
        numbers = self.stored_numbers(series)
        keep = np.flatnonzero((numbers >= 0) & (series.length_array >= lookback))
        if not len(keep):
            raise DataError(f"none of the {len(series.ids)} series is both in the model's training data and at least "
                            f"{lookback} points long (the lookback of its first network): give the series it was trained on")
        return series.subset(keep), numbers[keep]

    # ---- persistence --------------------------------------------------------------------------

    def save(self, path) -> None:
        from tsgate import modelfile

        modelfile.write(path, self.get_params(), self.fitted_state())

    def to_bytes(self) -> bytes:
        """The model file's bytes, for a caller that writes them together with other files."""
        from tsgate import modelfile

        return modelfile.encode(self.get_params(), self.fitted_state())

    @classmethod
    def load(cls, path) -> "Forecaster":
        from tsgate import modelfile

        params, fitted = modelfile.read(path)
        try:
            forecaster = cls(**params)
        except TypeError as exc:  # parameters this Forecaster does not take
            raise modelfile.inconsistent(path, exc) from exc
        return forecaster.set_fitted(fitted)

    def data_options(self, freq=None, fill=None, strict: bool = False):
        """The DataOptions that read new data the way the training data was read."""
        from tsgate.data import DataOptions

        self.check_fitted()
        covariates = {} if self.covariates_ is None else self.covariates_.options()
        return DataOptions(target=tuple(self.targets_), time_col=self.time_col_, id_col=self.id_col_, freq=freq, fill=fill,
                           strict=strict, **covariates)

    def get_params(self) -> dict:
        """The constructor arguments, as scikit-learn's get_params gives them."""
        names = inspect.signature(Forecaster.__init__).parameters
        return {name: getattr(self, name) for name in names if name != "self"}

    def with_params(self, **changes) -> "Forecaster":
        """An unfitted copy with some constructor arguments changed (used by compare)."""
        return Forecaster(**{**self.get_params(), **changes})
