"""The reference the vectorised panel loader is tested against: the same table read and checked,
then every series sent through `data.prepare_one` and the set built from one array per series."""

import numpy as np

from tsgate import data


def load_per_series(frame, options: data.DataOptions) -> data.SeriesSet:
    """What `load_series` gives when no series takes the fast route (for tables it loads without error)."""
    rows, ids, fields = data.sorted_rows(frame, options)
    panel = len(ids) > 1 and not options.strict
    clean = data.clean_series(rows)
    freq = data.panel_frequency(rows, options.freq, clean, clean & data.complete_series(rows))
    prepared, skipped = data.prepare_slow(rows, ids, np.arange(len(ids)), options, fields, panel)  # calls prepare_one
    skipped.update(data.other_frequencies(prepared, freq, panel))
    kept = sorted(prepared)
    return data.SeriesSet.from_arrays([ids[s] for s in kept], [prepared[s][0] for s in kept], [prepared[s][1] for s in kept],
                                      freq=freq, skipped=[(ids[s], skipped[s]) for s in sorted(skipped)], **fields)
