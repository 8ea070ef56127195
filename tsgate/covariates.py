"""Covariates: which columns are past, future-known or static, how their cells are read and encoded,
and how they are scaled. The one place that knows the roles; data.py, prepare.py, windows.py,
models.py and modelfile.py call it.

Roles (as NeuralForecast's hist_exog / futr_exog / stat_exog and Darts' covariates):
- past: observed up to the forecast origin only; read along the lookback, never beyond the origin;
- future: known for the whole horizon ahead (calendar events, prices set in advance, forecasts of
  weather or load); read along the lookback and over the horizon, whose values come as rows after
  each series' last target value, with the target empty;
- static: constant within each series of a panel.

A covariate is numeric, or categorical: detected (a column with no number in it) or declared
(--categorical). A categorical column's levels are the texts seen in training, sorted; it enters
the networks one-hot (one input channel per level), for every backbone the same. Numeric past and
future covariates are scaled per series and column on the training part only (as the target);
numeric static ones across the series, since each series has one value.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from tsgate.errors import DataError, OptionError

ROLES = ("past", "future", "static")
ROLE_OPTIONS = {"past": "--past-cov", "future": "--future-cov", "static": "--static-cov"}


@dataclass(frozen=True)
class Covariate:
    """One covariate column: its name, role and, for a categorical one, its levels."""

    name: str
    role: str  # past | future | static
    categories: tuple[str, ...] | None = None  # None: numeric; else the levels, in code order

    @property
    def categorical(self) -> bool:
        return self.categories is not None

    @property
    def width(self) -> int:
        """Input channels it takes: one for a number, one per level for a categorical."""
        return len(self.categories) if self.categorical else 1

    def to_dict(self) -> dict:
        return {"name": self.name, "role": self.role, "categories": None if self.categories is None else list(self.categories)}

    @classmethod
    def from_dict(cls, fields: dict) -> "Covariate":
        if fields["role"] not in ROLES:
            raise ValueError(f"unknown covariate role {fields['role']!r}")
        levels = fields.get("categories")
        return cls(str(fields["name"]), fields["role"], None if levels is None else tuple(str(v) for v in levels))


def split_names(items) -> tuple[str, ...]:
    """Column names given repeated, comma-separated or both."""
    return tuple(name.strip() for item in items or () for name in str(item).split(",") if name.strip())


def declared_roles(past=(), future=(), static=()) -> dict[str, str]:
    """{column: role} of the columns given to --past-cov, --future-cov and --static-cov, in that
    order; OptionError for a column given twice."""
    roles: dict[str, str] = {}
    for role, names in (("past", past), ("future", future), ("static", static)):
        for name in names:
            if name in roles:
                where = ROLE_OPTIONS[roles[name]] if roles[name] != role else f"{ROLE_OPTIONS[role]} twice"
                raise OptionError(f"column {name!r} is given to {ROLE_OPTIONS[role]} and {where}: "
                                  "each covariate has exactly one role")
            roles[name] = role
    return roles


def check_roles(roles: dict[str, str], categorical, columns, targets, time_col: str, id_col: str | None) -> None:
    """Every covariate a column of the table, none the target, time or id column; every
    --categorical column a covariate."""
    for name, role in roles.items():
        check_column_present(columns, name, ROLE_OPTIONS[role])
        if name in targets:
            raise OptionError(f"column {name!r} is a --target and cannot also be a covariate ({ROLE_OPTIONS[role]}): "
                              "choose another --target or drop it from the covariates")
        if name in (time_col, id_col):
            raise OptionError(f"column {name!r} is the time or id column and cannot also be a covariate ({ROLE_OPTIONS[role]})")
    for name in categorical:
        if name not in roles:
            raise OptionError(f"--categorical {name!r} is not a covariate: give it to --past-cov, --future-cov or "
                              "--static-cov as well")


def check_column_present(columns, name: str, option: str) -> None:
    if name not in columns:
        raise DataError(f"unknown column {name!r} for {option}; columns present: {', '.join(map(str, columns))}")


# ---- cells -> numbers and level codes -----------------------------------------------------------


def read_covariates(frame, roles: dict[str, str], categorical, known: dict | None = None):
    """(values (N, K) float64, the Covariate of each column in `roles`' order): numbers as numbers,
    a categorical column as its level codes (NaN where empty). `known` ({name: levels}) gives the
    levels of a trained model: a level outside them is an error naming its first row."""
    from tsgate.columns import numeric_share, to_numbers

    known = known or {}
    columns, found = [], []
    for name, role in roles.items():
        column = frame[name]
        if name in known or name in categorical or (name not in known and is_text(column, numeric_share)):
            codes, levels = level_codes(column, name, known.get(name))
            columns.append(codes)
            found.append(Covariate(name, role, levels))
        else:
            columns.append(to_numbers(column, name).to_numpy())
            found.append(Covariate(name, role))
    values = np.column_stack(columns) if columns else np.zeros((len(frame), 0))
    return values.astype(np.float64, copy=False), tuple(found)


def is_text(column, numeric_share) -> bool:
    """A column with present cells and no number among them: categorical."""
    return bool(column.notna().any()) and numeric_share(column) == 0.0


def level_codes(column, name: str, levels: tuple[str, ...] | None):
    """(codes (N,) float64, NaN where empty; the levels): the levels are the sorted texts of the
    column, or `levels` given, outside which a text is an error naming its first row."""
    import pandas as pd

    from tsgate.columns import distinct_texts

    codes, texts = distinct_texts(column.astype("category") if not isinstance(column.dtype, pd.CategoricalDtype) else column)
    texts = pd.Index(texts.astype(str).str.strip())
    if levels is None:
        levels = tuple(sorted(set(texts[np.unique(codes[codes >= 0])]))) if len(texts) else ()
    lookup = pd.Index(levels).get_indexer(texts)  # (distinct,) each text's level, -1 unknown
    unseen = (codes >= 0) & (np.append(lookup, 0)[codes] < 0)
    if unseen.any():
        row = int(np.flatnonzero(unseen)[0])
        raise DataError(f"categorical covariate {name!r} has the level {texts[codes[row]]!r} at data row {row + 1}, "
                        f"unseen in training (levels: {', '.join(levels[:10])}{' ...' if len(levels) > 10 else ''}): "
                        "retrain with data that holds it, or map it to a known level")
    return np.where(codes >= 0, np.append(lookup, -1)[codes], np.nan).astype(np.float64), tuple(levels)


def static_values(values: np.ndarray, starts: np.ndarray, rows: np.ndarray, covariates, ids) -> np.ndarray:
    """(S, Ks) each series' value of each static column, from rows sorted by series (`starts`), with
    their data row numbers `rows` for the messages: a value that varies within a series, or a
    series without one, is an error naming the column and the first offending row."""
    from tsgate.data import series_label

    result = np.empty((len(starts) - 1, values.shape[1]))
    owners = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    for k, covariate in enumerate(covariates):
        column = values[:, k]
        present = ~np.isnan(column)
        first = np.minimum.reduceat(np.where(present, np.arange(len(column)), len(column)), starts[:-1])  # (S,)
        if (first == len(column)).any():
            s = int(np.flatnonzero(first == len(column))[0])
            raise DataError(f"static covariate {covariate.name!r} has no value in {series_label(ids[s])}: "
                            "give each series its value on every row")
        result[:, k] = column[first]
        varies = present & (column != result[owners, k])
        if varies.any():
            row = int(np.flatnonzero(varies)[0])
            raise DataError(f"static covariate {covariate.name!r} varies within {series_label(ids[owners[row]])}: "
                            f"data row {rows[row]} differs from data row {rows[first[owners[row]]]}; a static covariate "
                            "is constant within each series (use --past-cov or --future-cov for one that varies)")
    return result


# ---- what a SeriesSet carries ---------------------------------------------------------------------------


@dataclass
class CovariateData:
    """The covariates of a SeriesSet, raw: numbers, and categorical columns as level codes.

    Series s's dynamic rows are `dynamic[offsets[s]:offsets[s + 1]]`, on the series' own time grid
    from its first timestamp: row t goes with its target row t, and the rows after its last target
    (there may be none) hold the future-known values ahead of it. Only future columns are ever read
    there: past columns are read up to the last target (the forecast origin) and never beyond.
    """

    columns: tuple[Covariate, ...]  # past, then future, then static, each in the order given
    dynamic: np.ndarray  # (R_total, Kp + Kf) past then future columns, series end to end
    offsets: np.ndarray  # (S + 1,) where each series' dynamic rows start, then the total
    static: np.ndarray  # (S, Ks)

    @property
    def past(self) -> tuple[Covariate, ...]:
        return tuple(c for c in self.columns if c.role == "past")

    @property
    def future(self) -> tuple[Covariate, ...]:
        return tuple(c for c in self.columns if c.role == "future")

    @property
    def statics(self) -> tuple[Covariate, ...]:
        return tuple(c for c in self.columns if c.role == "static")

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def subset(self, numbers: np.ndarray) -> "CovariateData":
        """Only the series at positions `numbers` (in that order, repeats allowed)."""
        from tsgate.windows import ragged_arange

        lengths = self.lengths[numbers]
        rows = ragged_arange(self.offsets[numbers], lengths)
        return replace(self, dynamic=self.dynamic[rows], static=self.static[numbers],
                       offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))

    def from_start(self, begin: np.ndarray) -> "CovariateData":
        """Each series without its first `begin[s]` rows (its target losing as many)."""
        from tsgate.windows import ragged_arange

        begin = np.asarray(begin, dtype=np.int64)
        lengths = self.lengths - begin
        rows = ragged_arange(self.offsets[:-1] + begin, lengths)
        return replace(self, dynamic=self.dynamic[rows], offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))

    def ahead(self, lengths: np.ndarray, horizon: int) -> np.ndarray:
        """(S, H, Kf) the future columns of the `horizon` rows after each series' last target (the
        series' target lengths `lengths`); NaN where a row is missing or empty."""
        kf = len(self.future)
        out = np.full((len(lengths), horizon, kf), np.nan)
        positions = self.offsets[:-1, None] + np.asarray(lengths)[:, None] + np.arange(horizon)  # (S, H)
        inside = positions < self.offsets[1:, None]
        out[inside] = self.dynamic[positions[inside], len(self.past):]
        return out


def missing_ahead(data: CovariateData, lengths: np.ndarray, horizon: int) -> np.ndarray:
    """(S, H) bool: whether a horizon step lacks a value of some future covariate."""
    return np.isnan(data.ahead(lengths, horizon)).any(axis=2)


def check_ahead(series, horizon: int) -> None:
    """Every series of `series` holds every future covariate for each of the `horizon` steps after
    its last target; else an error naming the series and the timestamps missing."""
    from tsgate.data import series_label
    from tsgate.freq import future_stamps

    data = series.covariates
    if data is None or not data.future:
        return
    missing = missing_ahead(data, series.length_array, horizon)
    if not missing.any():
        return
    s = int(np.flatnonzero(missing.any(axis=1))[0])
    stamps = future_stamps(series.last[s:s + 1], series.freq, horizon)[missing[s]]
    shown = ", ".join(str(stamp) for stamp in stamps[:3]) + (" ..." if len(stamps) > 3 else "")
    others = int(missing.any(axis=1).sum()) - 1
    names = ", ".join(c.name for c in data.future)
    raise DataError(
        f"{series_label(series.ids[s])} lacks future covariate values ({names}) for {missing[s].sum()} of the "
        f"{horizon} horizon steps: {shown}{f' (and {others} more series)' if others else ''}; add a row per step after "
        "its last target with the target empty and every --future-cov filled"
    )


# ---- scaling and encoding ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CovariateScaling:
    """Affine maps of the numeric covariates, scaled = (x - center) / scale: per series for past and
    future columns (fitted on each series' training part), across series for static ones."""

    center: np.ndarray  # (S, Kd) per series and dynamic column (0 and 1 for a categorical one)
    scale: np.ndarray  # (S, Kd)
    static_center: np.ndarray  # (Ks,) (0 and 1 for a categorical one)
    static_scale: np.ndarray  # (Ks,)


def fit_covariate_scaling(kind: str, data: CovariateData, train_lengths: np.ndarray) -> CovariateScaling:
    """The covariates' scaling with the target's scaler kind, fitted on the first `train_lengths[s]`
    rows of each series (its training part) only. A covariate constant there scales by one."""
    from tsgate.windows import fit_scaling, unit_if_zero

    dynamic = [c for c in data.columns if c.role != "static"]
    statics = data.statics
    center, scale = np.zeros((len(data.offsets) - 1, len(dynamic))), np.ones((len(data.offsets) - 1, len(dynamic)))
    numeric = [k for k, c in enumerate(dynamic) if not c.categorical]
    if numeric:
        fitted = fit_scaling(kind, data.dynamic[:, numeric], data.offsets, train_lengths, [""] * len(train_lengths),
                             constant="flag")
        center[:, numeric], scale[:, numeric] = fitted.center, fitted.scale
    static_center, static_scale = np.zeros(len(statics)), np.ones(len(statics))
    for k, covariate in enumerate(statics):
        if not covariate.categorical and kind != "none":
            static_center[k] = data.static[:, k].mean()
            static_scale[k] = unit_if_zero(np.atleast_1d(data.static[:, k].std()))[0]
    return CovariateScaling(center, scale, static_center, static_scale)


def one_hot(codes: np.ndarray, levels: int) -> np.ndarray:
    """(..., levels) 0/1 columns of level codes (..., ); an empty (NaN) code is all zeros."""
    present = ~np.isnan(codes)
    out = np.zeros(codes.shape + (levels,))
    out[present, codes[present].astype(np.int64)] = 1.0
    return out


def encode_dynamic(columns, values: np.ndarray, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Raw dynamic covariates (..., Kd) as network inputs (..., width): numbers scaled by `center`
    and `scale` (broadcast against `values`), categoricals one-hot."""
    parts = []
    for k, covariate in enumerate(columns):
        if covariate.categorical:
            parts.append(one_hot(values[..., k], covariate.width))
        else:
            parts.append(((values[..., k] - center[..., k]) / scale[..., k])[..., None])
    return np.concatenate(parts, axis=-1) if parts else np.zeros(values.shape[:-1] + (0,))


def encode_static(columns, values: np.ndarray, scaling: CovariateScaling) -> np.ndarray:
    """Raw static covariates (S, Ks) as network inputs (S, width)."""
    return encode_dynamic(columns, values, scaling.static_center, scaling.static_scale)


def dynamic_columns(columns) -> tuple[Covariate, ...]:
    return tuple(c for c in columns if c.role == "past") + tuple(c for c in columns if c.role == "future")


def widths(columns) -> dict[str, int]:
    """Input channels of each role: {"past": ..., "future": ..., "static": ...}."""
    return {role: sum(c.width for c in columns if c.role == role) for role in ROLES}


def encoded_series(data: CovariateData, scaling: CovariateScaling, numbers=None, dtype=np.float64) -> np.ndarray:
    """Every dynamic row of `data` encoded (R_total, Wp + Wf), each series with the scaling of the
    stored series `numbers` (default: 0, 1, ...); empty cells (ahead rows, past columns) are 0."""
    numbers = np.arange(len(data.offsets) - 1) if numbers is None else np.asarray(numbers)
    owners = numbers[np.repeat(np.arange(len(data.offsets) - 1), data.lengths)]
    columns = dynamic_columns(data.columns)
    encoded = encode_dynamic(columns, data.dynamic, scaling.center[owners], scaling.scale[owners])
    return np.nan_to_num(encoded, nan=0.0).astype(dtype, copy=False)


@dataclass
class CovariateModel:
    """What a fit learns about its covariates and a model file keeps: the columns, their scaling,
    and, per stored series, its static values and the last dynamic rows of its training data."""

    columns: tuple[Covariate, ...]
    scaling: CovariateScaling
    static: np.ndarray  # (S, Ks) raw
    context: np.ndarray  # (S, L_max, Kd) raw: the dynamic rows with the stored target context

    @property
    def widths(self) -> dict[str, int]:
        return widths(self.columns)

    def options(self) -> dict:
        """DataOptions fields that read new data's covariates as in training."""
        names = {role: tuple(c.name for c in self.columns if c.role == role) for role in ROLES}
        return dict(past_cov=names["past"], future_cov=names["future"], static_cov=names["static"],
                    categorical=tuple(c.name for c in self.columns if c.categorical),
                    levels=tuple((c.name, c.categories) for c in self.columns if c.categorical))

    def check_data(self, data: CovariateData | None) -> None:
        """New data's covariates are the model's: the same names, roles and kinds."""
        found = () if data is None else tuple((c.name, c.role, c.categorical) for c in data.columns)
        wanted = tuple((c.name, c.role, c.categorical) for c in self.columns)
        if found != wanted:
            raise DataError(f"the data's covariates {describe(found)} differ from the model's {describe(wanted)}: "
                            "give the same columns in the same roles as in training")

    def inputs(self, numbers: np.ndarray, dynamic: np.ndarray, static: np.ndarray, ahead: np.ndarray | None):
        """(lookback covariates (S, L, Wp + Wf + Ws), horizon future covariates (S, H, Wf) or None) as the
        networks read them, from raw dynamic rows (S, L, Kd), static values (S, Ks) and future values
        (S, H, Kf) of the stored series `numbers`."""
        scaling = self.scaling
        columns = dynamic_columns(self.columns)
        center, scale = scaling.center[numbers][:, None], scaling.scale[numbers][:, None]
        along = np.nan_to_num(encode_dynamic(columns, dynamic, center, scale))
        constant = encode_static(tuple(c for c in self.columns if c.role == "static"), static, scaling)
        along = np.concatenate([along, np.repeat(constant[:, None], along.shape[1], axis=1)], axis=2)
        if ahead is None:
            return along, None
        kp = len([c for c in self.columns if c.role == "past"])
        future = tuple(c for c in self.columns if c.role == "future")
        return along, encode_dynamic(future, ahead, center[..., kp:], scale[..., kp:])


def describe(columns) -> str:
    if not columns:
        return "(none)"
    return "[" + ", ".join(f"{name} ({role}{', categorical' if categorical else ''})" for name, role, categorical in columns) + "]"


def check_levels_known(options) -> None:
    """Refuse --categorical for a column that no role names (before any data is read)."""
    roles = declared_roles(options.past_cov, options.future_cov, options.static_cov)
    for name in options.categorical:
        if name not in roles:
            raise OptionError(f"--categorical {name!r} is not a covariate: give it to --past-cov, --future-cov or "
                              "--static-cov as well")


# ---- a fit's covariates ----------------------------------------------------------------------------


@dataclass
class CovariatePlan:
    """A fit's covariates: what the model keeps, and the encoded arrays the windows read."""

    model: CovariateModel
    dynamic: np.ndarray  # (R_total, Wp + Wf) encoded, in the windows' dtype
    offsets: np.ndarray  # (S + 1,)
    static: np.ndarray  # (S, Ws) encoded

    @property
    def widths(self) -> dict[str, int]:
        return self.model.widths

    def windows(self, first_future: int, pad: np.ndarray | None = None):
        """windows.CovariateWindows for a member, its series padded by `pad` rows (copies of their first)."""
        import torch

        from tsgate.windows import CovariateWindows, padded_source_rows

        dynamic, offsets = self.dynamic, self.offsets
        if pad is not None and pad.any():
            dynamic = dynamic[padded_source_rows(offsets, pad)]
            offsets = np.concatenate([[0], np.cumsum(np.diff(offsets) + pad)]).astype(np.int64)
        return CovariateWindows(torch.from_numpy(np.ascontiguousarray(dynamic)), torch.from_numpy(offsets),
                                torch.from_numpy(np.ascontiguousarray(self.static, dtype=self.dynamic.dtype)),
                                self.widths["past"], self.widths["future"], first_future)


def plan_covariates(series, scaler: str, train_lengths: np.ndarray, context_length: int, dtype) -> CovariatePlan | None:
    """The covariates of a fit on `series` (None without any): scaling fitted on the training parts
    `train_lengths`, the encoded arrays, and the raw context the model file keeps."""
    data = series.covariates
    if data is None:
        return None
    scaling = fit_covariate_scaling(scaler, data, train_lengths)
    statics = data.statics
    model = CovariateModel(data.columns, scaling, data.static, last_rows(data, series.length_array, context_length))
    return CovariatePlan(model, encoded_series(data, scaling, dtype=dtype), data.offsets,
                         encode_static(statics, data.static, scaling).astype(dtype))


def last_rows(data: CovariateData, lengths: np.ndarray, n: int) -> np.ndarray:
    """(S, n, Kd) raw: the `n` dynamic rows up to each series' last target (of `lengths`), a short
    series led by copies of its first row, as windows.last_points_padded leads its targets."""
    lengths = np.asarray(lengths, dtype=np.int64)
    ends = data.offsets[:-1] + lengths
    rows = np.maximum(ends[:, None] - n + np.arange(n), data.offsets[:-1, None])  # (S, n)
    return data.dynamic[rows]


def window_features(plan: CovariatePlan, owners: np.ndarray, starts: np.ndarray, lookback: int, horizon: int) -> np.ndarray:
    """(N, F) the covariates of windows starting at row starts[i] of series owners[i], as one row of
    features each (ridge's): the past and future covariates along the lookback, the static ones, and
    the future ones of the horizon after it. A window that starts before its series (a short series'
    padded window) reads the series' first row there, as its padded targets do."""
    first = plan.offsets[owners][:, None]  # (N, 1)

    def rows(begin, count: int) -> np.ndarray:  # (N, count) rows from `begin`, none before the series' first
        return np.maximum(first + np.asarray(begin)[:, None] + np.arange(count), first)

    along = plan.dynamic[rows(starts, lookback)]  # (N, L, Wp + Wf)
    ahead = plan.dynamic[rows(starts + lookback, horizon)][..., plan.widths["past"]:]  # (N, H, Wf)
    count = len(owners)
    return np.concatenate([along.reshape(count, -1), plan.static[owners], ahead.reshape(count, -1)], axis=1)


def window_inputs(model: CovariateModel, data: CovariateData, numbers: np.ndarray, owners: np.ndarray,
                  starts: np.ndarray, lookback: int, horizon: int):
    """(covariates along the lookback (N, L, Wp + Wf + Ws), the horizon's future ones (N, H, Wf) or None)
    of windows starting at row starts[i] of series owners[i] of `data`, whose stored series are `numbers`."""
    from tsgate.windows import gather_windows

    encoded = encoded_series(data, model.scaling, numbers)  # (R_total, Wp + Wf)
    statics = tuple(c for c in model.columns if c.role == "static")
    static = encode_static(statics, data.static, model.scaling)[owners]  # (N, Ws)
    along = gather_windows(encoded, data.offsets, owners, starts, lookback)
    along = np.concatenate([along, np.repeat(static[:, None], lookback, axis=1)], axis=2)
    if not model.widths["future"]:
        return along, None
    return along, gather_windows(encoded, data.offsets, owners, starts + lookback, horizon)[..., model.widths["past"]:]


def append_horizon(inputs: np.ndarray, ahead: np.ndarray | None, first: int) -> np.ndarray:
    """Network inputs (N, L, I) and, with future covariates `ahead` (N, H, Wf), H more rows that are zero
    but for those, in channels first .. first + Wf (the layout windows.CovariateWindows gives)."""
    if ahead is None:
        return inputs
    rows = np.zeros((len(inputs), ahead.shape[1], inputs.shape[2]))
    rows[..., first:first + ahead.shape[2]] = ahead
    return np.concatenate([inputs, rows], axis=1)


def config_fields(data) -> dict:
    """The ModelConfig fields of the input channels of the covariates of `data` (a CovariateData or a
    CovariateModel: anything with their columns): n_past, n_future, n_static; none without covariates."""
    if data is None:
        return {}
    found = widths(data.columns)
    return {"n_past": found["past"], "n_future": found["future"], "n_static": found["static"]}
