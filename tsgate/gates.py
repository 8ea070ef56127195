"""What the gates do on the user's data, and how far back each trained network looks.

Textbooks say GRU's update/reset gates and LSTM's input/forget/output gates and
cell state "capture long-term dependencies". This module measures whether they
do on a fitted model: it reruns member 0 over windows of the user's series,
recomputes every gate at every step from the stock module's own weights (the
equations of torch's nn.RNN / nn.GRU / nn.LSTM docs), summarises them, and
measures by autograd how much the forecast depends on each past step. It
computes plain data (numbers and lists, JSON-able); it never draws or prints.
"""

from __future__ import annotations

import numpy as np

SIGMOID_GATES = ("update", "reset", "input", "forget", "output")  # saturated: within 0.05 of 0 or 1
TANH_VALUES = ("candidate", "cell_candidate", "hidden")  # saturated: |value| > 0.95
SATURATION = 0.05
MEMORY_SHARE = 0.9  # the share of the memory profile the effective memory holds


# ---- inputs ----------------------------------------------------------------------------------


def recurrent_inputs(network, inputs):
    """What network.rnn reads: windows (N, L, I) normalised as RecurrentForecaster.correction does."""
    import torch

    from tsgate.models import normalise, window_stats

    inputs = torch.as_tensor(inputs).to(network.head.weight.device)
    if network.config.n_future:  # the horizon's rows of future covariates reach the head, not the recurrence
        inputs = inputs[:, :-network.config.horizon]
    mask = inputs[..., -1:] if network.config.masked else None  # padded windows: as the forward reads them
    _, level, scale = window_stats(inputs[..., :network.config.n_targets], network.config, mask)
    return normalise(inputs, level, scale, mask).to(network.head.weight.dtype)


# ---- the gates, step by step -----------------------------------------------------------------


def trace_gates(network, inputs) -> list[dict[str, np.ndarray]]:
    """Per recurrent layer, each gate's activations (N, L, H) at every step, recomputed from the
    stock module's weights with torch's documented equations (zero initial state; layer k > 0
    reads layer k - 1's hidden state; no dropout, as in evaluation)."""
    import torch

    rnn, backbone = network.rnn, network.config.backbone
    layers = []
    with torch.no_grad():
        x = recurrent_inputs(network, inputs)  # (N, L, I)
        for k in range(rnn.num_layers):
            w_ih, w_hh = getattr(rnn, f"weight_ih_l{k}"), getattr(rnn, f"weight_hh_l{k}")
            b_ih, b_hh = getattr(rnn, f"bias_ih_l{k}"), getattr(rnn, f"bias_hh_l{k}")
            projected = x @ w_ih.T + b_ih  # (N, L, G * H): the input's part of every gate, all steps at once
            step = {"rnn": _rnn_step, "gru": _gru_step, "lstm": _lstm_step}[backbone]
            trace = step(projected, w_hh, b_hh, getattr(rnn, "nonlinearity", "tanh"))
            layers.append({name: values.cpu().numpy() for name, values in trace.items()})
            x = trace["hidden"]
    return layers


def _rnn_step(projected, w_hh, b_hh, nonlinearity):
    """h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)."""
    import torch

    act = torch.tanh if nonlinearity == "tanh" else torch.relu
    h = projected.new_zeros(projected.shape[0], w_hh.shape[1])
    hidden = []
    for t in range(projected.shape[1]):
        h = act(projected[:, t] + h @ w_hh.T + b_hh)
        hidden.append(h)
    return {"hidden": torch.stack(hidden, dim=1)}


def _gru_step(projected, w_hh, b_hh, _):
    """r, z = sigmoid(W_i x + b_i + W_h h + b_h); n = tanh(W_in x + b_in + r * (W_hn h + b_hn));
    h_t = (1 - z) * n + z * h_{t-1}. torch stacks the blocks as r, z, n."""
    import torch

    h = projected.new_zeros(projected.shape[0], w_hh.shape[1])
    out = {name: [] for name in ("reset", "update", "candidate", "hidden")}
    for t in range(projected.shape[1]):
        x_r, x_z, x_n = projected[:, t].chunk(3, dim=1)
        h_r, h_z, h_n = (h @ w_hh.T + b_hh).chunk(3, dim=1)
        r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        h = (1 - z) * n + z * h
        for name, value in zip(out, (r, z, n, h)):
            out[name].append(value)
    return {name: torch.stack(values, dim=1) for name, values in out.items()}


def _lstm_step(projected, w_hh, b_hh, _):
    """i, f, o = sigmoid(...); g = tanh(...); c_t = f * c_{t-1} + i * g; h_t = o * tanh(c_t).
    torch stacks the blocks as i, f, g, o."""
    import torch

    h = projected.new_zeros(projected.shape[0], w_hh.shape[1])
    c = torch.zeros_like(h)
    out = {name: [] for name in ("input", "forget", "cell_candidate", "output", "cell", "hidden")}
    for t in range(projected.shape[1]):
        x_i, x_f, x_g, x_o = (projected[:, t] + h @ w_hh.T + b_hh).chunk(4, dim=1)
        i, f, g, o = torch.sigmoid(x_i), torch.sigmoid(x_f), torch.tanh(x_g), torch.sigmoid(x_o)
        c = f * c + i * g
        h = o * torch.tanh(c)
        for name, value in zip(out, (i, f, g, o, c, h)):
            out[name].append(value)
    return {name: torch.stack(values, dim=1) for name, values in out.items()}


def gate_summary(trace: list[dict[str, np.ndarray]], backbone: str) -> list[dict]:
    """Per layer, each gate's mean and spread overall, per step of the lookback and per hidden unit, and
    its share of saturated values."""
    layers = []
    for k, gates in enumerate(trace):
        summary = {}
        for name, values in gates.items():  # (N, L, H)
            values = np.asarray(values, dtype=np.float64)
            summary[name] = {
                "mean": float(values.mean()),
                "std": float(values.std()),
                "mean_per_step": values.mean(axis=(0, 2)).tolist(),
                "std_per_step": values.std(axis=(0, 2)).tolist(),
                "mean_per_unit": values.mean(axis=(0, 1)).tolist(),
                "std_per_unit": values.std(axis=(0, 1)).tolist(),
                "saturated": saturated_share(name, values, backbone),
            }
        layers.append({"layer": k + 1, "gates": summary})  # counted from 1, as people do
    return layers


def saturated_share(name: str, values: np.ndarray, backbone: str) -> float | None:
    """Share of values at a sigmoid's ends, at tanh's ends, or (the cell state, unbounded) near its largest size."""
    if name in SIGMOID_GATES:
        return float(((values < SATURATION) | (values > 1 - SATURATION)).mean())
    if name == "cell":
        largest = np.abs(values).max() if values.size else 0.0
        return float((np.abs(values) > (1 - SATURATION) * largest).mean()) if largest > 0 else 0.0
    if name in TANH_VALUES:
        return float((np.abs(values) > 1 - SATURATION).mean())
    return None


# ---- memory ----------------------------------------------------------------------------------


def input_sensitivity(network, inputs):
    """|d sum(forecast) / d input| of every window, step and input channel, a tensor (N, L, I) (with
    future covariates (N, L + H, I), the horizon's rows last)."""
    import torch

    was_training = network.training
    network.eval()  # no dropout between layers: the forecast users get
    try:
        with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False):  # cuDNN's RNN backward needs train mode
            x = torch.as_tensor(inputs).to(network.head.weight.device).detach().requires_grad_(True)
            (gradient,) = torch.autograd.grad(network(x, stock=True).sum(), x)  # (N, L, I)
    finally:
        network.train(was_training)
    return gradient.abs()


def memory_profile(network, inputs, sensitivity=None) -> np.ndarray:
    """(L,) each past step's share of the forecast's sensitivity, oldest first: |d sum(forecast) / d input|
    summed over input channels, averaged over windows, normalised to sum to one (zeros if all zero)."""
    sensitivity = input_sensitivity(network, inputs) if sensitivity is None else sensitivity
    profile = sensitivity[:, :network.config.lookback].sum(dim=2).mean(dim=0).double().cpu().numpy()  # (L,)
    return normalised(profile)


def normalised(values: np.ndarray) -> np.ndarray:
    total = values.sum()
    return values / total if total > 0 and np.isfinite(total) else np.zeros_like(values)


def channel_groups(network, targets, cycles, covariates) -> list[tuple[str, int]]:
    """(name, input channels) of each input in the order the network reads them: each target's lags,
    the calendar, each covariate (one channel, or one per level), then the mask."""
    config = network.config
    groups = [(name, 1) for name in targets] + ([("calendar", config.n_calendar)] if config.n_calendar else [])
    if covariates is not None:
        from tsgate.covariates import dynamic_columns

        ordered = dynamic_columns(covariates.columns) + tuple(c for c in covariates.columns if c.role == "static")
        groups += [(c.name, c.width) for c in ordered]
    return groups + ([("mask", 1)] if config.masked else [])


def channel_shares(sensitivity: np.ndarray, groups: list[tuple[str, int]]) -> dict[str, float]:
    """{input: its share of the forecast's dependence}: the per-channel analogue of the memory profile,
    the sensitivity summed over windows and steps (the horizon's rows too) and over each input's
    channels, normalised to sum to one; the mask (padding) is not an input of the data."""
    per_channel = sensitivity.double().sum(dim=(0, 1)).cpu().numpy()  # (I,)
    edges = np.cumsum([0] + [width for _, width in groups])
    totals = np.array([per_channel[a:b].sum() for a, b in zip(edges[:-1], edges[1:])])
    keep = [k for k, (name, _) in enumerate(groups) if name != "mask"]
    shares = normalised(totals[keep])
    return {groups[k][0]: float(share) for k, share in zip(keep, shares)}


def effective_memory(profile: np.ndarray, share: float = MEMORY_SHARE) -> int:
    """The fewest most recent steps that carry `share` of the profile (1..L; L when it is all zero)."""
    profile = np.asarray(profile, dtype=np.float64)
    total = profile.sum()
    if len(profile) == 0 or not total > 0:
        return len(profile)
    from_the_end = np.cumsum(profile[::-1])
    # A relative tolerance: a uniform profile of ten steps reaches 0.9 at nine, not at 0.8999999999999999.
    steps = int(np.searchsorted(from_the_end, share * total * (1 - 1e-9))) + 1
    return min(max(steps, 1), len(profile))


# ---- the report ------------------------------------------------------------------------------


def inspect_forecaster(forecaster, series=None, max_windows: int = 512) -> dict:
    """The gates and memory of member 0 on the forecaster's data (or on `series`), as JSON-able data."""
    network = forecaster.first_network()
    inputs = forecaster.first_network_inputs(series, max_windows)
    backbone = network.config.backbone
    layers = gate_summary(trace_gates(network, inputs), backbone)
    sensitivity = input_sensitivity(network, inputs)
    profile = memory_profile(network, inputs, sensitivity)
    effective = effective_memory(profile, MEMORY_SHARE)
    report = {
        "backbone": backbone,
        "lookback": network.config.lookback,
        "windows": len(inputs),
        "layers": layers,
        "memory": {"profile": profile.tolist(), "effective": effective, "share": MEMORY_SHARE},
    }
    if forecaster.covariates_ is not None:  # only then, so that other reports keep their layout
        groups = channel_groups(network, forecaster.targets_, forecaster.cycles_, forecaster.covariates_)
        report["channels"] = channel_shares(sensitivity, groups)
    return report
