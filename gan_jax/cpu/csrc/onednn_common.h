// What the FFI handlers in onednn_conv.cc and winograd.cc share: one CPU engine, a per-thread
// growing buffer, and a per-shape cache of built primitives.
#ifndef GAN_JAX_NETS_CSRC_ONEDNN_COMMON_H_
#define GAN_JAX_NETS_CSRC_ONEDNN_COMMON_H_

#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "oneapi/dnnl/dnnl.hpp"

namespace gan_jax {

inline dnnl::engine& Engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// A growing 64-byte-aligned buffer, one per thread and role.
struct Buffer {
  void* data = nullptr;
  size_t bytes = 0;
  void* Get(size_t want) {
    if (want > bytes) {
      std::free(data);
      bytes = (want + 63) / 64 * 64;
      data = std::aligned_alloc(64, bytes);
    }
    return data;
  }
  ~Buffer() { std::free(data); }
};

// The plan cached under `key` (one cache per Plan type), built by make() on first use.
template <class Plan, class Make>
std::shared_ptr<Plan> CachedPlan(const std::string& key, Make make) {
  static std::mutex mu;
  static std::unordered_map<std::string, std::shared_ptr<Plan>> plans;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = plans[key];
  if (!slot) slot = make();
  return slot;
}

}  // namespace gan_jax

#endif  // GAN_JAX_NETS_CSRC_ONEDNN_COMMON_H_
