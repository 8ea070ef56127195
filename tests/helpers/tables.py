"""Small CSV tables written as text, read through the CLI's own reader, for the loading tests."""

import pandas as pd

from tsgate.data import DataOptions, SeriesSet, load_series
from tsgate.io import read_csv


def load_text(folder, text: str, **options) -> SeriesSet:
    """CSV text -> SeriesSet, through the same reader the CLI uses (the file goes in `folder`)."""
    path = folder / "data.csv"
    path.write_text(text, encoding="utf-8")
    options = DataOptions(**options)
    return load_series(read_csv(str(path), labels=options.label_columns), options)


def csv(header: str, rows) -> str:
    return header + "\n" + "".join(f"{row}\n" for row in rows)


def days(values, start="2024-01-01", header="date,value"):
    stamps = pd.date_range(start, periods=len(values), freq="D").strftime("%Y-%m-%d")
    return csv(header, [f"{s},{v}" for s, v in zip(stamps, values)])


def one_line(exc_info) -> str:
    message = str(exc_info.value)
    assert "\n" not in message and message
    return message
