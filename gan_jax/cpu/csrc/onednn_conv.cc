// The two backward passes of a 2-D channels-last convolution y = x (*) k, run by oneDNN,
// as one XLA FFI handler (XLA's own oneDNN custom call runs the forwards, onednn.py):
//
//   kind 1, backward data:    (dy, k) -> dx  the adjoint of the forward in x
//   kind 2, backward weights: (x, dy) -> dk  the adjoint of the forward in k
//
// x, y are NHWC, k is HWIO, with strides, kernel dilations (1 = none) and pads >= 0 as
// attributes. oneDNN's JIT kernels run in its blocked layouts (reorders in and out) for
// most shapes and on the plain NHWC ones for a few (`Choose`). Plans are cached per shape;
// each thread has its own stream and buffers, so calls from several XLA threads (pmap's
// devices) may run at once. Built and loaded by gan_jax/nets/native.py.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

#include "oneapi/dnnl/dnnl.hpp"
#include "onednn_common.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

using gan_jax::Buffer;
using gan_jax::Engine;

using dnnl::memory;
using tag = dnnl::memory::format_tag;

enum Kind { kBackwardData = 1, kBackwardWeights = 2 };

// A plan: the primitive, and for its two inputs and one output (in that order) the
// user's layout, the primitive's layout and the reorder between them where they differ.
struct Plan {
  dnnl::primitive prim;
  int args[3];
  memory::desc user[3], used[3];
  bool reorder[3] = {false, false, false};
  dnnl::reorder re[3];
  size_t scratch_bytes = 0;
};

struct Shape {
  Kind kind;
  memory::dims src, wei, dst, strides, dilations, pad_lo, pad_hi;  // oneDNN's conventions
};

// Builds the plan for `shape` in oneDNN's preferred (blocked) layouts or in the user's.
std::shared_ptr<Plan> MakePlan(const Shape& s, bool blocked) {
  auto& eng = Engine();
  const auto f32 = memory::data_type::f32;
  memory::desc src(s.src, f32, tag::nhwc), wei(s.wei, f32, tag::hwio), dst(s.dst, f32, tag::nhwc);
  auto pick = [&](const memory::desc& user, const memory::dims& dims) {
    return blocked ? memory::desc(dims, f32, tag::any) : user;
  };
  memory::desc a_src = pick(src, s.src), a_wei = pick(wei, s.wei), a_dst = pick(dst, s.dst);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  const auto direct = dnnl::algorithm::convolution_direct;
  // The forward's descriptor: oneDNN's hint for the backward ones.
  auto fwd = dnnl::convolution_forward::primitive_desc(
      eng, dnnl::prop_kind::forward_training, direct, a_src, a_wei, a_dst, s.strides,
      s.dilations, s.pad_lo, s.pad_hi, attr);
  auto plan = std::make_shared<Plan>();
  // The primitive, and per role (input, input, output) its argument, the user's layout and
  // the one the primitive chose.
  auto set = [&](dnnl::primitive prim, const dnnl::primitive_desc_base& pd,
                 const int (&args)[3], const memory::desc (&user)[3]) {
    plan->prim = prim;
    for (int i = 0; i < 3; ++i) {
      plan->args[i] = args[i], plan->user[i] = user[i];
      plan->used[i] = pd.query_md(dnnl::query::exec_arg_md, args[i]);
    }
    plan->scratch_bytes = pd.scratchpad_desc().get_size();
  };
  if (s.kind == kBackwardData) {
    auto pd = dnnl::convolution_backward_data::primitive_desc(
        eng, direct, a_src, a_wei, a_dst, s.strides, s.dilations, s.pad_lo, s.pad_hi, fwd, attr);
    set(dnnl::convolution_backward_data(pd), pd,
        {DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC}, {dst, wei, src});
  } else {
    auto pd = dnnl::convolution_backward_weights::primitive_desc(
        eng, direct, a_src, a_wei, a_dst, s.strides, s.dilations, s.pad_lo, s.pad_hi, fwd, attr);
    set(dnnl::convolution_backward_weights(pd), pd,
        {DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS}, {src, dst, wei});
  }
  for (int i = 0; i < 3; ++i) {
    plan->reorder[i] = plan->used[i] != plan->user[i];
    if (!plan->reorder[i]) continue;
    dnnl::reorder::primitive_desc rpd =
        i < 2 ? dnnl::reorder::primitive_desc(eng, plan->user[i], eng, plan->used[i], attr)
              : dnnl::reorder::primitive_desc(eng, plan->used[i], eng, plan->user[i], attr);
    plan->scratch_bytes = std::max(plan->scratch_bytes, rpd.scratchpad_desc().get_size());
    plan->re[i] = dnnl::reorder(rpd);
  }
  return plan;
}

void Run(const Plan& plan, void* const data[3]) {
  auto& eng = Engine();
  thread_local dnnl::stream stream(eng);
  thread_local Buffer buffers[4];
  memory scratch(memory::desc({static_cast<int64_t>(plan.scratch_bytes)}, memory::data_type::u8,
                              tag::a),
                 eng, buffers[3].Get(plan.scratch_bytes + 1));
  memory user[3], used[3];
  for (int i = 0; i < 3; ++i) {
    user[i] = memory(plan.user[i], eng, data[i]);
    used[i] = plan.reorder[i] ? memory(plan.used[i], eng, buffers[i].Get(plan.used[i].get_size()))
                              : user[i];
  }
  for (int i = 0; i < 2; ++i) {
    if (plan.reorder[i]) {
      plan.re[i].execute(stream, {{DNNL_ARG_FROM, user[i]}, {DNNL_ARG_TO, used[i]},
                                  {DNNL_ARG_SCRATCHPAD, scratch}});
    }
  }
  plan.prim.execute(stream, {{plan.args[0], used[0]}, {plan.args[1], used[1]},
                             {plan.args[2], used[2]}, {DNNL_ARG_SCRATCHPAD, scratch}});
  if (plan.reorder[2]) {
    plan.re[2].execute(stream, {{DNNL_ARG_FROM, used[2]}, {DNNL_ARG_TO, user[2]},
                                {DNNL_ARG_SCRATCHPAD, scratch}});
  }
  stream.wait();
}

// The plan for a shape: oneDNN's blocked layouts (its JIT kernels there were 1.1-3.3x
// faster than on plain NHWC for the nets' convolutions at batch 64), except for a batch
// of 1 with fewer than 16 features on one side, where padding those to a 16-wide block
// cost more (CycleGAN's first D conv: kernel gradient 3.9 ms blocked, 0.37 plain). A
// fixed rule, not a timing, so every process computes a shape the same way (bit-exact
// resume). A layout oneDNN has no kernel for is replaced by the other one.
std::shared_ptr<Plan> Choose(const Shape& s) {
  bool blocked = !(s.src[0] == 1 && std::min(s.src[1], s.dst[1]) < 16);
  try {
    return MakePlan(s, blocked);
  } catch (const dnnl::error& first) {
    try {
      return MakePlan(s, !blocked);
    } catch (const dnnl::error& second) {
      throw std::runtime_error(std::string("no oneDNN implementation: ") + first.what() +
                               "; " + second.what());
    }
  }
}

std::string Key(const Shape& s) {
  std::string key = std::to_string(s.kind) + ";";
  for (const auto* p : {&s.src, &s.wei, &s.dst, &s.strides, &s.dilations, &s.pad_lo, &s.pad_hi}) {
    for (auto v : *p) key += std::to_string(v) + ",";
    key += ";";
  }
  return key;
}

memory::dims Nchw(ffi::Span<const int64_t> nhwc) { return {nhwc[0], nhwc[3], nhwc[1], nhwc[2]}; }
memory::dims Oihw(ffi::Span<const int64_t> hwio) { return {hwio[3], hwio[2], hwio[0], hwio[1]}; }
memory::dims Dims(ffi::Span<const int64_t> span) { return memory::dims(span.begin(), span.end()); }

ffi::Error Conv(ffi::Buffer<ffi::F32> a, ffi::Buffer<ffi::F32> b, ffi::ResultBuffer<ffi::F32> out,
                int64_t kind, ffi::Span<const int64_t> strides, ffi::Span<const int64_t> dilations,
                ffi::Span<const int64_t> pad_lo, ffi::Span<const int64_t> pad_hi) {
  auto ad = a.dimensions(), bd = b.dimensions(), od = out->dimensions();
  if (ad.size() != 4 || bd.size() != 4 || od.size() != 4 || strides.size() != 2 ||
      dilations.size() != 2 || pad_lo.size() != 2 || pad_hi.size() != 2 || kind < 1 || kind > 2) {
    return ffi::Error::InvalidArgument("gan_jax oneDNN conv: expects 2-D NHWC / HWIO, kind 1 or 2");
  }
  Shape s{static_cast<Kind>(kind), {}, {}, {}, Dims(strides), Dims(dilations), Dims(pad_lo),
          Dims(pad_hi)};
  for (auto& d : s.dilations) d -= 1;  // oneDNN: 0 = no dilation
  if (kind == kBackwardData) s.dst = Nchw(ad), s.wei = Oihw(bd), s.src = Nchw(od);
  if (kind == kBackwardWeights) s.src = Nchw(ad), s.dst = Nchw(bd), s.wei = Oihw(od);
  void* const data[3] = {a.untyped_data(), b.untyped_data(), out->untyped_data()};
  try {
    Run(*gan_jax::CachedPlan<Plan>(Key(s), [&] { return Choose(s); }), data);
  } catch (const std::exception& e) {
    return ffi::Error::Internal(std::string("gan_jax oneDNN conv: ") + e.what());
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(GanJaxConv, Conv,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("kind")
                                  .Attr<ffi::Span<const int64_t>>("strides")
                                  .Attr<ffi::Span<const int64_t>>("dilations")
                                  .Attr<ffi::Span<const int64_t>>("pad_lo")
                                  .Attr<ffi::Span<const int64_t>>("pad_hi"));
