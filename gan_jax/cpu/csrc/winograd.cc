// Winograd's minimal filtering F(m x m, 2 x 2) (Lavin & Gray 2016, "Fast Algorithms for
// Convolutional Neural Networks") for 2x2 stride-1 VALID convolutions of NHWC images,
// which is what a 4x4 stride-2 convolution becomes after space-to-depth (winograd.py).
// Two XLA FFI handlers, built into the same library as onednn_conv.cc by native.py:
//
//   GanJaxWinograd  the linear maps around the products, `kind`:
//     1  x [N,H,W,C0]  -> V [a*a, P, C]   V[k,l] = BT d BT^T  of each a x a input tile d of
//                                         the space-to-depth image (below), C = 4 C0
//     2  V             -> x               the transpose of 1 (overlapping tiles summed)
//     3  M [a*a, P, O] -> y [N,Ho,Wo,O]   each m x m output tile AT M AT^T, cropped to Ho, Wo
//     4  y             -> M               the transpose of 3
//     5  g [4, K, O]   -> U [a*a, K, O]   U[k,l] = G g G^T of a 2x2 kernel (taps i*2+j)
//     6  dU            -> dg [4, K, O]    the transpose of 5
//   with a = m + 1, tiles at stride m of the space-to-depth image S [N, Hs, Ws, 4 C0]
//   (P = N * ceil((Hs-1)/m) * ceil((Ws-1)/m), Ho = Hs - 1): S[b, r, s, (p*2 + q) C0 + c] =
//   x[b, 2r + p - lo_h, 2s + q - lo_w, c], zero outside x (`s2d` = [lo_h, lo_w, Hs, Ws]; x
//   is padded by lo and cut or zero-extended at the high end, never copied). Zeros beyond
//   the tiles' reach; BT [a, a], AT [m, a] and G [a, 2] come as attributes.
//   GanJaxMatmul    c[b] = op(a[b]) op(b[b]), op = transpose where ta / tb, in oneDNN's
//     matmul (the a*a products of a Winograd convolution, batched).
//
// The transforms are OpenMP loops over tiles, vectorized over the contiguous channels.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"
#include "onednn_common.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;
namespace {

constexpr int kMaxA = 8;

// Tile geometry: the tiled image is [N, h, w, c]; tiles of a = m + 1 rows/cols at stride m.
struct Geo {
  int64_t n, h, w, c, m, a, th, tw;
  int64_t P() const { return n * th * tw; }
  // (image, tile row, tile column) of tile p
  void Tile(int64_t p, int64_t* b, int64_t* ti, int64_t* tj) const {
    *b = p / (th * tw), *ti = (p / tw) % th, *tj = p % tw;
  }
};

// o[0:n] = sum over t < terms of coef[t * stride] * src(t)[0:n] (o += that with
// `accumulate`); zero coefficients are skipped. Every transform below is made of these.
template <class Src>
void Combine(float* o, int64_t n, const float* coef, int64_t stride, int64_t terms, Src src,
             bool accumulate = false) {
  if (!accumulate) std::memset(o, 0, n * sizeof(float));
  for (int64_t t = 0; t < terms; ++t) {
    const float f = coef[t * stride];
    if (f == 0.f) continue;
    const float* s = src(t);
    for (int64_t c = 0; c < n; ++c) o[c] += f * s[c];
  }
}

// d[i, j, :] = image b's pixel (r0 + i, s0 + j) of x [N, h, w, c], 0 outside; i, j < size.
void Gather(float* d, const float* x, int64_t b, int64_t r0, int64_t s0, int64_t size,
            int64_t h, int64_t w, int64_t c) {
  for (int64_t i = 0; i < size; ++i)
    for (int64_t j = 0; j < size; ++j) {
      int64_t r = r0 + i, s = s0 + j;
      float* dst = d + (i * size + j) * c;
      if (r < h && s < w) std::memcpy(dst, x + ((b * h + r) * w + s) * c, c * sizeof(float));
      else std::memset(dst, 0, c * sizeof(float));
    }
}

// The space-to-depth image S [N, hs, ws, 4 c0] of x [N, hh, ww, c0] (header comment).
struct S2d {
  int64_t hh, ww, c0, lo_h, lo_w;
  // where in x the pixel behind S[b, r, s], block q4 = p*2 + q, starts; -1 outside x
  int64_t Offset(int64_t b, int64_t r, int64_t s, int64_t q4) const {
    int64_t i = 2 * r + q4 / 2 - lo_h, j = 2 * s + q4 % 2 - lo_w;
    return i >= 0 && i < hh && j >= 0 && j < ww ? ((b * hh + i) * ww + j) * c0 : -1;
  }
};

// kind 1: V[k,l] = sum_ij BT[k,i] d[i,j] BT[l,j] of each tile d of S (zeros beyond it)
void In(const Geo& g, const S2d& sd, const float* bt, const float* x, float* v) {
  const int64_t a = g.a, C = g.c, P = g.P(), c0 = sd.c0;
#pragma omp parallel
  {
    std::vector<float> d(a * a * C), t(a * a * C);
#pragma omp for schedule(static)
    for (int64_t p = 0; p < P; ++p) {
      int64_t b, ti, tj;
      g.Tile(p, &b, &ti, &tj);
      for (int64_t i = 0; i < a; ++i)  // d = the tile of S, gathered from x
        for (int64_t j = 0; j < a; ++j)
          for (int64_t q4 = 0; q4 < 4; ++q4) {
            int64_t r = ti * g.m + i, s = tj * g.m + j;
            const int64_t off = r < g.h && s < g.w ? sd.Offset(b, r, s, q4) : -1;
            float* dst = &d[(i * a + j) * C + q4 * c0];
            if (off >= 0) std::memcpy(dst, x + off, c0 * sizeof(float));
            else std::memset(dst, 0, c0 * sizeof(float));
          }
      for (int64_t k = 0; k < a; ++k)  // t[k, j] = sum_i BT[k, i] d[i, j]
        for (int64_t j = 0; j < a; ++j)
          Combine(&t[(k * a + j) * C], C, bt + k * a, 1, a,
                  [&](int64_t i) { return &d[(i * a + j) * C]; });
      for (int64_t k = 0; k < a; ++k)  // V[k, l] = sum_j BT[l, j] t[k, j]
        for (int64_t l = 0; l < a; ++l)
          Combine(v + ((k * a + l) * P + p) * C, C, bt + l * a, 1, a,
                  [&](int64_t j) { return &t[(k * a + j) * C]; });
    }
  }
}

// kind 2, the transpose of 1: tiles overlap by a row and a column, so they are added in
// four phases (tile row and column parity) within which no two tiles touch (nor do the
// pixels of x behind them: S's pixels map to distinct ones of x, or to none).
void InT(const Geo& g, const S2d& sd, const float* bt, const float* v, float* x) {
  const int64_t a = g.a, C = g.c, P = g.P(), c0 = sd.c0;
  std::memset(x, 0, g.n * sd.hh * sd.ww * c0 * sizeof(float));
  for (int phase = 0; phase < 4; ++phase) {
#pragma omp parallel
    {
      std::vector<float> t(a * a * C);
#pragma omp for schedule(static)
      for (int64_t p = 0; p < P; ++p) {
        int64_t b, ti, tj;
        g.Tile(p, &b, &ti, &tj);
        if ((ti % 2) * 2 + (tj % 2) != phase) continue;
        for (int64_t k = 0; k < a; ++k)  // t[k, j] = sum_l V[k, l] BT[l, j]
          for (int64_t j = 0; j < a; ++j)
            Combine(&t[(k * a + j) * C], C, bt + j, a, a,
                    [&](int64_t l) { return v + ((k * a + l) * P + p) * C; });
        for (int64_t i = 0; i < a; ++i)  // S[i, j] += sum_k BT[k, i] t[k, j], into x
          for (int64_t j = 0; j < a; ++j) {
            int64_t r = ti * g.m + i, s = tj * g.m + j;
            if (r >= g.h || s >= g.w) continue;
            for (int64_t q4 = 0; q4 < 4; ++q4)
              if (const int64_t off = sd.Offset(b, r, s, q4); off >= 0)
                Combine(x + off, c0, bt + i, a, a,
                        [&](int64_t k) { return &t[(k * a + j) * C + q4 * c0]; }, true);
          }
      }
    }
  }
}

// kind 3: y[i,j] = sum_kl AT[i,k] M[k,l] AT[j,l] of each output tile, cropped to (ho, wo)
void Out(const Geo& g, const float* at, const float* mm, float* y, int64_t ho, int64_t wo) {
  const int64_t a = g.a, m = g.m, O = g.c, P = g.P();
#pragma omp parallel
  {
    std::vector<float> t(m * a * O);
#pragma omp for schedule(static)
    for (int64_t p = 0; p < P; ++p) {
      int64_t b, ti, tj;
      g.Tile(p, &b, &ti, &tj);
      for (int64_t i = 0; i < m; ++i)  // t[i, l] = sum_k AT[i, k] M[k, l]
        for (int64_t l = 0; l < a; ++l)
          Combine(&t[(i * a + l) * O], O, at + i * a, 1, a,
                  [&](int64_t k) { return mm + ((k * a + l) * P + p) * O; });
      for (int64_t i = 0; i < m; ++i)  // y[i, j] = sum_l AT[j, l] t[i, l]
        for (int64_t j = 0; j < m; ++j) {
          int64_t r = ti * m + i, s = tj * m + j;
          if (r >= ho || s >= wo) continue;
          Combine(y + ((b * ho + r) * wo + s) * O, O, at + j * a, 1, a,
                  [&](int64_t l) { return &t[(i * a + l) * O]; });
        }
    }
  }
}

// kind 4, the transpose of 3 (output tiles do not overlap)
void OutT(const Geo& g, const float* at, const float* y, float* mm, int64_t ho, int64_t wo) {
  const int64_t a = g.a, m = g.m, O = g.c, P = g.P();
#pragma omp parallel
  {
    std::vector<float> d(m * m * O), t(a * m * O);
#pragma omp for schedule(static)
    for (int64_t p = 0; p < P; ++p) {
      int64_t b, ti, tj;
      g.Tile(p, &b, &ti, &tj);
      Gather(d.data(), y, b, ti * m, tj * m, m, ho, wo, O);
      for (int64_t k = 0; k < a; ++k)  // t[k, j] = sum_i AT[i, k] d[i, j]
        for (int64_t j = 0; j < m; ++j)
          Combine(&t[(k * m + j) * O], O, at + k, a, m,
                  [&](int64_t i) { return &d[(i * m + j) * O]; });
      for (int64_t k = 0; k < a; ++k)  // M[k, l] = sum_j AT[j, l] t[k, j]
        for (int64_t l = 0; l < a; ++l)
          Combine(mm + ((k * a + l) * P + p) * O, O, at + l, a, m,
                  [&](int64_t j) { return &t[(k * m + j) * O]; });
    }
  }
}

ffi::Error Wino(ffi::Buffer<ffi::F32> in, ffi::ResultBuffer<ffi::F32> out, int64_t kind,
                int64_t m, ffi::Span<const float> bt, ffi::Span<const float> at,
                ffi::Span<const float> gm, ffi::Span<const int64_t> s2d) {
  const int64_t a = m + 1;
  if (a > kMaxA || static_cast<int64_t>(bt.size()) != a * a ||
      static_cast<int64_t>(at.size()) != m * a || static_cast<int64_t>(gm.size()) != a * 2 ||
      s2d.size() != 4)
    return ffi::Error::InvalidArgument("winograd: bad transform matrices or s2d");
  auto id = in.dimensions(), od = out->dimensions();
  if (kind == 5) {  // g [4, K, O] -> U [a*a, K, O]
    const int64_t inner = id[1] * id[2];
    const float* g = in.typed_data();
    float* u = out->typed_data();
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < a * a; ++t) {
      const int64_t k = t / a, l = t % a;
      float c[4];
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j) c[i * 2 + j] = gm[k * 2 + i] * gm[l * 2 + j];
      float* o = u + t * inner;
      for (int64_t e = 0; e < inner; ++e)
        o[e] = c[0] * g[e] + c[1] * g[inner + e] + c[2] * g[2 * inner + e] + c[3] * g[3 * inner + e];
    }
    return ffi::Error::Success();
  }
  if (kind == 6) {  // dU [a*a, K, O] -> dg [4, K, O]: the transpose of kind 5
    const int64_t inner = od[1] * od[2];
    const float* du = in.typed_data();
    float* dg = out->typed_data();
    float coef[4 * kMaxA * kMaxA];  // coef[t][k*a + l] = G[k, i] G[l, j], tap t = (i, j)
    for (int t = 0; t < 4; ++t)
      for (int64_t kl = 0; kl < a * a; ++kl)
        coef[t * a * a + kl] = gm[(kl / a) * 2 + t / 2] * gm[(kl % a) * 2 + t % 2];
    const int64_t chunk = 4096;
#pragma omp parallel for schedule(static)
    for (int64_t start = 0; start < inner; start += chunk) {
      const int64_t n = std::min(inner, start + chunk) - start;
      for (int t = 0; t < 4; ++t)
        Combine(dg + t * inner + start, n, coef + t * a * a, 1, a * a,
                [&](int64_t kl) { return du + kl * inner + start; });
    }
    return ffi::Error::Success();
  }
  auto tiles = [m](int64_t n) { return (n + m - 1) / m; };
  if (kind == 1 || kind == 2) {  // image x [N,H,W,C0] <-> V [a*a, P, 4 C0]
    auto xd = kind == 1 ? id : od;
    const int64_t hs = s2d[2], ws = s2d[3];
    Geo g{xd[0], hs, ws, 4 * xd[3], m, a, tiles(hs - 1), tiles(ws - 1)};
    S2d sd{xd[1], xd[2], xd[3], s2d[0], s2d[1]};
    if (kind == 1) In(g, sd, bt.begin(), in.typed_data(), out->typed_data());
    else InT(g, sd, bt.begin(), in.typed_data(), out->typed_data());
  } else {  // M [a*a, P, O] <-> y [N, Ho, Wo, O]
    auto yd = kind == 3 ? od : id;
    Geo g{yd[0], 0, 0, yd[3], m, a, tiles(yd[1]), tiles(yd[2])};
    if (kind == 3) Out(g, at.begin(), in.typed_data(), out->typed_data(), yd[1], yd[2]);
    else OutT(g, at.begin(), in.typed_data(), out->typed_data(), yd[1], yd[2]);
  }
  return ffi::Error::Success();
}

using dnnl::memory;
using tag = memory::format_tag;

struct MatmulPlan {
  dnnl::matmul prim;
  memory::desc a, b, c;
  size_t scratch;
};

ffi::Error Bmm(ffi::Buffer<ffi::F32> a, ffi::Buffer<ffi::F32> b, ffi::ResultBuffer<ffi::F32> c,
               int64_t ta, int64_t tb) {
  auto ad = a.dimensions(), cd = c->dimensions();
  int64_t B = cd[0], M = cd[1], N = cd[2], K = ta ? ad[1] : ad[2];
  std::string key = std::to_string(B) + "," + std::to_string(M) + "," + std::to_string(N) + "," +
                    std::to_string(K) + "," + std::to_string(ta) + std::to_string(tb);
  try {
    auto& eng = gan_jax::Engine();
    auto plan = gan_jax::CachedPlan<MatmulPlan>(key, [&] {
      auto f32 = memory::data_type::f32;
      memory::desc amd({B, M, K}, f32, ta ? tag::acb : tag::abc);
      memory::desc bmd({B, K, N}, f32, tb ? tag::acb : tag::abc);
      memory::desc cmd({B, M, N}, f32, tag::abc);
      dnnl::primitive_attr attr;
      attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      auto pd = dnnl::matmul::primitive_desc(eng, amd, bmd, cmd, attr);
      return std::make_shared<MatmulPlan>(
          MatmulPlan{dnnl::matmul(pd), amd, bmd, cmd, pd.scratchpad_desc().get_size()});
    });
    thread_local dnnl::stream stream(eng);
    thread_local gan_jax::Buffer scratch;
    memory sm(memory::desc({static_cast<int64_t>(plan->scratch)}, memory::data_type::u8, tag::a),
              eng, scratch.Get(plan->scratch + 1));
    plan->prim.execute(stream, {{DNNL_ARG_SRC, memory(plan->a, eng, a.untyped_data())},
                                {DNNL_ARG_WEIGHTS, memory(plan->b, eng, b.untyped_data())},
                                {DNNL_ARG_DST, memory(plan->c, eng, c->untyped_data())},
                                {DNNL_ARG_SCRATCHPAD, sm}});
    stream.wait();
  } catch (const std::exception& e) {
    return ffi::Error::Internal(std::string("gan_jax matmul: ") + e.what());
  }
  return ffi::Error::Success();
}
}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(GanJaxWinograd, Wino,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("kind")
                                  .Attr<int64_t>("m")
                                  .Attr<ffi::Span<const float>>("bt")
                                  .Attr<ffi::Span<const float>>("at")
                                  .Attr<ffi::Span<const float>>("g")
                                  .Attr<ffi::Span<const int64_t>>("s2d"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(GanJaxMatmul, Bmm,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("ta")
                                  .Attr<int64_t>("tb"));
