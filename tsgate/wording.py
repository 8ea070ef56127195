"""Sentences for people, read off the numbers the library returns: compare's verdict, inspect's
reading of the gates, and the notes about series left out. render.py lays out the tables they go with.

The library's constants the sentences name (compare's ranking metric, the gates' saturation
threshold) are imported where a sentence needs them, so the words cannot drift from the numbers.
"""

from __future__ import annotations

import math

SIGNIFICANCE = 0.05  # a Diebold-Mariano p at or above it is "within noise"
NOTE_NAMES = 4  # series a note names before it only counts the rest


# ---- compare -------------------------------------------------------------------------------------


def comparison_verdict(comparison) -> str:
    """The verdict of a compare.Comparison, from its rows and settings."""
    settings = comparison.settings
    return verdict(comparison.rows, tuple(settings["levels"]), comparison.test_points, settings["seeds"],
                   settings.get("test_points_per_fold"))


def verdict(rows: list[dict], levels: tuple[float, ...] = (), test_points: int = 0, seeds: int = 1,
            horizon: int | None = None) -> str:
    """Sentences computed from the table: the winner, whether the runner-up is within noise, the cost,
    which rows' intervals are badly calibrated, and (given the horizon each series is scored over) which
    fit the pool but not the series."""
    return point_verdict(rows) + "".join(calibration_clause(rows, level, test_points, seeds) +
                                         (series_clause(rows, level, test_points, seeds, horizon) if horizon else "")
                                         for level in levels)


def calibration_clause(rows: list[dict], level: float, test_points: int, seeds: int) -> str:
    """' Badly calibrated 95% intervals: ...' naming the rows whose coverage is more than two binomial
    standard errors from the level promised (their points are not independent, so this flags only
    clear misses), or '' when none is."""
    from tsgate.intervals import level_name
    from tsgate.verdicts import pooled_coverage_fits

    name = level_name(level)
    off = []
    for row in rows:
        points = test_points * (seeds if row["kind"] == "recurrent" else 1)
        if not pooled_coverage_fits(row[f"coverage_{name}"], level, points):
            off.append(f"{row['model']} (covers {row[f'coverage_{name}']:.0%} of {points} test points)")
    return f" Badly calibrated {name}% intervals: {', '.join(off)}." if off else ""


def series_clause(rows: list[dict], level: float, test_points: int, seeds: int, horizon: int) -> str:
    """' 95% intervals that fit the pool but not the series: ...' naming the rows whose pooled coverage is
    right while too many series are entirely inside or outside their binomial range (verdicts.fits_pool_not_series),
    or '' when none is."""
    from tsgate.intervals import level_name
    from tsgate.verdicts import fits_pool_not_series

    name, units = level_name(level), max(test_points // horizon, 1)
    named = [f"{row['model']} (every point inside on {row[f'series_all_inside_{name}']:.0%} of series, "
             f"{(level / 100) ** horizon:.0%} if calibrated per series; "
             f"{row[f'series_miscalibrated_{name}']:.0%} outside their binomial range)"
             for row in rows if f"series_all_inside_{name}" in row
             and fits_pool_not_series(row, level, test_points * (seeds if row["kind"] == "recurrent" else 1), units,
                                      horizon)]
    return f" {name}% intervals that fit the pool but not the series: {', '.join(named)}." if named else ""


def point_verdict(rows: list[dict]) -> str:
    from tsgate.compare import RANK_BY

    winner = rows[0]
    text = f"{winner['model']} forecasts best ({RANK_BY.upper()} {winner[RANK_BY]:.3g})"
    if len(rows) == 1:
        return text + "."
    if winner["kind"] == "baseline":
        recurrent = [row for row in rows if row["kind"] == "recurrent"]
        if recurrent:
            best = recurrent[0]
            text += (f"; no recurrent backbone beats this baseline here: the best, {best['model']} "
                     f"({RANK_BY.upper()} {best[RANK_BY]:.3g}), {noise_clause(best)}")
        return text + "."
    runner = rows[1]
    text += f"; {runner['model']} {noise_clause(runner)}{cost_clause(winner, runner)}"
    baselines = [row for row in rows if row["kind"] == "baseline"]
    if baselines:
        base = baselines[0]
        gain = 100 * (1 - winner[RANK_BY] / base[RANK_BY]) if base[RANK_BY] > 0 else math.nan
        text += f". It is {gain:.0f}% better than the best baseline, {base['model']} (DM p = {base['dm_p']:.2g})"
    return text + "."


def noise_clause(row: dict) -> str:
    if row["dm_p"] is not None and row["dm_p"] >= SIGNIFICANCE:
        return f"is within noise of it (DM p = {row['dm_p']:.2g})"
    return f"is worse beyond noise (DM p = {row['dm_p']:.2g})"


def cost_clause(winner: dict, runner: dict) -> str:
    if winner["kind"] != "recurrent" or runner["kind"] != "recurrent":
        return ""
    parts = []
    if winner["parameters"] and runner["parameters"]:
        parts.append(f"{runner['parameters'] / winner['parameters']:.2g}x the parameters")
    if winner["train_seconds"] and runner["train_seconds"]:
        parts.append(f"{runner['train_seconds'] / winner['train_seconds']:.2g}x the training time")
    return f", at {' and '.join(parts)}" if parts else ""


# ---- inspect -------------------------------------------------------------------------------------


def inspection_title(report: dict) -> str:
    return f"tsgate inspect: {report['backbone']}, lookback {report['lookback']}, {report['windows']} windows"


def inspection_footer(report: dict, sentences: list[str]) -> str:
    """The effective memory, then the reading, below inspect's table."""
    memory = report["memory"]
    return "\n".join([f"effective memory: the last {memory['effective']} of {report['lookback']} steps carry "
                      f"{memory['share']:.0%} of the forecast's dependence on its window", *sentences])


def reading(report: dict) -> list[str]:
    """A few sentences read off gates.inspect_forecaster's report: what each layer's gates keep per
    step, and how far back the forecast looks."""
    memory = report["memory"]
    profile = memory["profile"]  # (L,) oldest step first
    sentences = []
    for layer in report["layers"]:
        sentences += layer_reading(report["backbone"], layer, len(profile))
    if sum(profile) > 0:
        strongest = max(range(len(profile)), key=profile.__getitem__)  # the first largest, as numpy's argmax
        sentences.append(f"the forecast draws {memory['share']:.0%} of its signal from the last {memory['effective']} "
                         f"of its {len(profile)} steps; the step it leans on most is {len(profile) - strongest} back "
                         f"({profile[strongest]:.0%} of the signal)")
    else:
        sentences.append(f"the forecast does not depend on any of its {len(profile)} input steps (all gradients are zero)")
    if "channels" in report:  # a model with covariates: how the dependence splits between its inputs
        shares = sorted(report["channels"].items(), key=lambda item: -item[1])
        sentences.append("of that dependence, " + ", ".join(f"{share:.0%} is on {name}" for name, share in shares))
    return sentences


def layer_reading(backbone: str, layer: dict, lookback: int) -> list[str]:
    """What one layer's gates keep per step, and which of them saturates most."""
    from tsgate.gates import SATURATION, SIGMOID_GATES

    gates, name = layer["gates"], f"layer {layer['layer']}"
    if backbone == "gru":
        kept = gates["update"]["mean"]
        sentences = [f"{name}: the update gate keeps {kept:.0%} of the state per step (mean z = {kept:.2f}): "
                     f"{memory_phrase(kept, lookback)}; the reset gate lets {gates['reset']['mean']:.0%} of the "
                     f"old state into the candidate (mean r = {gates['reset']['mean']:.2f})"]
    elif backbone == "lstm":
        kept = gates["forget"]["mean"]
        sentences = [f"{name}: the forget gate keeps {kept:.0%} of the cell per step (mean f = {kept:.2f}): "
                     f"{memory_phrase(kept, lookback)}; the input gate writes {gates['input']['mean']:.0%} "
                     f"(mean i = {gates['input']['mean']:.2f}) and the output gate shows "
                     f"{gates['output']['mean']:.0%} (mean o = {gates['output']['mean']:.2f})"]
    else:
        hidden = gates["hidden"]
        sentences = [f"{name}: a plain RNN has no gate, every step rewrites the state through tanh; "
                     f"{hidden['saturated']:.0%} of its hidden values are saturated (|h| > {1 - SATURATION:.2f})"]
    sigmoid = {gate: gates[gate]["saturated"] for gate in SIGMOID_GATES if gate in gates}
    if sigmoid:
        gate, share = max(sigmoid.items(), key=lambda item: item[1])
        if share < 0.005:  # under half a percent: say so rather than name a "most saturated" gate at 0%
            sentences.append(f"{name}: no gate saturates (under 0.5% of any gate's values within {SATURATION} "
                             "of 0 or 1): every gate mixes old and new rather than switching")
        else:
            sentences.append(f"{name}: the most saturated gate is the {gate} gate, with {share:.0%} of its values "
                             f"within {SATURATION} of 0 or 1")
    return sentences


def memory_phrase(kept: float, lookback: int) -> str:
    """'memory of about N steps' for a share `kept` per step: a geometric decay lasts 1 / (1 - kept) steps."""
    if kept >= 1 - 1e-6:
        return "memory longer than any window"
    steps = 1 / (1 - kept)
    beyond = f", longer than the lookback of {lookback}" if steps > lookback else ""
    return f"memory of about {steps:.1f} steps{beyond}"


# ---- notes ---------------------------------------------------------------------------------------


def panel_notes(skipped: list[tuple[str, str]], used: int, constant: int = 0) -> list[str]:
    """One note naming the series left out (the first few, then a count), one counting constant ones."""
    from tsgate.data import series_label

    notes = []
    if skipped:
        key, why = skipped[0]
        more = len(skipped) - NOTE_NAMES
        others = ", ".join(repr(key) for key, _ in skipped[1:NOTE_NAMES]) + (f" and {more} more" if more > 0 else "")
        also = f"; also {others}" if others else ""
        notes.append(f"left out {len(skipped)} of {len(skipped) + used} series: {series_label(key)} {why}{also} "
                     "(--strict refuses them instead)")
    if constant:
        notes.append(f"{constant} series are constant over their training part: they forecast their last value")
    return notes


def fallback_notes(fallback: list[str], used: int) -> list[str]:
    """One note naming the series too short to learn from (the first few, then a count), which are forecast
    from their own few points all the same."""
    if not fallback:
        return []
    more = len(fallback) - NOTE_NAMES
    names = ", ".join(repr(key) for key in fallback[:NOTE_NAMES]) + (f" and {more} more" if more > 0 else "")
    return [f"{len(fallback)} of {used} series are too short to learn from ({names}): the networks forecast them "
            "from their own few points, marked in the forecast's fallback column (--strict refuses them instead)"]


def data_notes(series) -> list[str]:
    """What people should know about how a SeriesSet was read."""
    return [f"time column {series.time_col!r} mixes UTC offsets: converted to UTC"] if series.to_utc else []


def comparison_notes(comparison) -> list[str]:
    """What people should know about how a comparison was run."""
    if comparison.season_too_long is None:
        return []
    freq, season, shortest = comparison.season_too_long
    which = "the median series" if comparison.settings.get("lenient") else "the shortest series"
    return [f"the {freq} season of {season} steps is as long as {which} ({shortest} points): "
            "seasonal naive falls back to naive"]


def configuration_text(best: dict) -> str:
    """A tuned configuration as 'hidden 64, lr 0.003, ...'."""
    return ", ".join(f"{key} {value:.3g}" if isinstance(value, float) else f"{key} {value}" for key, value in best.items())


def tuning_notes(rows: list[dict]) -> list[str]:
    """Each tuned backbone's search in a sentence: its trials and the configuration that won."""
    notes = []
    for row in rows:
        if tuning := row.get("tuning"):
            best = configuration_text(tuning["best"])
            notes.append(f"{row['model']} was tuned over {tuning['trials'] + tuning['pruned']} trials "
                         f"({tuning['pruned']} pruned, {tuning['seconds']:.0f} s of fitting); it trained as its best: {best}")
    return notes


# ---- compare --claims ----------------------------------------------------------------------------

CLAIMS = {  # id: (the claim as articles state it, its short title in a summary line)
    "fewer-parameters-faster": ("GRU has fewer parameters and trains faster than LSTM", "GRU fewer parameters, faster"),
    "converges-more-easily": ("GRU converges more easily than LSTM", "GRU converges more easily"),
    "lstm-better-on-large-data": ("LSTM does better than GRU and RNN when the data set is large",
                                  "LSTM better on large data"),
    "rnn-enough-for-short-sequences": ("a vanilla RNN is enough when sequences are short",
                                       "RNN enough for short sequences"),
}


def claims_lines(claims: list, plan) -> list[str]:
    """The data's size and the sweeps' cost, then one summary line per claim."""
    return [claims_data_line(plan)] + [claim_summary(claim) for claim in claims]


def claims_data_line(plan) -> str:
    data = plan.data
    return (f"Claims tested on {data['series']} series, {data['points']:,} points, {data['training_windows']:,} training "
            f"windows at lookback {data['base_lookback']} (the deepest fold), with {plan.fits} sweep fits:")


def claims_plan_line(plan) -> str:
    """What --claims is about to run, for stderr before the sweeps."""
    return (f"claims: {plan.fits} sweep fits (one network each) on {plan.workers} process"
            f"{'es' if plan.workers > 1 else ''}, about {duration(plan.seconds)} by the comparison's fits")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "an unknown time"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def claim_summary(claim) -> str:
    """'TITLE: VERDICT here: the numbers it rests on'."""
    title = CLAIMS[claim.id][1]
    return f"{title}: {claim.verdict} here: {CLAIM_READINGS[claim.id](claim.evidence)}"


def speed_reading(evidence: dict) -> str:
    counts, per_step = evidence["parameters_at_equal_hidden"], evidence["seconds_per_step"]
    trained, sizes = evidence["parameters"], evidence["hidden_trained"]
    sized = "equal hidden size"
    if evidence["match"] == "params":
        sized = (f"matched parameter counts (GRU {trained['gru']:,} at hidden {sizes['gru']}, LSTM {trained['lstm']:,} "
                 f"at hidden {sizes['lstm']})")
    best = evidence["seconds_to_best"]
    return (f"at hidden {evidence['hidden']} GRU has {counts['gru']:,} parameters, LSTM {counts['lstm']:,} "
            f"(RNN {counts['rnn']:,}); at {sized} a GRU step takes {milliseconds(per_step['gru'])}, an LSTM step "
            f"{milliseconds(per_step['lstm'])}; a forecast {short(evidence['forecast_ms']['gru'])} ms and "
            f"{short(evidence['forecast_ms']['lstm'])} ms; the best validation check comes after "
            f"{short(best['gru']['mean'])} s and {short(best['lstm']['mean'])} s")


def short(value: float) -> str:
    """Two significant digits, without an exponent for the figures a timing reaches (160, not 1.6e+02)."""
    return f"{value:.2g}" if abs(value) < 100 else f"{value:.0f}"


def milliseconds(timing: dict) -> str:
    spread = f" ± {short(1000 * timing['std'])}" if timing["std"] else ""
    mean = 1000 * timing["mean"]
    return f"{mean:.3g}{spread} ms" if mean < 1000 else f"{mean:.0f}{spread} ms"


def convergence_reading(evidence: dict) -> str:
    gru, lstm = evidence["gru"], evidence["lstm"]
    if min(gru["steps_to_near_best"]["n"], lstm["steps_to_near_best"]["n"]) < 2:
        return "one network per backbone leaves no spread to judge against: pass --seeds 3"
    near = f"{evidence['near']:.0%}"

    def steps(found):
        taken = found["steps_to_near_best"]
        return (f"{taken['mean']:.0f} ± {taken['std']:.0f} steps ({found['seconds_to_near_best']['mean']:.2g} s, "
                f"{taken['n']} networks)")

    losses = f"{gru['best_val_loss']['std']:.2g} and {lstm['best_val_loss']['std']:.2g}"
    return (f"GRU comes within {near} of its best validation loss (of the way down to it) after {steps(gru)}, "
            f"LSTM after {steps(lstm)} "
            f"(a check every {gru['check_every'] or '-'} steps); the best losses spread by {losses} (std)"
            + tuning_clause(gru, lstm))


def tuning_clause(gru: dict, lstm: dict) -> str:
    if "tuning" not in gru or "tuning" not in lstm:
        return ""
    return (f"; over the tuning trials the validation losses' IQR is {gru['tuning']['val_loss_iqr']:.2g} (GRU) "
            f"and {lstm['tuning']['val_loss_iqr']:.2g} (LSTM)")


def data_sweep_reading(evidence: dict) -> str:
    parts = [axis_reading(axis, sweep) for axis, sweep in evidence["axes"].items()]
    return "; ".join(parts)


def axis_reading(axis: str, sweep: dict) -> str:
    dropped = dropped_clause(sweep["dropped"], axis)
    if sweep["trend"] is None:
        kept = ", ".join(size_label(axis, point) for point in sweep["points"]) or "none"
        return f"{AXIS_NAMES[axis]}: only {kept} can be trained on{dropped}"
    first, last = sweep["points"][0], sweep["points"][-1]
    each = [f"LSTM's MASE is {gap_text(first, other)} at {size_label(axis, first)}, "
            f"{gap_text(last, other)} at {size_label(axis, last)} (change: DM p = {trend['dm_p']:.2g})"
            for other, trend in sweep["trend"].items()]
    return f"{AXIS_NAMES[axis]}: " + "; ".join(each) + dropped


AXIS_NAMES = {"history": "by history", "series": "by series"}


def gap_text(point: dict, other: str) -> str:
    """"0.02 above GRU's (DM p = 0.01)": a row's MASE against another's at one sweep point."""
    gap, name = point["gap"][other], f"{other.upper()}'s"
    side = f"equal to {name}" if gap == 0 else f"{abs(gap):.2g} {'above' if gap > 0 else 'below'} {name}"
    return f"{side} (DM p = {point['dm_p'][other]:.2g})"


def size_label(axis: str, point: dict) -> str:
    from fractions import Fraction

    if axis == "series":
        return f"{point['size']} series"
    if point["value"] >= 1:
        return "all of it"
    return f"{Fraction(point['value']).limit_denominator(64)} of the data"


def dropped_clause(dropped: list[dict], axis: str) -> str:
    """' (1/8, 1/4 left out: 1/8 of the shortest series is 17 points, a fit needs 63)'."""
    if not dropped:
        return ""
    what = ", ".join(fraction_text(d["value"], axis) for d in dropped)
    first = dropped[0]
    if axis == "lookback":
        why = (f"lookback {what} left out: the shortest series has {first['have']} training points, lookback "
               f"{fraction_text(first['value'], axis)} needs {first['need']}")
    else:
        why = (f"{what} left out: {fraction_text(first['value'], axis)} of the shortest series is {first['have']} "
               f"points, a fit needs {first['need']}")
    return f" ({why})"


def fraction_text(value: float, axis: str) -> str:
    from fractions import Fraction

    return str(int(value)) if axis == "lookback" else str(Fraction(value).limit_denominator(64))


def lookback_reading(evidence: dict) -> str:
    points, dropped = evidence["points"], dropped_clause(evidence["dropped"], "lookback")
    if len(points) < 2 or points[-1]["value"] < 2 * points[0]["value"]:
        tried = ", ".join(str(int(p["value"])) for p in points) or "none"
        return f"the series allow lookbacks {tried} only, less than a factor of two apart{dropped}"
    each = [f"{gap_text(point, point['gated'])} at lookback {int(point['value'])}"
            for point in points]
    return (f"RNN's MASE is " + ", ".join(each) + f"; the gap changes by {evidence['trend']['change']:+.2g} from the "
            f"shortest to the longest (DM p = {evidence['trend']['dm_p']:.2g}){dropped}")


CLAIM_READINGS = {
    "fewer-parameters-faster": speed_reading,
    "converges-more-easily": convergence_reading,
    "lstm-better-on-large-data": data_sweep_reading,
    "rnn-enough-for-short-sequences": lookback_reading,
}
