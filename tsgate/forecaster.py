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
"""

from __future__ import annotations

import inspect
import time
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from tsgate import __version__
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
        lookback = M.lookback if self.lookback == "auto" else self.lookback
        self.model_config(BACKBONE_NAMES[0] if self.backbone == "auto" else self.backbone, 1, lookback,
                          0 if self.anchor == "none" else 1, 0)
        return self.train_config()

    def model_config(self, backbone: str, n_targets: int, lookback: int, anchor_season: int, n_calendar: int) -> ModelConfig:
        return ModelConfig(backbone, n_targets, lookback, self.horizon, self.hidden, self.layers, self.dropout,
                           self.norm, anchor_season, n_calendar, self.highway)

    def train_config(self, seed: int | None = None) -> TrainConfig:
        return TrainConfig(self.steps, self.epochs, self.batch_size, self.lr, self.patience, self.clip, self.val_fraction,
                           self.scaler, self.loss, self.refit, self.ensemble, self.device,
                           self.seed if seed is None else seed, self.threads)

    def resolve_lookback(self, series) -> int:
        """The base lookback for these series: the given one (checked against every series), or the auto choice."""
        return self.usable(series, strict=True)[1]

    def usable(self, series, strict: bool = False):
        """(the series a fit learns from, the base lookback, [(id, why)] of series left out).

        A panel (several series, not `strict`) leaves out the series too short for the lookback,
        horizon and validation, where one series or `strict` refuses them as before. With lookback
        auto, the lookback fits the shortest series that can hold a training window at all (as for
        one series), and a panel leaves out the ones that cannot."""
        from tsgate.auto import auto_lookback
        from tsgate.windows import check_length, validation_lengths

        lengths = series.length_array
        val = validation_lengths(lengths, self.horizon, self.val_fraction)
        lenient = len(lengths) > 1 and not strict
        if self.lookback == "auto":
            train = lengths - val
            holding = train[train > self.horizon]  # a training window with a lookback of one step fits
            pool = holding if lenient and len(holding) else train
            base = auto_lookback(series.season, self.horizon, pool.tolist())
        else:
            base = self.lookback
        short = lengths < base + self.horizon + val
        if not short.any():
            return series, base, []
        first = int(np.flatnonzero(short)[0])
        if not lenient or short.all():
            check_length(int(lengths[first]), base, self.horizon, int(val[first]), series.labels[first])
        left_out = [(series.ids[k], f"has {lengths[k]} points, fewer than the {base + self.horizon + val[k]} that lookback "
                     f"{base} + horizon {self.horizon} + validation {val[k]} need") for k in np.flatnonzero(short)]
        return series.subset(np.flatnonzero(~short)), base, left_out

    def train_lengths(self, series) -> np.ndarray:
        """Each series' length without its validation part."""
        from tsgate.windows import validation_lengths

        return series.length_array - validation_lengths(series.length_array, self.horizon, self.val_fraction)

    # ---- fit ---------------------------------------------------------------------------

    def fit(self, series, on_progress=None, jobs: int = 1, strict: bool = False) -> "Forecaster":
        """Train on a SeriesSet; `on_progress(done, total, train_loss, val_loss)` reports steps.
        The members train on up to `jobs` worker processes (on CPU; one at a time on a GPU);
        the result does not depend on `jobs`. In a panel, series too short to learn from are left
        out (`skipped_` says which) and constant ones forecast their constant, unless `strict`."""
        from tsgate.ensemble import run_fits

        run_fits([self.fitting(series, strict)], self.workers(jobs), on_progress, self.expected_steps(series))
        return self

    def workers(self, jobs: int | None) -> int:
        """Worker processes for `jobs` (None: one per usable core); 1 on a GPU, which the fits would share."""
        from tsgate.parallel import check_jobs
        from tsgate.train import resolve_device

        jobs = check_jobs(jobs)
        return jobs if resolve_device(self.check_options().device).type == "cpu" else 1

    def fitting(self, series, strict: bool = False):
        """The fit as a generator: it yields lists of ensemble.MemberTask, is sent their
        TrainedMember, and sets the fitted attributes at its end (ensemble.run_fits drives it)."""
        from tsgate import train as training
        from tsgate.auto import choose_anchor, member_lookbacks
        from tsgate.ensemble import MemberTask, with_refit
        from tsgate.freq import calendar_cycles, calendar_on_grid
        from tsgate.intervals import interval_span, recent_scales_of_series
        from tsgate.windows import build_windows, fit_scaling, storage_dtype

        train_config = self.check_options()
        panel = len(series.ids) > 1 and not strict
        series, base, left_out = self.usable(series, strict)
        train_lengths = self.train_lengths(series)
        lookbacks = member_lookbacks(base, self.ensemble, self.horizon, int(train_lengths.min()) - self.horizon,
                                     auto=self.lookback == "auto")
        device = training.resolve_device(train_config.device)
        training.configure_torch(train_config.threads)

        scaling = fit_scaling(train_config.scaler, series.flat, series.offsets, train_lengths, series.labels,
                              constant="flag" if panel else "error")
        learn = ~scaling.is_constant()  # constant series forecast their constant: nothing to learn
        if not learn.any():
            raise DataError(f"all {len(learn)} series are constant over their training part: there is nothing to learn")
        scaled = scaling.transform_flat(series.flat, series.offsets, dtype=storage_dtype(train_config.scaler))  # (T_total, C)
        cycles = calendar_cycles(series.freq) if self.calendar else ()
        calendar = calendar_on_grid(series.first, series.last, series.length_array, series.freq, cycles,
                                    lambda: series.index) if cycles else None
        scaled_train = [part[:t] for part, t, keep in zip(np.split(scaled, series.offsets[1:-1]), train_lengths, learn) if keep]
        anchor_season = choose_anchor(self.anchor, series.season, min(lookbacks), scaled_train, self.horizon)
        del scaled_train
        started = time.perf_counter()
        windows = {lookback: build_windows(scaled, series.offsets, train_lengths, lookback, self.horizon, calendar, learn,
                                           scaled.dtype)
                   for lookback in sorted(set(lookbacks))}
        own_seconds = time.perf_counter() - started  # this process's part; the members time their own

        def task(backbone: str, k: int, **how) -> MemberTask:
            model = self.model_config(backbone, len(series.targets), lookbacks[k], anchor_season, 2 * len(cycles))
            return MemberTask(model, self.train_config(self.seed + k), windows[lookbacks[k]], device.type, **how)

        if self.backbone != "auto":
            backbone = self.backbone
            members = yield [task(backbone, k) for k in range(len(lookbacks))]
            trials = {backbone: members[0]}
        else:  # the first member of each backbone trains; the best validation loss wins
            trials = dict(zip(BACKBONE_NAMES, (yield [task(name, 0, refit=False) for name in BACKBONE_NAMES])))
            backbone = min(BACKBONE_NAMES, key=lambda name: trials[name].best_val_loss)
            winner = trials[backbone]
            refit = [task(backbone, 0, refit_steps=winner.best_step)] if train_config.refit else []
            rest = yield refit + [task(backbone, k) for k in range(1, len(lookbacks))]
            members = [with_refit(winner, rest[0]) if refit else winner] + rest[len(refit):]
            trials[backbone] = members[0]

        started = time.perf_counter()
        calibration_data = windows[lookbacks[0]]
        held_out = ensemble_validation_errors(members, calibration_data)  # before any refit: unseen windows
        val_mae = float((np.abs(held_out) * scaling.scale[calibration_data.series_of_val][:, None, :]).mean())
        span = interval_span(series.season, self.horizon)
        offsets = series.offsets
        calibration = calibrate_intervals(held_out, calibration_data, scaled, offsets, span)
        own_seconds += time.perf_counter() - started
        seconds = own_seconds + sum(t.seconds for name, t in trials.items() if name != backbone) + sum(m.seconds for m in members)

        self.backbone_, self.cycles_, self.calibration_ = backbone, cycles, calibration
        self.members_ = [member.network() for member in members]
        self.skipped_ = list(series.skipped) + left_out
        self.constant_ = scaling.is_constant()
        self.metrics_ = self.summary_metrics(members, trials, device, val_mae, seconds)
        self.member_seeds_ = [member.seed for member in members]
        self.train_config_, self.scaling_ = train_config, scaling
        self.ids_, self.targets_, self.freq_ = list(series.ids), list(series.targets), series.freq
        self.time_col_, self.id_col_ = series.time_col, series.id_col
        self.context_ = series.last_points(max(lookbacks))  # (S, L_max, C), raw
        everyone = np.arange(len(series.ids))  # the recent scale at each series' end, raw units:
        self.interval_scale_ = recent_scales_of_series(scaled, offsets, everyone, series.length_array, span) * scaling.scale
        self.last_timestamps_ = series.last
        self.history_ = [member.history for member in members]
        return self

    def expected_steps(self, series) -> int:
        """The progress bar's total: the most watched steps of every network the fit trains."""
        from tsgate.train import step_budget

        runs = self.ensemble + (len(BACKBONE_NAMES) - 1 if self.backbone == "auto" else 0)
        lookback = 1 if self.lookback == "auto" else self.lookback
        windows = np.maximum(self.train_lengths(series) - lookback - self.horizon + 1, 1).sum()
        return runs * step_budget(self.check_options(), int(windows))

    def summary_metrics(self, members, trials, device, val_mae: float, seconds: float) -> dict:
        from tsgate import distributed
        from tsgate.kernels import fast_path_name
        from tsgate.models import parameter_count

        steps = sum(m.steps_run + m.refit_steps for m in members)
        steps += sum(t.steps_run for name, t in trials.items() if name != self.backbone_)
        networks = self.members_
        return {
            "backbone": self.backbone_,
            "device": device.type,
            "kernel": fast_path_name(networks[0].rnn) if device.type == "cpu" else "stock",
            "parameters": parameter_count(networks[0]),  # the first network; others differ by their highway
            "parameters_total": sum(parameter_count(network) for network in networks),
            "members": len(members),
            "lookbacks": [m.model.lookback for m in members],
            "anchor_season": members[0].model.anchor_season,
            "calendar": list(self.cycles_),
            "backbone_val_loss": {name: t.best_val_loss for name, t in trials.items()},
            "steps_run": steps,
            "best_steps": [m.best_step for m in members],
            "best_val_loss": float(np.mean([m.best_val_loss for m in members])),
            "val_mae": val_mae,
            "calibration_windows": len(self.calibration_.scores),
            "world_size": world.size if (world := distributed.current()) else 1,  # torchrun processes
            "series_skipped": len(self.skipped_),
            "series_constant": int(self.constant_.sum()),
            "interval_span": self.calibration_.span,
            "train_seconds": seconds,
            "seconds_per_step": seconds / max(steps, 1),
        }

    # ---- predict -------------------------------------------------------------------------

    def check_fitted(self) -> None:
        if not hasattr(self, "members_"):
            raise OptionError("this Forecaster is not fitted yet: call fit() or Forecaster.load() first")

    @property
    def context_length(self) -> int:
        """Points of history a forecast reads: the longest member lookback."""
        self.check_fitted()
        return self.context_.shape[1]

    def predict(self, series=None, levels=(), strict: bool = False):
        """The next `horizon` points after each series (default: after the training data) as a DataFrame;
        with `levels` (percentages), each target is followed by its `<target>_lo_<level>` and
        `<target>_hi_<level>` interval bounds."""
        return self.frame(self.predict_array(series, levels, strict))

    def frame(self, prediction: "Prediction"):
        """A Prediction as the DataFrame `predict` returns, built for all series at once."""
        import pandas as pd

        from tsgate.freq import future_stamps
        from tsgate.intervals import bound_columns

        columns = {}
        if self.id_col_:
            columns[self.id_col_] = np.repeat(np.asarray(self.ids_, dtype=object)[prediction.numbers], self.horizon)
        columns[self.time_col_] = future_stamps(prediction.last_timestamps, self.freq_, self.horizon)
        for c, target in enumerate(self.targets_):  # (S, H) per column -> S * H rows, series by series
            columns[target] = prediction.values[:, :, c].ravel()
            for level, (lower, upper) in prediction.bounds.items():
                low_name, high_name = bound_columns(target, level)
                columns[low_name], columns[high_name] = lower[:, :, c].ravel(), upper[:, :, c].ravel()
        return pd.DataFrame(columns)

    def recent_history(self, prediction: "Prediction", series=None) -> np.ndarray:
        """Raw values (S, n, C) just before each forecast of `prediction`, for people to see them
        together: the stored context, or up to four horizons of the end of `series`."""
        import pandas as pd

        if series is None:
            return self.context_[prediction.numbers]
        rows = pd.Index(series.ids).get_indexer([self.ids_[n] for n in prediction.numbers])
        shown = series.subset(rows)
        return shown.last_points(int(min(shown.length_array.min(), max(self.context_length, 4 * self.horizon))))

    def predict_array(self, series=None, levels=(), strict: bool = False) -> "Prediction":
        """Raw-scale forecasts (S, H, C) after each series' end, with interval bounds at `levels`.
        In new data of several series, a series the model cannot forecast (unknown to it, or
        shorter than its lookback) is left out and listed in `skipped`, unless `strict`."""
        from tsgate.intervals import check_levels

        self.check_fitted()
        levels = check_levels(levels)
        if levels and self.calibration_ is None:
            raise ModelFileError("this model has no interval calibration (it was trained by tsgate 0.2 or older): "
                                 "retrain it to forecast with --level")
        numbers, context, last, scales, skipped = self.forecast_inputs(series, strict)
        values = self.predict_values(numbers, context, last)
        bounds = self.calibration_.bounds(values, scales, levels) if levels else {}
        check_forecast_finite(values, bounds, [self.ids_[n] for n in numbers])
        return Prediction(numbers, values, last, bounds, skipped)

    def predict_values(self, numbers: np.ndarray, context: np.ndarray, last_timestamps) -> np.ndarray:
        """Raw-scale forecasts (S, H, C): the median of the members' forecasts from raw contexts
        (S, L_max, C) of the stored series `numbers`, ending at `last_timestamps`. A series that was
        constant in training forecasts its last value."""
        values = np.median(self.member_forecasts(numbers, context, last_timestamps), axis=0)  # (K, S, H, C) -> (S, H, C)
        constant = self.constant_[numbers]
        values[constant] = context[constant, -1:, :]
        return values

    def member_forecasts(self, numbers: np.ndarray, context: np.ndarray, last_timestamps) -> np.ndarray:
        """Each member's raw-scale forecasts, (K, S, H, C)."""
        from tsgate.train import predict_inputs

        inputs = self.network_inputs(numbers, context, last_timestamps)
        outputs = [predict_inputs(network, inputs[:, -network.config.lookback:]).numpy() for network in self.members_]
        return np.stack([self.scaling_.inverse(numbers, output) for output in outputs])

    def network_inputs(self, numbers: np.ndarray, context: np.ndarray, last_timestamps):
        """What the networks read (S, L, I) from raw contexts (S, L, C) of the stored series `numbers`
        ending at `last_timestamps`: scaled values, then the calendar inputs of those steps."""
        import torch

        from tsgate.freq import context_calendar

        inputs = self.scaling_.transform(numbers, context)
        if self.cycles_:
            inputs = np.concatenate([inputs, context_calendar(last_timestamps, inputs.shape[1], self.freq_, self.cycles_)], axis=2)
        return torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float64))

    def forecast_inputs(self, series, strict: bool = False):
        """(series numbers (S,), raw contexts (S, L_max, C), last timestamps, recent scales (S, C) for the
        intervals, [(id, why)] left out) from new data or from what was stored at the end of the training data."""
        if series is None:
            return np.arange(len(self.ids_)), self.context_, self.last_timestamps_, self.interval_scale_, []
        self.check_compatible(series)
        import pandas as pd

        numbers = pd.Index(self.ids_).get_indexer(series.ids)  # -1: not a series of the model
        needed = self.context_length
        problems = np.where(numbers < 0, "unknown", np.where(series.length_array < needed, "short", ""))
        skipped = [(key, self.forecast_problem(key, kind, series.length_array[k]))
                   for k, (key, kind) in enumerate(zip(series.ids, problems)) if kind]
        if skipped and (strict or len(series.ids) == 1 or len(skipped) == len(series.ids)):
            from tsgate.data import series_label

            key, why = skipped[0]
            raise DataError(f"{series_label(key)} {why}")
        usable = series.subset(np.flatnonzero(problems == "")) if skipped else series
        numbers = numbers[problems == ""]
        return numbers, usable.last_points(needed), usable.last, self.interval_scales(numbers, usable), skipped

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

    # ---- persistence --------------------------------------------------------------------------

    def save(self, path) -> None:
        import torch

        from tsgate import modelfile

        self.check_fitted()
        tensors = {f"members.{k}.{name}": value for k, network in enumerate(self.members_)
                   for name, value in network.state_dict().items()}
        tensors["scaling.center"] = torch.from_numpy(self.scaling_.center)
        tensors["scaling.scale"] = torch.from_numpy(self.scaling_.scale)
        tensors["context"] = torch.from_numpy(np.ascontiguousarray(self.context_))
        tensors["series.constant"] = torch.from_numpy(self.constant_.astype(np.uint8))
        if self.calibration_ is not None:
            tensors["calibration.scores"] = torch.from_numpy(self.calibration_.scores)
            tensors["calibration.weights"] = torch.from_numpy(self.calibration_.weights)
            tensors["calibration.scale"] = torch.from_numpy(self.interval_scale_)
        modelfile.save(path, tensors, self.metadata())

    def metadata(self) -> dict:
        """Everything but tensors; deterministic (no wall-clock figures), so equal runs give equal files."""
        import torch

        steady = {k: v for k, v in self.metrics_.items() if k not in ("train_seconds", "seconds_per_step")}
        return {
            "tsgate_version": __version__,
            "torch_version": torch.__version__.split("+")[0],
            "params": self.get_params(),
            "model": self.members_[0].config.to_dict(),
            "members": [{"lookback": net.config.lookback, "seed": seed} for net, seed in zip(self.members_, self.member_seeds_)],
            "calendar": list(self.cycles_),
            "intervals": None if self.calibration_ is None else {"span": self.calibration_.span},
            "train": self.train_config_.to_dict(),
            "data": {
                "ids": self.ids_,
                "targets": self.targets_,
                "freq": self.freq_,
                "time_col": self.time_col_,
                "id_col": self.id_col_,
                "last_timestamps": [stamp.isoformat() for stamp in self.last_timestamps_],
                "skipped": [[key, why] for key, why in self.skipped_],
            },
            "metrics": steady,
            "history": self.history_,
        }

    @classmethod
    def load(cls, path) -> "Forecaster":
        from tsgate import modelfile

        tensors, meta = modelfile.load(path)
        try:
            return cls.from_saved(tensors, meta)
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, OptionError) as exc:
            raise ModelFileError(f"{path} is a tsgate model file with inconsistent contents ({type(exc).__name__}): retrain it") from exc

    @classmethod
    def from_saved(cls, tensors: dict, meta: dict) -> "Forecaster":
        import pandas as pd

        from tsgate.windows import Scaling

        shared = ModelConfig(**meta["model"])
        forecaster = cls(**meta["params"])
        forecaster.train_config_ = TrainConfig(**meta["train"])
        forecaster.members_ = [load_member(tensors, k, replace(shared, lookback=int(member["lookback"])))
                               for k, member in enumerate(meta["members"])]
        if not forecaster.members_ or any(name.split(".")[1] not in map(str, range(len(forecaster.members_)))
                                          for name in tensors if name.startswith("members.")):
            raise ValueError("the members listed do not match the weights stored")
        forecaster.member_seeds_ = [int(member["seed"]) for member in meta["members"]]
        forecaster.backbone_, forecaster.cycles_ = shared.backbone, tuple(meta["calendar"])
        data = meta["data"]
        forecaster.scaling_ = Scaling(tensors["scaling.center"].numpy(), tensors["scaling.scale"].numpy())
        forecaster.context_ = tensors["context"].numpy()
        forecaster.ids_, forecaster.targets_, forecaster.freq_ = list(data["ids"]), list(data["targets"]), data["freq"]
        forecaster.time_col_, forecaster.id_col_ = data["time_col"], data["id_col"]
        forecaster.last_timestamps_ = pd.DatetimeIndex([pd.Timestamp(text) for text in data["last_timestamps"]]).as_unit("ns")
        forecaster.skipped_ = [(str(key), str(why)) for key, why in data.get("skipped", [])]  # absent before 0.5
        constant = tensors.get("series.constant")
        forecaster.constant_ = np.zeros(len(forecaster.ids_), dtype=bool) if constant is None else constant.numpy().astype(bool)
        if len(forecaster.constant_) != len(forecaster.ids_):
            raise ValueError("the constant-series flags do not match the series")
        forecaster.history_ = meta["history"]
        forecaster.metrics_ = dict(meta["metrics"])
        longest = max(network.config.lookback for network in forecaster.members_)
        expected = (len(forecaster.ids_), longest, shared.n_targets)
        if forecaster.context_.shape != expected or forecaster.scaling_.center.shape != expected[::2]:
            raise ValueError("tensor shapes do not match the metadata")
        if 2 * len(forecaster.cycles_) != shared.n_calendar:
            raise ValueError("the calendar inputs do not match the model configuration")
        forecaster.calibration_, forecaster.interval_scale_ = load_calibration(tensors, meta.get("intervals"),
                                                                                   (len(forecaster.ids_), shared.horizon, shared.n_targets))
        return forecaster

    def data_options(self, freq=None, fill=None, strict: bool = False):
        """The DataOptions that read new data the way the training data was read."""
        from tsgate.data import DataOptions

        self.check_fitted()
        return DataOptions(target=tuple(self.targets_), time_col=self.time_col_, id_col=self.id_col_, freq=freq, fill=fill,
                           strict=strict)

    def get_params(self) -> dict:
        """The constructor arguments, as scikit-learn's get_params gives them."""
        names = inspect.signature(Forecaster.__init__).parameters
        return {name: getattr(self, name) for name in names if name != "self"}

    def with_params(self, **changes) -> "Forecaster":
        """An unfitted copy with some constructor arguments changed (used by compare)."""
        return Forecaster(**{**self.get_params(), **changes})


class Prediction(NamedTuple):
    numbers: np.ndarray  # (S,) the stored series each row forecasts
    values: np.ndarray  # (S, H, C) raw-scale forecasts
    last_timestamps: object  # DatetimeIndex (S,): the last timestamp before each forecast
    bounds: dict  # {level: (lower, upper)}, each (S, H, C); empty without levels
    skipped: tuple = ()  # (id, why) of each series of new data left out


def check_forecast_finite(values: np.ndarray, bounds: dict, ids: list) -> None:
    """A forecast never succeeds with an empty or infinite cell."""
    from tsgate.data import series_label

    for array in [values, *(side for pair in bounds.values() for side in pair)]:
        broken = ~np.isfinite(array).all(axis=(1, 2))
        if broken.any():
            label = series_label(ids[int(np.flatnonzero(broken)[0])])
            raise DataError(f"the forecast for {label} is not finite (NaN or infinity): its values are far outside "
                            "what the model was trained on; check the data or retrain on it")


def ensemble_validation_errors(members, data) -> np.ndarray:
    """Errors (N, H, C), in scaled units, of the members' median forecast over the validation windows
    (made before any refit, so on windows no member trained on).

    Members with other lookbacks have other windows, but their validation targets are the same
    points in the same order (windows.build_windows), so their forecasts line up.
    """
    _, truth = data.gather(data.val_starts)  # (N, H, C)
    return np.median(np.stack([m.val_forecasts for m in members]), axis=0) - truth.numpy()


def calibrate_intervals(errors: np.ndarray, data, scaled: np.ndarray, offsets: np.ndarray, span: int):
    """The interval calibration from held-out errors (N, H, C) of the validation windows of `data`,
    over the scaled series end to end (T_total, C) split at `offsets`."""
    from tsgate.intervals import calibrate, recent_scales_of_series

    owners = data.series_of_val
    return calibrate(errors, recent_scales_of_series(scaled, offsets, owners, data.origin_of_val, span), owners, span)


def load_member(tensors: dict, k: int, config: ModelConfig):
    from tsgate.models import RecurrentForecaster, state_shapes

    prefix = f"members.{k}."
    state = {name[len(prefix):]: value for name, value in tensors.items() if name.startswith(prefix)}
    if {name: tuple(value.shape) for name, value in state.items()} != state_shapes(config):
        raise ValueError(f"the weights of member {k} do not match the model configuration")
    network = RecurrentForecaster(config)
    network.load_state_dict(state, strict=True)
    return network.eval()


def load_calibration(tensors: dict, settings: dict | None, shape: tuple[int, int, int]):
    """(Calibration, recent scales (S, C)) from a model file, or (None, None) for a file without them."""
    from tsgate.intervals import Calibration

    if settings is None and "calibration.scores" not in tensors:
        return None, None  # written before intervals existed: points only
    scores, weights = tensors["calibration.scores"].numpy(), tensors["calibration.weights"].numpy()
    scale = tensors["calibration.scale"].numpy()
    series, horizon, targets = shape  # (S, H, C)
    if scores.ndim != 3 or scores.shape[1:] != (horizon, targets) or weights.shape != scores.shape[:1] or scale.shape != (series, targets):
        raise ValueError("the interval calibration does not match the model")
    if len(weights) == 0 or (weights <= 0).any() or (scores < 0).any() or (scale <= 0).any():
        raise ValueError("the interval calibration holds impossible values")
    return Calibration(scores, weights, int(settings["span"])), scale
