"""The fast recurrent training path must equal stock nn.RNN / nn.GRU / nn.LSTM:
same forward values, same gradients, same state_dict, on every path."""

import os
import shutil
import subprocess
import sys

import pytest
import torch

from tsgate import kernels
from tsgate.errors import OptionError

CELLS = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}
TOL = dict(rtol=1e-4, atol=1e-5)
# (B, L, I, H): I = 1 and small I take the C++ per-step input projection,
# I = 12 the all-steps matmul; L = 1 has no recurrent weight gradient.
SIZES = [(4, 6, 1, 8), (5, 9, 3, 16), (3, 1, 2, 5), (64, 24, 12, 33)]


@pytest.fixture(scope="module")
def cpp_built():
    """Skip where no toolchain exists; where one does, a failed build is a bug."""
    from torch.utils.cpp_extension import is_ninja_available

    if kernels._cpp_loops() is None:
        if shutil.which(os.environ.get("CXX", "c++")) is None or not is_ninja_available():
            pytest.skip("no C++ compiler or no ninja here")
        pytest.fail(f"C++ extension failed to build: {kernels._cpp_cache['error']}")


@pytest.fixture
def use_path(monkeypatch, request):
    """Force TSGATE_KERNEL to the path named by the test's `path` parameter."""

    def force(path):
        if path == "cpp":
            request.getfixturevalue("cpp_built")
        monkeypatch.setenv("TSGATE_KERNEL", path)

    return force


def make(cell, size, num_layers=1, seed=0, **kwargs):
    B, L, I, H = size
    torch.manual_seed(seed)
    rnn = CELLS[cell](I, H, num_layers=num_layers, batch_first=True, **kwargs)
    x = torch.randn(B, L, I, requires_grad=True)
    return rnn, x


def value_and_grads(fn, rnn, x, weight):
    """fn(rnn, x) and the gradients of <fn(rnn, x), weight> wrt x and rnn's parameters."""
    out = fn(rnn, x)
    grads = torch.autograd.grad((out * weight).sum(), [x, *rnn.parameters()])
    return out, grads


def stock(rnn, x):
    return rnn(x)[0][:, -1]


def assert_matches_stock(rnn, x, **tol):
    weight = torch.randn(x.shape[0], rnn.hidden_size, dtype=x.dtype)
    want, want_grads = value_and_grads(stock, rnn, x, weight)
    got, got_grads = value_and_grads(kernels.recurrent_last_state, rnn, x, weight)
    torch.testing.assert_close(got, want, **(tol or TOL))
    names = ["x"] + [name for name, _ in rnn.named_parameters()]
    for name, g, w in zip(names, got_grads, want_grads):
        torch.testing.assert_close(g, w, **(tol or TOL), msg=lambda m, n=name: f"{n}: {m}")


@pytest.mark.parametrize("path", ["python", "cpp"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell", list(CELLS))
def test_values_and_gradients_equal_stock(use_path, path, cell, num_layers):
    use_path(path)
    for size in SIZES:
        rnn, x = make(cell, size, num_layers)
        assert kernels.fast_path_name(rnn) == f"tsgate-{path}"
        assert_matches_stock(rnn, x)


@pytest.mark.parametrize("path", ["python", "cpp"])
def test_three_layers_without_bias_in_float64(use_path, path):
    use_path(path)
    for cell in CELLS:
        rnn, x = make(cell, (6, 7, 2, 9), num_layers=3, bias=False)
        rnn, x = rnn.double(), x.detach().double().requires_grad_()
        assert_matches_stock(rnn, x, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("path", ["python", "cpp"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_gradcheck_of_one_layer(use_path, path, cell):
    use_path(path)
    loops = kernels._cpp_loops() if path == "cpp" else kernels._PythonLoops
    torch.manual_seed(0)
    H, G = 3, {"rnn": 1, "gru": 3, "lstm": 4}[cell]
    for L, B, I in [(4, 2, 2), (2, 3, 10)]:  # stepwise and all-steps input projection
        tensors = [torch.randn(L, B, I), torch.randn(G * H, I), torch.randn(G * H, H)]
        tensors += [torch.randn(G * H), torch.randn(G * H)]
        tensors = [t.double().requires_grad_() for t in tensors]
        for last_only in (True, False):

            def layer(*args, last_only=last_only):
                return kernels._Layer.apply(*args, cell, loops, last_only)

            assert torch.autograd.gradcheck(layer, tensors)


@pytest.mark.parametrize("path", ["python", "cpp"])
def test_dropout_between_layers_acts_like_stock(use_path, path):
    """With dropout the masks differ from stock's, so compare against stock
    layers run one at a time with the same mask, drawn from the same seed."""
    use_path(path)
    rnn, x = make("gru", (5, 8, 2, 7), num_layers=2, dropout=0.5)
    rnn.train()
    torch.manual_seed(123)
    got = kernels.recurrent_last_state(rnn, x)

    lower, upper = torch.nn.GRU(2, 7, batch_first=True), torch.nn.GRU(7, 7, batch_first=True)
    for k, layer in enumerate([lower, upper]):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(layer, f"{name}_l0").data.copy_(getattr(rnn, f"{name}_l{k}"))
    torch.manual_seed(123)
    seq = lower(x)[0].transpose(0, 1).contiguous()  # (L, B, H): the mask's layout
    seq = torch.nn.functional.dropout(seq, 0.5, training=True).transpose(0, 1)
    want = upper(seq)[0][:, -1]
    torch.testing.assert_close(got, want, **TOL)

    got.sum().backward()
    want.sum().backward()
    for k, layer in enumerate([lower, upper]):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            ours = getattr(rnn, f"{name}_l{k}").grad
            torch.testing.assert_close(ours, getattr(layer, f"{name}_l0").grad, **TOL)


def test_state_dict_loads_into_stock_module(use_path):
    use_path("cpp")
    rnn, x = make("gru", (8, 10, 1, 16), num_layers=2)
    opt = torch.optim.Adam(rnn.parameters(), lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        kernels.recurrent_last_state(rnn, x).pow(2).mean().backward()
        opt.step()

    fresh = torch.nn.GRU(1, 16, num_layers=2, batch_first=True)
    fresh.load_state_dict(rnn.state_dict())
    assert list(fresh.state_dict()) == list(rnn.state_dict())
    with torch.no_grad():
        assert torch.equal(fresh(x)[0][:, -1], rnn(x)[0][:, -1])
        torch.testing.assert_close(kernels.recurrent_last_state(fresh, x), stock(rnn, x))


@pytest.mark.parametrize("cell", list(CELLS))
def test_stock_path_equals_stock_exactly(monkeypatch, cell):
    monkeypatch.setenv("TSGATE_KERNEL", "stock")
    rnn, x = make(cell, (4, 6, 2, 8), num_layers=2)
    assert kernels.fast_path_name(rnn) == "stock"
    weight = torch.randn(4, 8)
    want, want_grads = value_and_grads(stock, rnn, x, weight)
    got, got_grads = value_and_grads(kernels.recurrent_last_state, rnn, x, weight)
    assert torch.equal(got, want)
    assert all(torch.equal(g, w) for g, w in zip(got_grads, want_grads))


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(bidirectional=True),
        dict(batch_first=False),
        dict(nonlinearity="relu"),
        dict(proj_size=3),
        dict(dtype=torch.bfloat16),
    ],
)
def test_unsupported_modules_run_stock(monkeypatch, kwargs):
    monkeypatch.delenv("TSGATE_KERNEL", raising=False)
    cls = torch.nn.LSTM if "proj_size" in kwargs else torch.nn.RNN
    options = dict(batch_first=True) | kwargs
    rnn = cls(2, 8, **options)
    x = torch.randn(4, 6, 2, dtype=kwargs.get("dtype", torch.float32))
    assert kernels.fast_path_name(rnn) == "stock"
    assert torch.equal(kernels.recurrent_last_state(rnn, x), rnn(x)[0][:, -1])


@pytest.mark.parametrize("cell, batch, expected", [("rnn", 64, "cpp"), ("gru", 64, "cpp"), ("lstm", 64, "stock"),
                                                   ("gru", 4, "stock")])
def test_inference_takes_the_fast_path_only_where_it_is_faster(monkeypatch, use_path, cell, batch, expected):
    use_path("cpp")
    rnn, x = make(cell, (batch, 6, 1, 8))
    taken = []
    original = kernels._stacked_last_state
    monkeypatch.setattr(kernels, "_stacked_last_state", lambda *a: taken.append("cpp") or original(*a))
    with torch.inference_mode():
        out = kernels.recurrent_last_state(rnn, x)
    assert (taken[:1] or ["stock"])[0] == expected
    torch.testing.assert_close(out, stock(rnn, x), rtol=1e-5, atol=1e-6)


def test_unknown_kernel_name_is_an_option_error(monkeypatch):
    monkeypatch.setenv("TSGATE_KERNEL", "fortran")
    with pytest.raises(OptionError, match="TSGATE_KERNEL='fortran' is not one of"):
        kernels.fast_path_name(torch.nn.GRU(1, 4, batch_first=True))


def test_failed_build_falls_back_silently(monkeypatch, tmp_path, capfd):
    broken = tmp_path / "broken.cpp"
    broken.write_text("#error this extension does not compile\n")
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "build"))
    ops, reason = kernels._build_cpp(broken)
    assert ops is None and reason
    assert capfd.readouterr() == ("", "")

    monkeypatch.setattr(kernels, "_cpp_cache", {"ops": None, "error": reason})
    rnn, x = make("gru", (4, 6, 1, 8))
    monkeypatch.setenv("TSGATE_KERNEL", "cpp")
    assert kernels.fast_path_name(rnn) == "tsgate-python"
    assert_matches_stock(rnn, x)
    monkeypatch.delenv("TSGATE_KERNEL")
    assert kernels.fast_path_name(rnn) == "stock"  # python GRU is not faster than stock
    assert kernels.fast_path_name(torch.nn.RNN(1, 4, batch_first=True)) == "tsgate-python"


def test_importing_tsgate_does_not_import_kernels():
    code = "import sys, tsgate; assert 'tsgate.kernels' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("path", ["python", "cpp"])
def test_two_forwards_before_one_backward(use_path, path):
    """Nothing is shared between calls: each forward keeps its own buffers."""
    use_path(path)
    rnn, x = make("gru", (4, 6, 1, 8), num_layers=2)
    x2 = torch.randn_like(x)

    def both(rnn, x):
        return fn(rnn, x) + 2 * fn(rnn, x2)

    fn = stock
    weight = torch.randn(4, 8)
    want, want_grads = value_and_grads(both, rnn, x, weight)
    fn = kernels.recurrent_last_state
    got, got_grads = value_and_grads(both, rnn, x, weight)
    torch.testing.assert_close(got, want, **TOL)
    for g, w in zip(got_grads, want_grads):
        torch.testing.assert_close(g, w, **TOL)


def test_frozen_weights_still_give_input_gradients(use_path):
    use_path("cpp")
    rnn, x = make("lstm", (4, 6, 3, 8))
    rnn.requires_grad_(False)
    got = torch.autograd.grad(kernels.recurrent_last_state(rnn, x).sum(), x)[0]
    want = torch.autograd.grad(stock(rnn, x).sum(), x)[0]
    torch.testing.assert_close(got, want, **TOL)


def test_a_lock_left_by_a_killed_build_blocks_nothing(tmp_path):
    """torch's builder waits for its lock file without a time limit; a build killed while holding it
    (Ctrl-C during the first run) must not make later runs wait forever."""
    import os
    import subprocess
    import sys
    import time

    from tsgate import kernels

    if kernels._cpp_loops() is None:
        pytest.skip(f"no C++ kernel here: {kernels._cpp_cache.get('error')}")
    lock = kernels._build_folder(kernels._extension_name(kernels._SOURCE)) / "lock"
    lock.touch()
    try:
        code = "from tsgate import kernels; assert kernels._cpp_loops() is not None, kernels._cpp_cache['error']"
        subprocess.run([sys.executable, "-c", code], check=True, timeout=60, cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))})
    finally:
        lock.unlink(missing_ok=True)
    old = tmp_path / "lock"
    old.touch()
    os.utime(old, (time.time() - kernels.STALE_LOCK_SECONDS - 60,) * 2)
    fresh = tmp_path / "fresh"
    fresh.touch()
    kernels._remove_stale_lock(old)
    kernels._remove_stale_lock(fresh)
    kernels._remove_stale_lock(tmp_path / "absent")
    assert not old.exists() and fresh.exists()  # a lock being held by a live build stays


def test_the_cpu_signature_reads_any_bytes_whatever_the_locale(tmp_path, monkeypatch):
    """/proc/cpuinfo is read as UTF-8 with replacement: a byte the locale's codec refuses changes one
    character of the build key, it does not stop the kernel from loading."""
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_bytes(b"model name\t: Caf\xe9 CPU\nflags\t\t: fpu sse\nother\t: x\n")
    real_open = open
    monkeypatch.setattr(kernels, "open", lambda path, *args, **kwargs: real_open(cpuinfo, *args, **kwargs), raising=False)
    assert kernels._cpu_signature() == "model name\t: Caf\ufffd CPU\nflags\t\t: fpu sse\n"
