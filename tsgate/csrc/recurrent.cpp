// Step loops of RNN(tanh), GRU and LSTM layers for training on CPU.
//
// Why this file exists: stock nn.GRU / nn.RNN train at 20-30% of matmul peak
// on CPU because every step runs a dozen separate elementwise ops, each one a
// full pass over (B, G*H) floats. Here each step is one matmul plus one fused
// loop that does all the gate math while the data is in L1/L2 cache. Only the
// time loops live in C++; the autograd Function, and the large matmuls over
// all steps (weight and input gradients), are in tsgate/kernels.py, which
// also has the same loops in plain torch ops. tests/test_kernels.py checks
// both against stock.
//
// Layouts (all contiguous, time-major):
//   x     (L, B, I)    layer input
//   gi    (B, G*H)     one step's input projection x_t @ W_ih^T + bias, where
//                      bias folds in every bias except GRU's b_hn
//   hs    (L+1, B, H)  hidden states, hs[0] = 0 (zero initial state)
//   cs    (L+1, B, H)  LSTM cell states, cs[0] = 0
//   saved (L, B, k*H)  activations kept for backward, per cell below
//   D     (L, B, G*H)  gradient wrt the pre-activations of h @ W_hh^T + b_hh
//
// Headers are per-operator so the one-time JIT build stays short.
#include <ATen/core/Tensor.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/addmm.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <tuple>
#include <utility>

using at::Tensor;

namespace {

// ---------------------------------------------------------------------------
// Activations. glibc's expf/tanhf are scalar calls, which would make the gate
// math cost more than the matmul; these are plain arithmetic so GCC vectorizes
// the loops that use them. Accuracy is a few float ulps (Cephes polynomials),
// far inside the rtol 1e-4 that the tests demand against stock.
// Float64 (used by gradcheck) keeps the exact libm functions.

inline float exp_approx(float x) {
  // Clamp so 2^n stays a normal float; comparisons keep NaN as NaN.
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;  // x - n*ln2, split
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

inline float sigmoid_(float x) { return 1.0f / (1.0f + exp_approx(-x)); }

inline float tanh_(float x) {
  // 1 - 2/(e^2x + 1) loses relative accuracy near 0, so small |x| uses
  // Cephes' odd polynomial instead; both are computed and one is selected,
  // which vectorizes as a blend.
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = p * z * x + x;
  const float large = 1.0f - 2.0f / (exp_approx(2.0f * x) + 1.0f);
  return z < 0.390625f ? small : large;  // |x| < 0.625
}

inline double sigmoid_(double x) { return 1.0 / (1.0 + std::exp(-x)); }
inline double tanh_(double x) { return std::tanh(x); }

// ---------------------------------------------------------------------------
// Per-step fused loops. One call handles one time step for the whole batch;
// `H` is the hidden size; pointers never alias each other. Kept out of line
// so that GCC honours their __restrict parameters: inlined into the drivers,
// some of them were not vectorized.
#define STEP_KERNEL __attribute__((noinline))

// RNN: h' = tanh(gi + gh) over the n = B*H elements of one step.
template <typename T>
STEP_KERNEL void rnn_step_forward(const T* __restrict gi, const T* __restrict gh,
                                  T* __restrict h, int64_t n) {
  for (int64_t k = 0; k < n; ++k) h[k] = tanh_(gi[k] + gh[k]);
}

// Adds the gradient arriving from the layer output at this step (g: a lower
// layer of a stack; null for the top layer) to dh. A separate short loop over
// one row, still in L1, because a conditional load inside the gate loop stops
// GCC vectorizing it.
template <typename T>
inline void add_row(T* __restrict dh_b, const T* __restrict g, int64_t b, int64_t H) {
  if (!g) return;
  for (int64_t j = 0; j < H; ++j) dh_b[j] += g[b * H + j];
}

// dh: gradient for h_t from step t+1 (the caller then replaces it by
// D[t] @ W_hh); writes D[t] = dh * (1 - h_t^2).
template <typename T>
STEP_KERNEL void rnn_step_backward(T* __restrict dh, const T* __restrict g,
                                   const T* __restrict h, T* __restrict d, int64_t B,
                                   int64_t H) {
  for (int64_t b = 0; b < B; ++b) {
    T* dh_b = dh + b * H;
    add_row(dh_b, g, b, H);
    const T* h_b = h + b * H;
    T* d_b = d + b * H;
    for (int64_t j = 0; j < H; ++j) {
      const T grad = dh_b[j];
      d_b[j] = grad * (T(1) - h_b[j] * h_b[j]);
    }
  }
}

// GRU, gate order r, z, n as in nn.GRU:
//   r = s(gi_r + gh_r), z = s(gi_z + gh_z), n = tanh(gi_n + r * (gh_n + b_hn))
//   h' = (1 - z) * n + z * h
// gi already holds b_ir + b_hr and b_iz + b_hz; b_hn must stay inside r * (.).
// saved row per batch element: [r | z | n | gh_n + b_hn] (4H).
template <typename T>
STEP_KERNEL void gru_step_forward(const T* __restrict gi, const T* __restrict gh,
                                  const T* __restrict b_hn, const T* __restrict h_prev,
                                  T* __restrict h, T* __restrict saved, int64_t B, int64_t H) {
  for (int64_t b = 0; b < B; ++b) {
    const T* gi_b = gi + b * 3 * H;
    const T* gh_b = gh + b * 3 * H;
    const T* hp_b = h_prev + b * H;
    T* h_b = h + b * H;
    T* s_b = saved + b * 4 * H;
    for (int64_t j = 0; j < H; ++j) {
      const T r = sigmoid_(gi_b[j] + gh_b[j]);
      const T z = sigmoid_(gi_b[H + j] + gh_b[H + j]);
      const T hn = gh_b[2 * H + j] + b_hn[j];
      const T n = tanh_(gi_b[2 * H + j] + r * hn);
      h_b[j] = n + z * (hp_b[j] - n);
      s_b[j] = r;
      s_b[H + j] = z;
      s_b[2 * H + j] = n;
      s_b[3 * H + j] = hn;
    }
  }
}

// Writes D[t] = d(pre-activations of h @ W_hh^T + b_hh) and dn = d(gi_n);
// the two differ only in the n part (r * dn versus dn). dh is replaced by the
// direct path z * dh; the caller adds D[t] @ W_hh to it.
template <typename T>
STEP_KERNEL void gru_step_backward(T* __restrict dh, const T* __restrict g,
                                   const T* __restrict h_prev, const T* __restrict saved,
                                   T* __restrict d, T* __restrict dn, int64_t B, int64_t H) {
  for (int64_t b = 0; b < B; ++b) {
    T* dh_b = dh + b * H;
    add_row(dh_b, g, b, H);
    const T* hp_b = h_prev + b * H;
    const T* s_b = saved + b * 4 * H;
    T* d_b = d + b * 3 * H;
    T* dn_b = dn + b * H;
    for (int64_t j = 0; j < H; ++j) {
      const T grad = dh_b[j];
      const T r = s_b[j], z = s_b[H + j], n = s_b[2 * H + j], hn = s_b[3 * H + j];
      const T dn_pre = grad * (T(1) - z) * (T(1) - n * n);
      const T dz_pre = grad * (hp_b[j] - n) * z * (T(1) - z);
      const T dr_pre = dn_pre * hn * r * (T(1) - r);
      d_b[j] = dr_pre;
      d_b[H + j] = dz_pre;
      d_b[2 * H + j] = dn_pre * r;
      dn_b[j] = dn_pre;
      dh_b[j] = grad * z;
    }
  }
}

// LSTM, gate order i, f, g, o as in nn.LSTM:
//   c' = f * c + i * g, h' = o * tanh(c')
// saved row per batch element: [i | f | g | o | tanh(c')] (5H).
template <typename T>
STEP_KERNEL void lstm_step_forward(const T* __restrict gi, const T* __restrict gh,
                                   const T* __restrict c_prev, T* __restrict c, T* __restrict h,
                                   T* __restrict saved, int64_t B, int64_t H) {
  for (int64_t b = 0; b < B; ++b) {
    const T* gi_b = gi + b * 4 * H;
    const T* gh_b = gh + b * 4 * H;
    const T* cp_b = c_prev + b * H;
    T* c_b = c + b * H;
    T* h_b = h + b * H;
    T* s_b = saved + b * 5 * H;
    for (int64_t j = 0; j < H; ++j) {
      const T i = sigmoid_(gi_b[j] + gh_b[j]);
      const T f = sigmoid_(gi_b[H + j] + gh_b[H + j]);
      const T gg = tanh_(gi_b[2 * H + j] + gh_b[2 * H + j]);
      const T o = sigmoid_(gi_b[3 * H + j] + gh_b[3 * H + j]);
      const T cn = f * cp_b[j] + i * gg;
      const T tc = tanh_(cn);
      c_b[j] = cn;
      h_b[j] = o * tc;
      s_b[j] = i;
      s_b[H + j] = f;
      s_b[2 * H + j] = gg;
      s_b[3 * H + j] = o;
      s_b[4 * H + j] = tc;
    }
  }
}

// dh: gradient for h_t (the caller then replaces it by D[t] @ W_hh),
// dc: gradient for c_t, replaced by the gradient for c_{t-1}.
template <typename T>
STEP_KERNEL void lstm_step_backward(T* __restrict dh, T* __restrict dc,
                                    const T* __restrict g, const T* __restrict c_prev,
                                    const T* __restrict saved, T* __restrict d, int64_t B,
                                    int64_t H) {
  for (int64_t b = 0; b < B; ++b) {
    T* dh_b = dh + b * H;
    add_row(dh_b, g, b, H);
    T* dc_b = dc + b * H;
    const T* cp_b = c_prev + b * H;
    const T* s_b = saved + b * 5 * H;
    T* d_b = d + b * 4 * H;
    for (int64_t j = 0; j < H; ++j) {
      const T grad = dh_b[j];
      const T i = s_b[j], f = s_b[H + j], gg = s_b[2 * H + j];
      const T o = s_b[3 * H + j], tc = s_b[4 * H + j];
      const T dcn = dc_b[j] + grad * o * (T(1) - tc * tc);
      const T di = dcn * gg * i * (T(1) - i);
      const T df = dcn * cp_b[j] * f * (T(1) - f);
      const T dg = dcn * i * (T(1) - gg * gg);
      const T dout = grad * tc * o * (T(1) - o);
      d_b[j] = di;
      d_b[H + j] = df;
      d_b[2 * H + j] = dg;
      d_b[3 * H + j] = dout;
      dc_b[j] = dcn * f;
    }
  }
}

// ---------------------------------------------------------------------------
// Helpers shared by the drivers.

template <typename T>
T* ptr(const Tensor& t, int64_t step, int64_t step_size) {
  return t.data_ptr<T>() + step * step_size;
}

// Bias gradients: the column sums of one step's (B, n) gradient rows, added
// to `total` while the rows are still in cache (a torch.sum over all steps
// at the end would be one more pass over memory). Summing per step first,
// then over steps, keeps float rounding close to torch.sum's.
template <typename T>
STEP_KERNEL void add_column_sums(const T* __restrict rows, T* __restrict part,
                                 T* __restrict total, int64_t B, int64_t n) {
  for (int64_t k = 0; k < n; ++k) part[k] = T(0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t k = 0; k < n; ++k) part[k] += rows[b * n + k];
  for (int64_t k = 0; k < n; ++k) total[k] += part[k];
}

// Kernels index raw memory, so shapes are checked here once per call.
void check_inputs(const Tensor& x, const Tensor& w_ih, const Tensor& bias, const Tensor& w_hh,
                  int64_t gates) {
  const int64_t H = w_hh.size(1);
  TORCH_CHECK(x.dim() == 3 && x.is_contiguous() && x.size(0) > 0,
              "x must be contiguous (L, B, I) with L > 0");
  TORCH_CHECK(w_hh.dim() == 2 && w_hh.is_contiguous() && w_hh.size(0) == gates * H,
              "w_hh must be contiguous (G*H, H)");
  TORCH_CHECK(w_ih.dim() == 2 && w_ih.size(0) == gates * H && w_ih.size(1) == x.size(2),
              "w_ih must be (G*H, I)");
  TORCH_CHECK(bias.dim() == 1 && bias.is_contiguous() && bias.size(0) == gates * H,
              "bias must be contiguous (G*H)");
  for (const Tensor* t : {&w_ih, &bias, &w_hh}) {
    TORCH_CHECK(t->scalar_type() == x.scalar_type(), "all tensors must share x's dtype");
    TORCH_CHECK(t->device().is_cpu(), "CPU tensors only");
  }
  TORCH_CHECK(x.device().is_cpu(), "CPU tensors only");
}

// Input sizes up to this are projected step by step, see InputProjection.
constexpr int64_t kStepwiseInputMax = 8;

// The input projection x_t @ W_ih^T + bias, one step at a time: (B, G*H) rows.
// For small I (a univariate series has I = 1) each step's rows are computed
// into one buffer that stays in cache: the all-steps (L, B, G*H) tensor is
// several MB, and writing it, reading it back and page-faulting it in every
// batch costs more than its arithmetic. Larger I: one large matmul up front.
template <typename T>
class InputProjection {
 public:
  InputProjection(const Tensor& x, const Tensor& w_ih, const Tensor& bias)
      : x_(x), B_(x.size(1)), I_(x.size(2)), GH_(w_ih.size(0)) {
    if (I_ <= kStepwiseInputMax) {
      w_t_ = w_ih.t().contiguous();  // (I, G*H)
      bias_ = bias;
      rows_ = at::empty({B_, GH_}, x.options());
    } else {
      const int64_t L = x.size(0);
      rows_ = at::addmm(bias, x.view({L * B_, I_}), w_ih.t()).view({L, B_, GH_});
    }
  }

  const T* step(int64_t t) {
    if (!w_t_.defined()) return rows_.data_ptr<T>() + t * B_ * GH_;
    project(x_.data_ptr<T>() + t * B_ * I_, w_t_.data_ptr<T>(), bias_.data_ptr<T>(),
            rows_.data_ptr<T>(), B_, I_, GH_);
    return rows_.data_ptr<T>();
  }

 private:
  static STEP_KERNEL void project(const T* __restrict x, const T* __restrict w_t,
                                  const T* __restrict bias, T* __restrict rows, int64_t B,
                                  int64_t I, int64_t GH) {
    for (int64_t b = 0; b < B; ++b) {
      T* row = rows + b * GH;
      for (int64_t k = 0; k < GH; ++k) row[k] = bias[k];
      for (int64_t i = 0; i < I; ++i) {
        const T xi = x[b * I + i];
        const T* w = w_t + i * GH;
        for (int64_t k = 0; k < GH; ++k) row[k] += xi * w[k];
      }
    }
  }

  Tensor x_, w_t_, bias_, rows_;
  int64_t B_, I_, GH_;
};

// The gradient arriving from above: (B, H) for the last step only, or
// (L, B, H) for every step (a lower layer of a stack).
bool is_sequence_grad(const Tensor& grad, int64_t L, int64_t B, int64_t H) {
  TORCH_CHECK(grad.is_contiguous(), "grad must be contiguous");
  if (grad.dim() == 3) {
    TORCH_CHECK(grad.size(0) == L && grad.size(1) == B && grad.size(2) == H, "bad grad shape");
    return true;
  }
  TORCH_CHECK(grad.dim() == 2 && grad.size(0) == B && grad.size(1) == H, "bad grad shape");
  return false;
}

// What forward saved, checked again because kernels index raw memory.
void check_saved(const Tensor& hs, const Tensor& w_hh, int64_t gates,
                 std::initializer_list<std::pair<const Tensor*, int64_t>> per_step) {
  TORCH_CHECK(hs.dim() == 3 && hs.is_contiguous() && hs.size(0) > 1, "hs must be (L+1, B, H)");
  const int64_t L = hs.size(0) - 1, B = hs.size(1), H = hs.size(2);
  TORCH_CHECK(w_hh.is_contiguous() && w_hh.dim() == 2 && w_hh.size(0) == gates * H &&
                  w_hh.size(1) == H && w_hh.scalar_type() == hs.scalar_type(),
              "w_hh must be contiguous (G*H, H) of hs's dtype");
  for (const auto& [t, width] : per_step) {
    TORCH_CHECK(t->is_contiguous() && t->dim() == 3 && t->size(0) == L && t->size(1) == B &&
                    t->size(2) == width * H && t->scalar_type() == hs.scalar_type(),
                "saved tensors do not match hs");
  }
}

// Gradient for h_{L-1} before any step: the last-step gradient, or zero when
// the per-step gradients are added inside the loop.
Tensor initial_dh(const Tensor& grad, bool seq, int64_t B, int64_t H) {
  return seq ? at::zeros({B, H}, grad.options()) : grad.clone();
}

// ---------------------------------------------------------------------------
// Drivers: the time loops. Each step is one matmul (at::mm_out into a reused
// per-call buffer) then one fused loop.

Tensor rnn_forward(const Tensor& x, const Tensor& w_ih, const Tensor& bias,
                   const Tensor& w_hh) {
  check_inputs(x, w_ih, bias, w_hh, 1);
  const int64_t L = x.size(0), B = x.size(1), H = w_hh.size(1), BH = B * H;
  Tensor hs = at::empty({L + 1, B, H}, x.options());
  hs[0].zero_();
  Tensor gh = at::zeros({B, H}, x.options());  // (B, H), zero for h0 = 0
  const Tensor w_t = w_hh.t();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "rnn_forward", [&] {
    InputProjection<scalar_t> gi(x, w_ih, bias);
    for (int64_t t = 0; t < L; ++t) {
      if (t > 0) at::mm_out(gh, hs[t], w_t);
      rnn_step_forward<scalar_t>(gi.step(t), gh.data_ptr<scalar_t>(),
                                 ptr<scalar_t>(hs, t + 1, BH), BH);
    }
  });
  return hs;
}

std::tuple<Tensor, Tensor> rnn_backward(const Tensor& grad, const Tensor& hs,
                                        const Tensor& w_hh) {
  check_saved(hs, w_hh, 1, {});
  const int64_t L = hs.size(0) - 1, B = hs.size(1), H = hs.size(2), BH = B * H;
  const bool seq = is_sequence_grad(grad, L, B, H);
  Tensor d = at::empty({L, B, H}, hs.options());
  Tensor db = at::zeros({H}, hs.options());
  Tensor part = at::empty({H}, hs.options());  // one step's column sums
  Tensor dh = initial_dh(grad, seq, B, H);  // (B, H)
  AT_DISPATCH_FLOATING_TYPES(hs.scalar_type(), "rnn_backward", [&] {
    for (int64_t t = L - 1; t >= 0; --t) {
      const scalar_t* g = seq ? ptr<scalar_t>(grad, t, BH) : nullptr;
      rnn_step_backward<scalar_t>(dh.data_ptr<scalar_t>(), g, ptr<scalar_t>(hs, t + 1, BH),
                                  ptr<scalar_t>(d, t, BH), B, H);
      add_column_sums<scalar_t>(ptr<scalar_t>(d, t, BH), part.data_ptr<scalar_t>(),
                                db.data_ptr<scalar_t>(), B, H);
      if (t > 0) at::mm_out(dh, d[t], w_hh);
    }
  });
  return {d, db};
}

std::tuple<Tensor, Tensor> gru_forward(const Tensor& x, const Tensor& w_ih,
                                       const Tensor& bias, const Tensor& w_hh,
                                       const Tensor& b_hn) {
  check_inputs(x, w_ih, bias, w_hh, 3);
  const int64_t L = x.size(0), B = x.size(1), H = w_hh.size(1), BH = B * H;
  TORCH_CHECK(b_hn.is_contiguous() && b_hn.numel() == H && b_hn.scalar_type() == x.scalar_type(),
              "b_hn must be contiguous (H) of x's dtype");
  Tensor hs = at::empty({L + 1, B, H}, x.options());
  hs[0].zero_();
  Tensor saved = at::empty({L, B, 4 * H}, x.options());
  Tensor gh = at::zeros({B, 3 * H}, x.options());  // (B, 3H), zero for h0 = 0
  const Tensor w_t = w_hh.t();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gru_forward", [&] {
    InputProjection<scalar_t> gi(x, w_ih, bias);
    for (int64_t t = 0; t < L; ++t) {
      if (t > 0) at::mm_out(gh, hs[t], w_t);
      gru_step_forward<scalar_t>(gi.step(t), gh.data_ptr<scalar_t>(),
                                 b_hn.data_ptr<scalar_t>(), ptr<scalar_t>(hs, t, BH),
                                 ptr<scalar_t>(hs, t + 1, BH), ptr<scalar_t>(saved, t, 4 * BH),
                                 B, H);
    }
  });
  return {hs, saved};
}

std::tuple<Tensor, Tensor, Tensor, Tensor> gru_backward(const Tensor& grad, const Tensor& hs,
                                                        const Tensor& saved,
                                                        const Tensor& w_hh) {
  check_saved(hs, w_hh, 3, {{&saved, 4}});
  const int64_t L = hs.size(0) - 1, B = hs.size(1), H = hs.size(2), BH = B * H;
  const bool seq = is_sequence_grad(grad, L, B, H);
  Tensor d = at::empty({L, B, 3 * H}, hs.options());
  Tensor dn = at::empty({L, B, H}, hs.options());
  Tensor db = at::zeros({4 * H}, hs.options());  // [b_hh grad (3H) | gi_n grad (H)]
  Tensor part = at::empty({3 * H}, hs.options());  // one step's column sums
  Tensor dh = initial_dh(grad, seq, B, H);  // (B, H)
  AT_DISPATCH_FLOATING_TYPES(hs.scalar_type(), "gru_backward", [&] {
    scalar_t* p = part.data_ptr<scalar_t>();
    scalar_t* total = db.data_ptr<scalar_t>();
    for (int64_t t = L - 1; t >= 0; --t) {
      const scalar_t* g = seq ? ptr<scalar_t>(grad, t, BH) : nullptr;
      gru_step_backward<scalar_t>(dh.data_ptr<scalar_t>(), g, ptr<scalar_t>(hs, t, BH),
                                  ptr<scalar_t>(saved, t, 4 * BH), ptr<scalar_t>(d, t, 3 * BH),
                                  ptr<scalar_t>(dn, t, BH), B, H);
      add_column_sums<scalar_t>(ptr<scalar_t>(d, t, 3 * BH), p, total, B, 3 * H);
      add_column_sums<scalar_t>(ptr<scalar_t>(dn, t, BH), p, total + 3 * H, B, H);
      if (t > 0) dh.addmm_(d[t], w_hh);
    }
  });
  return {d, dn, db.narrow(0, 0, 3 * H), db.narrow(0, 3 * H, H)};
}

std::tuple<Tensor, Tensor, Tensor> lstm_forward(const Tensor& x, const Tensor& w_ih,
                                                const Tensor& bias, const Tensor& w_hh) {
  check_inputs(x, w_ih, bias, w_hh, 4);
  const int64_t L = x.size(0), B = x.size(1), H = w_hh.size(1), BH = B * H;
  Tensor hs = at::empty({L + 1, B, H}, x.options());
  Tensor cs = at::empty({L + 1, B, H}, x.options());
  hs[0].zero_();
  cs[0].zero_();
  Tensor saved = at::empty({L, B, 5 * H}, x.options());
  Tensor gh = at::zeros({B, 4 * H}, x.options());  // (B, 4H), zero for h0 = 0
  const Tensor w_t = w_hh.t();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lstm_forward", [&] {
    InputProjection<scalar_t> gi(x, w_ih, bias);
    for (int64_t t = 0; t < L; ++t) {
      if (t > 0) at::mm_out(gh, hs[t], w_t);
      lstm_step_forward<scalar_t>(gi.step(t), gh.data_ptr<scalar_t>(),
                                  ptr<scalar_t>(cs, t, BH), ptr<scalar_t>(cs, t + 1, BH),
                                  ptr<scalar_t>(hs, t + 1, BH), ptr<scalar_t>(saved, t, 5 * BH),
                                  B, H);
    }
  });
  return {hs, cs, saved};
}

std::tuple<Tensor, Tensor> lstm_backward(const Tensor& grad, const Tensor& hs, const Tensor& cs,
                                         const Tensor& saved, const Tensor& w_hh) {
  check_saved(hs, w_hh, 4, {{&saved, 5}});
  TORCH_CHECK(cs.is_contiguous() && cs.sizes() == hs.sizes(), "cs must match hs");
  const int64_t L = hs.size(0) - 1, B = hs.size(1), H = hs.size(2), BH = B * H;
  const bool seq = is_sequence_grad(grad, L, B, H);
  Tensor d = at::empty({L, B, 4 * H}, hs.options());
  Tensor db = at::zeros({4 * H}, hs.options());
  Tensor part = at::empty({4 * H}, hs.options());  // one step's column sums
  Tensor dh = initial_dh(grad, seq, B, H);  // (B, H)
  Tensor dc = at::zeros({B, H}, hs.options());
  AT_DISPATCH_FLOATING_TYPES(hs.scalar_type(), "lstm_backward", [&] {
    for (int64_t t = L - 1; t >= 0; --t) {
      const scalar_t* g = seq ? ptr<scalar_t>(grad, t, BH) : nullptr;
      lstm_step_backward<scalar_t>(dh.data_ptr<scalar_t>(), dc.data_ptr<scalar_t>(), g,
                                   ptr<scalar_t>(cs, t, BH), ptr<scalar_t>(saved, t, 5 * BH),
                                   ptr<scalar_t>(d, t, 4 * BH), B, H);
      add_column_sums<scalar_t>(ptr<scalar_t>(d, t, 4 * BH), part.data_ptr<scalar_t>(),
                                db.data_ptr<scalar_t>(), B, 4 * H);
      if (t > 0) at::mm_out(dh, d[t], w_hh);
    }
  });
  return {d, db};
}

}  // namespace

// The library name carries a version so that a rebuilt extension with a
// changed schema never collides with an older one loaded in the same process.
TORCH_LIBRARY(tsgate_recurrent_v1, m) {
  m.def("rnn_forward", &rnn_forward);
  m.def("rnn_backward", &rnn_backward);
  m.def("gru_forward", &gru_forward);
  m.def("gru_backward", &gru_backward);
  m.def("lstm_forward", &lstm_forward);
  m.def("lstm_backward", &lstm_backward);
}
