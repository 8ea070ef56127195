"""A faster training path for the recurrent backbones on CPU.

Why this exists (the project writes by hand only what no dependency does
well): on CPU, stock nn.GRU and nn.RNN train at 20-30% of the peak of a
matmul of the same shape, because each time step runs a dozen separate
elementwise ops, each a pass over memory. Here one autograd Function per
layer does backpropagation through time explicitly:

- the input projection x @ W_ih^T is not a per-step op of its own: one
  matmul for all steps, or for small input sizes part of the fused step;
- each step is one matmul plus one fused loop over the gate math;
- the weight gradients are each one large matmul over all steps (after the
  loop), not one small matmul per step.

The step loops exist twice, with the same interface: in C++
(tsgate/csrc/recurrent.cpp, JIT-compiled at first use in about 10 s and
cached in ~/.cache/torch_extensions or $TORCH_EXTENSIONS_DIR), and in plain
torch ops as a fallback when no compiler works. The parameters stay in the
stock module, so state_dicts are exactly stock's.

TSGATE_KERNEL=stock|python|cpp forces a path (default: the fastest available).
"""

import hashlib
import os
import platform
import sys
import threading
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from tsgate.errors import OptionError

PATHS = ("stock", "python", "cpp")
_NAMES = {"stock": "stock", "python": "tsgate-python", "cpp": "tsgate-cpp"}
_CELLS = {"RNN_TANH": "rnn", "GRU": "gru", "LSTM": "lstm"}

# Default path per cell, from training benchmarks on the project's 2-core CPU
# (one thread; hidden 32-128, lookback 48-168, batch 32-512: cpp was fastest
# in every case). At hidden 64, lookback 48, batch 128, windows/s stock -> cpp:
# RNN 20k -> 44k, GRU 7.4k -> 16k, LSTM (stock is oneDNN's) 10.0k -> 12.1k.
_DEFAULT = {"rnn": "cpp", "gru": "cpp", "lstm": "cpp"}
# Forward passes without gradients (validation, forecasts) take the fast path only where it
# measured faster than stock: 6,000 windows in chunks of 256 took RNN 0.06 s (stock 0.07),
# GRU 0.12 s (stock 0.22); LSTM 0.16 s, slower than oneDNN's stock inference (0.14).
_FAST_INFERENCE = {"rnn", "gru"}
# ... and only for batches of at least this many windows: a forecast of a few series gains
# nothing worth loading the C++ extension for (0.14 s in a fresh `tsgate forecast` process).
FAST_INFERENCE_BATCH = 64
# When the C++ build fails: the plain-torch loops only where they beat stock
# (RNN 25k; GRU 6.8k and LSTM 6.0k are slower than stock).
_DEFAULT_WITHOUT_CPP = {"rnn": "python", "gru": "stock", "lstm": "stock"}


def recurrent_last_state(rnn: torch.nn.RNNBase, x: torch.Tensor, stock: bool = False) -> torch.Tensor:
    """Top layer's output at the last time step: equals rnn(x)[0][:, -1] for a batch_first,
    unidirectional nn.RNN(tanh)/nn.GRU/nn.LSTM with zero initial state, gradients flowing to
    rnn's own parameters (weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}).
    `stock` takes rnn(x) itself whatever the fastest path is."""
    # x: (B, L, I) -> (B, H)
    path = "stock" if stock else _path_for_call(rnn, x)
    if path == "stock":
        return rnn(x)[0][:, -1]
    loops = _cpp_loops() if path == "cpp" else _PythonLoops
    return _stacked_last_state(rnn, x, loops)


def fast_path_name(rnn) -> str:
    """The path recurrent_last_state takes to train this module on its device:
    "tsgate-cpp", "tsgate-python" or "stock" (passes without gradients take it for RNN and GRU only).
    May build the C++ extension, as the first training step would."""
    return _NAMES[_module_path(rnn)]


# ---------------------------------------------------------------------------
# Choosing a path


def _requested_path():
    value = os.environ.get("TSGATE_KERNEL", "").strip().lower()
    if value and value not in PATHS:
        raise OptionError(
            f"TSGATE_KERNEL={value!r} is not one of {', '.join(PATHS)}; "
            "unset it to use the fastest available path"
        )
    return value or None


def _supported(rnn) -> bool:
    """Whether the module is a case the custom Function reproduces exactly."""
    if not isinstance(rnn, torch.nn.RNNBase) or rnn.mode not in _CELLS:
        return False
    if rnn.bidirectional or getattr(rnn, "proj_size", 0) or not rnn.batch_first:
        return False
    params = list(rnn.parameters())
    if not params:
        return False
    dtype = params[0].dtype
    # cuDNN is better than anything here on GPU, so other devices stay stock.
    return dtype in (torch.float32, torch.float64) and all(
        p.device.type == "cpu" and p.dtype == dtype for p in params
    )


def _module_path(rnn) -> str:
    requested = _requested_path()
    if requested == "stock" or not _supported(rnn):
        return "stock"
    cell = _CELLS[rnn.mode]
    if requested is None:
        requested = _DEFAULT[cell]
        if requested == "cpp" and _cpp_loops() is None:
            requested = _DEFAULT_WITHOUT_CPP[cell]
    elif requested == "cpp" and _cpp_loops() is None:
        requested = "python"  # forced but unbuildable: never crash over speed
    return requested


def _path_for_call(rnn, x) -> str:
    params = list(rnn.parameters())
    needs_grad = torch.is_grad_enabled() and (
        x.requires_grad or any(p.requires_grad for p in params)
    )
    fits = (
        (needs_grad or (_CELLS.get(rnn.mode) in _FAST_INFERENCE and x.shape[0] >= FAST_INFERENCE_BATCH))
        and x.dim() == 3
        and x.device.type == "cpu"
        and bool(params)
        and x.dtype == params[0].dtype
        and x.shape[0] > 0
        and x.shape[1] > 0
        and x.shape[2] == rnn.input_size
        and not torch.is_autocast_enabled("cpu")
    )
    return _module_path(rnn) if fits else "stock"


# ---------------------------------------------------------------------------
# The C++ step loops: built once per process, cached on disk across processes


_SOURCE = Path(__file__).with_name("csrc") / "recurrent.cpp"
_cpp_lock = threading.Lock()
# "ops": the torch.ops namespace, or None when the build failed; "error": why
# (for tests and debugging, since library code never prints).
_cpp_cache = {}


def _cpp_loops():
    with _cpp_lock:
        if "ops" not in _cpp_cache:
            _cpp_cache["ops"], _cpp_cache["error"] = _build_cpp(_SOURCE)
        return _cpp_cache["ops"]


def _compile_flags():
    flags = ["-O3", "-fno-math-errno", "-fno-trapping-math"]
    # The fused loops are only fast vectorized; native x86 targets get AVX2 or
    # AVX-512. The build cache key includes the CPU, so a shared home
    # directory never hands one machine another's instructions.
    if platform.machine().lower() in ("x86_64", "amd64"):
        flags.append("-march=native")
    return flags


def _cpu_signature() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:  # not the locale's codec: any byte reads
            lines = [ln for ln in f if ln.startswith(("model name", "flags"))]
        return "".join(lines[:2])
    except OSError:
        return platform.processor()


# torch's builder guards its build folder with a lock file and waits for it without a time limit;
# a process killed while holding it (Ctrl-C during the first build) would make every later run
# wait forever. A lock older than this is taken to be such a leftover. A build takes ~10-60 s.
STALE_LOCK_SECONDS = 300


def _build_cpp(source):
    """Load the extension, built once and cached on disk: (ops, None), or (None, reason) when
    that is impossible here; never raises, never prints.

    A library built before is loaded directly (torch.ops.load_library), without torch's builder:
    that skips its lock, its ninja run and the import of setuptools (about 0.4 s per process)."""
    if sys.platform == "win32":  # the source uses GCC/Clang attributes
        return None, "not supported on Windows"
    try:
        name, flags = _extension_name(source), _compile_flags()
        folder = _build_folder(name)
        library = folder / f"{name}.so"
        if library.is_file():
            try:
                torch.ops.load_library(str(library))
                return torch.ops.tsgate_recurrent_v1, None
            except (OSError, RuntimeError):
                pass  # a broken leftover: the builder below makes it again
        _remove_stale_lock(folder / "lock")
        from torch.utils.cpp_extension import load

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load(name=name, sources=[str(source)], extra_cflags=flags, is_python_module=False, verbose=False)
        return torch.ops.tsgate_recurrent_v1, None
    except Exception as exc:  # compiler missing or failing, cache unwritable
        return None, f"{type(exc).__name__}: {exc}"


def _extension_name(source) -> str:
    """The build's name: a hash of the source, flags, torch version and CPU, so any change rebuilds."""
    key = source.read_bytes() + repr((_compile_flags(), torch.__version__)).encode() + _cpu_signature().encode()
    return "tsgate_recurrent_" + hashlib.sha256(key).hexdigest()[:12]


def _build_folder(name: str) -> Path:
    """Where torch.utils.cpp_extension builds extension `name` (TORCH_EXTENSIONS_DIR, else its cache)."""
    from torch.utils.cpp_extension import _get_build_directory

    return Path(_get_build_directory(name, verbose=False))


def _remove_stale_lock(lock: Path) -> None:
    try:
        if time.time() - lock.stat().st_mtime > STALE_LOCK_SECONDS:
            lock.unlink()
    except FileNotFoundError:
        pass


# ---------------------------------------------------------------------------
# The same step loops in plain torch ops (fallback, and a reference for tests).
# Shapes and return values match recurrent.cpp's; see its header comment.


def _all_steps_projection(x, w_ih, bias):
    # x: (L, B, I) -> (L, B, G*H)
    L, B, I = x.shape
    return torch.addmm(bias, x.view(L * B, I), w_ih.t()).view(L, B, -1)


class _PythonLoops:
    @staticmethod
    def rnn_forward(x, w_ih, bias, w_hh):
        gi = _all_steps_projection(x, w_ih, bias)  # (L, B, H)
        L, B, H = gi.shape
        hs = gi.new_zeros(L + 1, B, H)  # (L+1, B, H), hs[0] = h0 = 0
        torch.tanh(gi[0], out=hs[1])
        for t in range(1, L):
            torch.tanh(torch.addmm(gi[t], hs[t], w_hh.t()), out=hs[t + 1])
        return hs

    @staticmethod
    def rnn_backward(grad, hs, w_hh):
        L = hs.shape[0] - 1
        d = torch.empty_like(hs[1:])  # (L, B, H)
        dh = _initial_dh(grad, hs)
        for t in reversed(range(L)):
            if grad.dim() == 3:
                dh += grad[t]
            torch.mul(dh, 1 - hs[t + 1] ** 2, out=d[t])
            if t:
                torch.mm(d[t], w_hh, out=dh)
        return d, d.sum((0, 1))

    @staticmethod
    def gru_forward(x, w_ih, bias, w_hh, b_hn):
        gi = _all_steps_projection(x, w_ih, bias)  # (L, B, 3H)
        L, B, H3 = gi.shape
        H = H3 // 3
        hs = gi.new_zeros(L + 1, B, H)  # (L+1, B, H)
        saved = gi.new_empty(L, B, 4 * H)  # (L, B, 4H): r, z, n, gh_n + b_hn
        gh = gi.new_zeros(B, 3 * H)
        for t in range(L):
            if t:
                torch.mm(hs[t], w_hh.t(), out=gh)
            r, z, n, hn = saved[t].split(H, dim=1)
            torch.sigmoid(gi[t, :, : 2 * H] + gh[:, : 2 * H], out=saved[t, :, : 2 * H])
            torch.add(gh[:, 2 * H :], b_hn, out=hn)
            torch.tanh(torch.addcmul(gi[t, :, 2 * H :], r, hn), out=n)
            torch.addcmul(n, z, hs[t] - n, out=hs[t + 1])
        return hs, saved

    @staticmethod
    def gru_backward(grad, hs, saved, w_hh):
        L, B, H = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        d = hs.new_empty(L, B, 3 * H)  # (L, B, 3H)
        dn = hs.new_empty(L, B, H)  # (L, B, H)
        dh = _initial_dh(grad, hs)
        for t in reversed(range(L)):
            if grad.dim() == 3:
                dh += grad[t]
            r, z, n, hn = saved[t].split(H, dim=1)
            torch.mul(dh * (1 - z), 1 - n * n, out=dn[t])
            torch.mul(dn[t] * hn, r * (1 - r), out=d[t, :, :H])
            torch.mul(dh * (hs[t] - n), z * (1 - z), out=d[t, :, H : 2 * H])
            torch.mul(dn[t], r, out=d[t, :, 2 * H :])
            dh = dh * z
            if t:
                dh.addmm_(d[t], w_hh)
        return d, dn, d.sum((0, 1)), dn.sum((0, 1))

    @staticmethod
    def lstm_forward(x, w_ih, bias, w_hh):
        gi = _all_steps_projection(x, w_ih, bias)  # (L, B, 4H)
        L, B, H4 = gi.shape
        H = H4 // 4
        hs = gi.new_zeros(L + 1, B, H)  # (L+1, B, H)
        cs = gi.new_zeros(L + 1, B, H)  # (L+1, B, H)
        saved = gi.new_empty(L, B, 5 * H)  # (L, B, 5H): i, f, g, o, tanh(c)
        for t in range(L):
            pre = gi[t] if t == 0 else torch.addmm(gi[t], hs[t], w_hh.t())  # (B, 4H)
            i, f, g, o, tc = saved[t].split(H, dim=1)
            torch.sigmoid(pre[:, : 2 * H], out=saved[t, :, : 2 * H])
            torch.tanh(pre[:, 2 * H : 3 * H], out=g)
            torch.sigmoid(pre[:, 3 * H :], out=o)
            torch.addcmul(f * cs[t], i, g, out=cs[t + 1])
            torch.tanh(cs[t + 1], out=tc)
            torch.mul(o, tc, out=hs[t + 1])
        return hs, cs, saved

    @staticmethod
    def lstm_backward(grad, hs, cs, saved, w_hh):
        L, B, H = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        d = hs.new_empty(L, B, 4 * H)  # (L, B, 4H)
        dh = _initial_dh(grad, hs)
        dc = torch.zeros_like(hs[0])
        for t in reversed(range(L)):
            if grad.dim() == 3:
                dh += grad[t]
            i, f, g, o, tc = saved[t].split(H, dim=1)
            dc = dc + dh * o * (1 - tc * tc)
            torch.mul(dc * g, i * (1 - i), out=d[t, :, :H])
            torch.mul(dc * cs[t], f * (1 - f), out=d[t, :, H : 2 * H])
            torch.mul(dc * i, 1 - g * g, out=d[t, :, 2 * H : 3 * H])
            torch.mul(dh * tc, o * (1 - o), out=d[t, :, 3 * H :])
            dc = dc * f
            if t:
                dh = d[t] @ w_hh
        return d, d.sum((0, 1))


def _initial_dh(grad, hs):
    """Gradient for the last hidden state before any step: the last-step
    gradient, or zero when per-step gradients (B, L, H) arrive in the loop."""
    return torch.zeros_like(hs[0]) if grad.dim() == 3 else grad.clone()


# ---------------------------------------------------------------------------
# The autograd Function: one layer, explicit backpropagation through time


class _Layer(torch.autograd.Function):
    """One unidirectional layer with zero initial state, time-major.

    Returns the last hidden state (B, H) when last_only, else all hidden
    states (L, B, H) for the layer above. Double backward is not supported.
    """

    @staticmethod
    def forward(ctx, x, w_ih, w_hh, b_ih, b_hh, cell, loops, last_only):
        # x: (L, B, I)
        L, B, I = x.shape
        x, w_ih, w_hh = x.contiguous(), w_ih.contiguous(), w_hh.contiguous()
        bias, b_hn = _folded_biases(cell, b_ih, b_hh, w_hh)
        if cell == "rnn":
            hs, saved = loops.rnn_forward(x, w_ih, bias, w_hh), ()
        elif cell == "gru":
            hs, *saved = loops.gru_forward(x, w_ih, bias, w_hh, b_hn)
        else:
            hs, *saved = loops.lstm_forward(x, w_ih, bias, w_hh)
        ctx.save_for_backward(x.view(L * B, I), w_ih, w_hh, hs, *saved)
        ctx.cell, ctx.loops, ctx.has_bias = cell, loops, b_ih is not None
        return hs[L].clone() if last_only else hs[1:]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        # grad: (B, H) when last_only, else (L, B, H)
        x2, w_ih, w_hh, hs, *saved = ctx.saved_tensors
        L, B, H = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
        grad = grad.contiguous()
        dn = db_n = None
        if ctx.cell == "rnn":
            d, db_hh = ctx.loops.rnn_backward(grad, hs, w_hh)
        elif ctx.cell == "gru":
            d, dn, db_hh, db_n = ctx.loops.gru_backward(grad, hs, *saved, w_hh)
        else:
            d, db_hh = ctx.loops.lstm_backward(grad, hs, *saved, w_hh)
        d2 = d.view(L * B, -1)  # (L*B, G*H)
        dw_hh = None
        if ctx.needs_input_grad[2]:
            # Step 0 sees h0 = 0: it adds nothing to the recurrent weight grad. Written as the
            # transpose of (H, L*B) @ (L*B, G*H): the same numbers, 10-20% faster in MKL here.
            dw_hh = (hs[1:L].reshape(-1, H).t() @ d2[B:]).t()  # (G*H, H)
        dx, dw_ih, db_ih = _input_side_grads(ctx, d2, dn, db_hh, db_n, x2, w_ih, L, B, H)
        if not ctx.has_bias:
            db_ih = db_hh = None
        return dx, dw_ih, dw_hh, db_ih, db_hh, None, None, None


def _folded_biases(cell, b_ih, b_hh, w_hh):
    """The bias added to the input projection, and GRU's b_hn.

    GRU keeps b_hn apart because it sits inside r * (W_hn h + b_hn); every
    other bias of the hidden side can be added once, with the input side's.
    """
    GH, H = w_hh.shape
    if b_ih is None:
        zeros = w_hh.new_zeros(GH)
        return zeros, w_hh.new_zeros(H)
    if cell != "gru":
        return b_ih + b_hh, None
    bias = torch.cat([b_ih[: 2 * H] + b_hh[: 2 * H], b_ih[2 * H :]])
    return bias, b_hh[2 * H :].contiguous()


def _input_side_grads(ctx, d2, dn, db_hh, db_n, x2, w_ih, L, B, H):
    """Gradients of x, W_ih and b_ih from the per-step pre-activation grads.

    For RNN and LSTM the input side's pre-activation grads equal the hidden
    side's (d2). For GRU they differ in the n gate (dn, without the factor
    r), so the r,z rows and the n rows are two matmuls each.
    """
    # d2: (L*B, G*H), dn: (L, B, H) or None, x2: (L*B, I)
    I = x2.shape[1]
    need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    dx = dw_ih = None
    if dn is None:
        if need_x:
            dx = (d2 @ w_ih).view(L, B, I)
        if need_w:  # the transposed product: the same numbers, 2-2.5x faster for a few inputs
            dw_ih = (x2.t() @ d2).t()
        return dx, dw_ih, db_hh
    dn2 = dn.view(L * B, H)
    if need_x:
        dx = d2[:, : 2 * H] @ w_ih[: 2 * H]  # (L*B, I)
        dx = dx.addmm_(dn2, w_ih[2 * H :]).view(L, B, I)
    if need_w:
        x2t = x2.t()
        dw_ih = torch.cat([x2t @ d2[:, : 2 * H], x2t @ dn2], dim=1).t()  # (3H, I)
    return dx, dw_ih, torch.cat([db_hh[: 2 * H], db_n])


# ---------------------------------------------------------------------------
# Stacking layers


def _stacked_last_state(rnn, x, loops):
    # x: (B, L, I) -> (B, H)
    cell = _CELLS[rnn.mode]
    seq = x.transpose(0, 1)  # (L, B, I): time-major keeps each step contiguous
    for k in range(rnn.num_layers):
        top = k == rnn.num_layers - 1
        out = _Layer.apply(seq, *_layer_parameters(rnn, k), cell, loops, top)
        if top:
            return out  # (B, H)
        seq = out  # (L, B, H)
        if rnn.training and rnn.dropout > 0:
            seq = F.dropout(seq, rnn.dropout, training=True)


def _layer_parameters(rnn, k):
    """Layer k's (w_ih, w_hh, b_ih, b_hh), read from the module itself so the
    gradients land on its own parameters; biases are None without bias."""
    w_ih = getattr(rnn, f"weight_ih_l{k}")
    w_hh = getattr(rnn, f"weight_hh_l{k}")
    if not rnn.bias:
        return w_ih, w_hh, None, None
    return w_ih, w_hh, getattr(rnn, f"bias_ih_l{k}"), getattr(rnn, f"bias_hh_l{k}")
