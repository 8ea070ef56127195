"""Forecaster: the estimator a user scripts, and the one `train`, `forecast` and `compare` call.

    from tsgate import Forecaster
    from tsgate.data import DataOptions, load_series
    from tsgate.io import read_csv

    series = load_series(read_csv("sample_data/air_passengers.csv"), DataOptions())
    model = Forecaster(backbone="gru", lookback=24, horizon=12).fit(series)
    model.predict()          # DataFrame: the next 12 months after the training data
    model.save("air.tsgate")
"""

from __future__ import annotations

import inspect

import numpy as np

from tsgate import __version__
from tsgate.config import ModelConfig, TrainConfig
from tsgate.errors import DataError, ModelFileError, OptionError

M, T = ModelConfig, TrainConfig  # their field defaults are the Forecaster's


class Forecaster:
    """A recurrent forecaster with scikit-learn's contract: __init__ stores, fit learns `*_`, predict checks."""

    def __init__(self, backbone: str = M.backbone, lookback: int = M.lookback, horizon: int = M.horizon,
                 hidden: int = M.hidden, layers: int = M.layers, dropout: float = M.dropout, epochs: int = T.epochs,
                 batch_size: int = T.batch_size, lr: float = T.lr, patience: int = T.patience, clip: float = T.clip,
                 val_fraction: float = T.val_fraction, scaler: str = T.scaler, device: str = T.device,
                 seed: int = T.seed, threads: int = T.threads):
        self.backbone = backbone
        self.lookback = lookback
        self.horizon = horizon
        self.hidden = hidden
        self.layers = layers
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.clip = clip
        self.val_fraction = val_fraction
        self.scaler = scaler
        self.device = device
        self.seed = seed
        self.threads = threads

    # ---- configuration -------------------------------------------------------------

    def configs(self, n_targets: int = 1) -> tuple[ModelConfig, TrainConfig]:
        """Validated configs from the constructor arguments (OptionError for bad values)."""
        model = ModelConfig(self.backbone, n_targets, self.lookback, self.horizon, self.hidden, self.layers, self.dropout)
        train = TrainConfig(self.epochs, self.batch_size, self.lr, self.patience, self.clip, self.val_fraction,
                            self.scaler, self.device, self.seed, self.threads)
        return model, train

    # ---- fit ---------------------------------------------------------------------------

    def fit(self, series, on_epoch=None) -> "Forecaster":
        """Train on a SeriesSet; `on_epoch(epoch, epochs, train_loss, val_loss)` reports progress."""
        from tsgate import train as training
        from tsgate.kernels import fast_path_name
        from tsgate.models import RecurrentForecaster, parameter_count
        from tsgate.windows import (
            build_windows,
            check_length,
            fit_scaling,
            validation_length,
        )

        model_config, train_config = self.configs(len(series.targets))
        labels = series.labels
        val_lengths = [validation_length(n, self.horizon, self.val_fraction) for n in series.lengths]
        for length, val, label in zip(series.lengths, val_lengths, labels):
            check_length(length, self.lookback, self.horizon, val, label)
        train_lengths = [n - v for n, v in zip(series.lengths, val_lengths)]
        device = training.resolve_device(train_config.device)
        training.configure_torch(train_config.threads)
        generator = training.seed_everything(train_config.seed)

        scaling = fit_scaling(train_config.scaler, series.values, train_lengths, labels)
        scaled = [scaling.transform(i, v) for i, v in enumerate(series.values)]
        data = build_windows(scaled, train_lengths, self.lookback, self.horizon)
        network = RecurrentForecaster(model_config).to(device)  # initialised on CPU first: same weights on every device
        kernel = fast_path_name(network.rnn)
        result = training.fit(network, data, train_config, device, generator, on_epoch)
        network.to("cpu")

        self.model_config_, self.train_config_ = model_config, train_config
        self.network_, self.scaling_ = network, scaling
        self.ids_, self.targets_, self.freq_ = list(series.ids), list(series.targets), series.freq
        self.time_col_, self.id_col_ = series.time_col, series.id_col
        self.context_ = series.last_points(self.lookback)  # (S, L, C), raw
        self.last_timestamps_ = [idx[-1] for idx in series.index]
        self.history_ = result.history
        self.metrics_ = {
            "backbone": self.backbone,
            "device": result.device,
            "kernel": kernel,
            "parameters": parameter_count(network),
            "epochs_run": result.epochs_run,
            "best_epoch": result.best_epoch,
            "best_val_loss": result.best_val_loss,
            "val_mae": self.validation_mae(data),
            "train_seconds": result.train_seconds,
            "seconds_per_epoch": result.train_seconds / result.epochs_run,
        }
        return self

    def validation_mae(self, data) -> float:
        """Mean absolute error of the best weights on the validation windows, in the data's own units."""
        import torch

        from tsgate.train import validation_errors

        unit_scale = torch.from_numpy(self.scaling_.scale[data.series_of_val])  # (N, C)
        return validation_errors(self.network_, data.windows, data.val_starts, data.lookback, unit_scale)[1]

    # ---- predict -------------------------------------------------------------------------

    def check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise OptionError("this Forecaster is not fitted yet: call fit() or Forecaster.load() first")

    def predict(self, series=None):
        """The next `horizon` points after each series (default: after the training data) as a DataFrame."""
        import pandas as pd

        self.check_fitted()
        numbers, context, last = self.forecast_inputs(series)
        values = self.predict_values(numbers, context)  # (S, H, C)
        frames = []
        for number, forecast, stamp in zip(numbers, values, last):
            stamps = future_timestamps(stamp, self.freq_, self.horizon)
            frame = pd.DataFrame(forecast, columns=self.targets_)
            frame.insert(0, self.time_col_, stamps)
            if self.id_col_:
                frame.insert(0, self.id_col_, self.ids_[number])
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    def predict_values(self, numbers: list[int], context: np.ndarray) -> np.ndarray:
        """Raw-scale forecasts (S, H, C) from raw contexts (S, L, C) of the stored series `numbers`."""
        import torch

        from tsgate.train import predict_inputs

        scaled = np.stack([self.scaling_.transform(n, c) for n, c in zip(numbers, context)])
        output = predict_inputs(self.network_, torch.from_numpy(scaled.astype(np.float32))).double().numpy()
        return np.stack([self.scaling_.inverse(n, o) for n, o in zip(numbers, output)])

    def forecast_inputs(self, series):
        """(series numbers, raw contexts (S, L, C), last timestamps) from new data or the stored context."""
        from tsgate.data import series_label

        if series is None:
            return list(range(len(self.ids_))), self.context_, self.last_timestamps_
        self.check_compatible(series)
        positions = {key: number for number, key in enumerate(self.ids_)}
        numbers, contexts = [], []
        for key, values in zip(series.ids, series.values):
            label = series_label(key)
            if key not in positions:
                known = ", ".join(self.ids_[:10]) + (" ..." if len(self.ids_) > 10 else "")
                raise DataError(f"{label} was not in the training data (known ids: {known}): the model has no scaler for it")
            if len(values) < self.lookback:
                raise DataError(f"{label} has {len(values)} points, fewer than the model's lookback {self.lookback}: give more history")
            numbers.append(positions[key])
            contexts.append(values[-self.lookback:])
        return numbers, np.stack(contexts), [idx[-1] for idx in series.index]

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
        tensors = {f"model.{name}": value for name, value in self.network_.state_dict().items()}
        tensors["scaling.center"] = torch.from_numpy(self.scaling_.center)
        tensors["scaling.scale"] = torch.from_numpy(self.scaling_.scale)
        tensors["context"] = torch.from_numpy(np.ascontiguousarray(self.context_))
        modelfile.save(path, tensors, self.metadata())

    def metadata(self) -> dict:
        """Everything but tensors; deterministic (no wall-clock figures), so equal runs give equal files."""
        import torch

        steady = {k: v for k, v in self.metrics_.items() if k not in ("train_seconds", "seconds_per_epoch")}
        return {
            "tsgate_version": __version__,
            "torch_version": torch.__version__.split("+")[0],
            "model": self.model_config_.to_dict(),
            "train": self.train_config_.to_dict(),
            "data": {
                "ids": self.ids_,
                "targets": self.targets_,
                "freq": self.freq_,
                "time_col": self.time_col_,
                "id_col": self.id_col_,
                "last_timestamps": [stamp.isoformat() for stamp in self.last_timestamps_],
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
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as exc:
            raise ModelFileError(f"{path} is a tsgate model file with inconsistent contents ({type(exc).__name__}): retrain it") from exc

    @classmethod
    def from_saved(cls, tensors: dict, meta: dict) -> "Forecaster":
        import pandas as pd

        from tsgate.models import RecurrentForecaster, state_shapes
        from tsgate.windows import Scaling

        model_config = ModelConfig(**meta["model"])
        train_config = TrainConfig(**meta["train"])
        forecaster = cls(backbone=model_config.backbone, lookback=model_config.lookback, horizon=model_config.horizon,
                         hidden=model_config.hidden, layers=model_config.layers, dropout=model_config.dropout,
                         **{k: v for k, v in train_config.to_dict().items()})
        state = {name[len("model."):]: value for name, value in tensors.items() if name.startswith("model.")}
        if {name: tuple(value.shape) for name, value in state.items()} != state_shapes(model_config):
            raise ValueError("the weights do not match the model configuration")
        network = RecurrentForecaster(model_config)
        network.load_state_dict(state, strict=True)
        data = meta["data"]
        forecaster.model_config_, forecaster.train_config_ = model_config, train_config
        forecaster.network_ = network.eval()
        forecaster.scaling_ = Scaling(tensors["scaling.center"].numpy(), tensors["scaling.scale"].numpy())
        forecaster.context_ = tensors["context"].numpy()
        forecaster.ids_, forecaster.targets_, forecaster.freq_ = list(data["ids"]), list(data["targets"]), data["freq"]
        forecaster.time_col_, forecaster.id_col_ = data["time_col"], data["id_col"]
        forecaster.last_timestamps_ = [pd.Timestamp(text) for text in data["last_timestamps"]]
        forecaster.history_ = meta["history"]
        forecaster.metrics_ = dict(meta["metrics"])
        expected = (len(forecaster.ids_), model_config.lookback, model_config.n_targets)
        if forecaster.context_.shape != expected or forecaster.scaling_.center.shape != expected[::2]:
            raise ValueError("tensor shapes do not match the metadata")
        return forecaster

    def data_options(self, freq=None, fill=None):
        """The DataOptions that read new data the way the training data was read."""
        from tsgate.data import DataOptions

        self.check_fitted()
        return DataOptions(target=tuple(self.targets_), time_col=self.time_col_, id_col=self.id_col_, freq=freq, fill=fill)

    def get_params(self) -> dict:
        """The constructor arguments, as scikit-learn's get_params gives them."""
        names = inspect.signature(Forecaster.__init__).parameters
        return {name: getattr(self, name) for name in names if name != "self"}

    def with_params(self, **changes) -> "Forecaster":
        """An unfitted copy with some constructor arguments changed (used by compare)."""
        return Forecaster(**{**self.get_params(), **changes})


def future_timestamps(last, freq: str, horizon: int):
    """`horizon` timestamps after `last`, continuing the series' frequency."""
    import warnings

    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.date_range(last, periods=horizon + 1, freq=freq)[1:]
