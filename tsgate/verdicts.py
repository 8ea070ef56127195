"""Each claim's verdict from its evidence (evidence.py's numbers), by fixed rules.

A difference counts only when it is beyond noise: outside the spread over seeds (and folds), and,
for forecast errors, with a Diebold-Mariano p below SIGNIFICANCE. What is not beyond noise is
"within noise"; what the data could not measure at all is "too little data". The rules read the
numbers only, so tests can hand them constructed cases.
"""

from __future__ import annotations

SUPPORTED, CONTRADICTED, NOISE, TOO_LITTLE = "supported", "contradicted", "within noise", "too little data"
VERDICTS = (SUPPORTED, CONTRADICTED, NOISE, TOO_LITTLE)
SIGNIFICANCE = 0.05  # a DM p at or above it cannot separate two rows
# Timing of one fit each varies by about this share on a shared machine: the noise of a single
# measurement, where there is no spread over seeds to read it from.
TIMING_TOLERANCE = 0.10


def beyond_noise(difference: float, p: float | None, spread: float | None) -> bool:
    """A forecast-error difference that the DM test separates and that exceeds the seeds' spread."""
    return p is not None and p < SIGNIFICANCE and abs(difference) > (spread or 0.0)


def by_sign(difference: float, noise: float) -> str:
    """supported below -noise (the claimed side smaller), contradicted above noise, else within noise."""
    if difference < -noise:
        return SUPPORTED
    return CONTRADICTED if difference > noise else NOISE


def fewer_parameters_faster(evidence: dict) -> str:
    """GRU has fewer parameters at equal hidden size, and takes less time per optimizer step (at the
    comparison's sizes, matched parameter counts by default)."""
    counts = evidence["parameters_at_equal_hidden"]
    if counts["gru"] >= counts["lstm"]:
        return CONTRADICTED
    gru, lstm = evidence["seconds_per_step"]["gru"], evidence["seconds_per_step"]["lstm"]
    if not gru["n"] or not lstm["n"]:
        return TOO_LITTLE
    noise = max(gru["std"], lstm["std"], TIMING_TOLERANCE * max(gru["mean"], lstm["mean"]))
    return by_sign(gru["mean"] - lstm["mean"], noise)


def converges_more_easily(evidence: dict) -> str:
    """GRU reaches 5% of its best validation loss in fewer steps than LSTM, beyond the spread of
    those steps over networks and the steps between two checks."""
    gru, lstm = evidence["gru"], evidence["lstm"]
    steps_g, steps_l = gru["steps_to_near_best"], lstm["steps_to_near_best"]
    if min(steps_g["n"], steps_l["n"]) < 2:
        return TOO_LITTLE
    noise = max(steps_g["std"], steps_l["std"], gru["check_every"] or 0, lstm["check_every"] or 0)
    return by_sign(steps_g["mean"] - steps_l["mean"], noise)


def lstm_better_on_large_data(evidence: dict) -> str:
    """Supported: LSTM's gap to GRU and to RNN moves in its favour beyond noise as the data grows, and on
    all the data it is better than both beyond noise. Contradicted: the gap moves against it beyond
    noise, or it is worse than either beyond noise on all the data. Each axis (history; a panel's series) is
    judged alone: one axis decides when no other says the opposite."""
    found = {axis: data_axis_verdict(sweep) for axis, sweep in evidence["axes"].items()}
    measured = {verdict for verdict in found.values() if verdict != TOO_LITTLE}
    if not measured:
        return TOO_LITTLE
    if SUPPORTED in measured and CONTRADICTED in measured:
        return NOISE
    return next((verdict for verdict in (CONTRADICTED, SUPPORTED) if verdict in measured), NOISE)


def data_axis_verdict(sweep: dict) -> str:
    if sweep["trend"] is None:
        return TOO_LITTLE
    largest = sweep["points"][-1]
    each = []
    for other, trend in sweep["trend"].items():
        worse_at_all = largest["gap"][other] > 0 and beyond_noise(largest["gap"][other], largest["dm_p"][other],
                                                                  largest["gap_std"][other])
        better_at_all = largest["gap"][other] < 0 and beyond_noise(largest["gap"][other], largest["dm_p"][other],
                                                                   largest["gap_std"][other])
        moved = beyond_noise(trend["change"], trend["dm_p"], trend["spread"])
        if worse_at_all or (moved and trend["change"] > 0):
            each.append(CONTRADICTED)
        else:
            each.append(SUPPORTED if moved and better_at_all else NOISE)
    if CONTRADICTED in each:
        return CONTRADICTED
    return SUPPORTED if all(verdict == SUPPORTED for verdict in each) else NOISE


def rnn_enough_for_short_sequences(evidence: dict) -> str:
    """RNN is within noise of the better gated cell at the shorter half of the lookbacks, and its gap
    grows beyond noise to the longest, where it is worse beyond noise. Needs lookbacks spanning at
    least a factor of two."""
    points = evidence["points"]
    if len(points) < 2 or points[-1]["value"] < 2 * points[0]["value"]:
        return TOO_LITTLE
    for point in points[:(len(points) + 1) // 2]:
        (gated,) = point["gap"]
        if point["gap"][gated] > 0 and beyond_noise(point["gap"][gated], point["dm_p"][gated], point["gap_std"][gated]):
            return CONTRADICTED
    longest, trend = points[-1], evidence["trend"]
    (gated,) = longest["gap"]
    worse_at_longest = longest["gap"][gated] > 0 and beyond_noise(longest["gap"][gated], longest["dm_p"][gated],
                                                                 longest["gap_std"][gated])
    grows = trend["change"] > 0 and beyond_noise(trend["change"], trend["dm_p"], trend["spread"])
    return SUPPORTED if worse_at_longest and grows else NOISE


JUDGES = {
    "fewer-parameters-faster": fewer_parameters_faster,
    "converges-more-easily": converges_more_easily,
    "lstm-better-on-large-data": lstm_better_on_large_data,
    "rnn-enough-for-short-sequences": rnn_enough_for_short_sequences,
}


# ---- compare's intervals: the pool against the series ------------------------------------------------------
# A calibrated series leaves its binomial range (metrics.binomial_range) at most this often.
SERIES_OUTSIDE_BY_CHANCE = 0.05


def pooled_coverage_fits(coverage: float, level: float, points: int) -> bool:
    """Pooled coverage within two binomial standard errors of the level promised over `points` test points
    (they are not independent, so this flags only clear misses)."""
    nominal = level / 100
    return abs(coverage - nominal) <= 2 * (nominal * (1 - nominal) / max(points, 1)) ** 0.5


def beyond_chance(share: float, chance: float, units: int) -> bool:
    """A share of `units` series above what `chance` of each gives, by more than two binomial standard errors."""
    return share > chance + 2 * (chance * (1 - chance) / max(units, 1)) ** 0.5


def fits_pool_not_series(row: dict, level: float, points: int, units: int, points_per_unit: int) -> bool:
    """A row whose pooled coverage keeps the level's promise while its series do not: more of them outside
    their binomial range, or entirely inside, than calibrated series give beyond chance. `units` counts the
    series (x columns x folds) scored, each over `points_per_unit` test points; `points` all of them."""
    from tsgate.intervals import level_name

    name = level_name(level)
    if not pooled_coverage_fits(row[f"coverage_{name}"], level, points):
        return False
    all_inside_by_chance = (level / 100) ** points_per_unit
    return (beyond_chance(row[f"series_miscalibrated_{name}"], SERIES_OUTSIDE_BY_CHANCE, units)
            or beyond_chance(row[f"series_all_inside_{name}"], all_inside_by_chance, units))
