// "Is there a usable GPU?" -- in one place, safe on a machine with no driver: the runtime's
// error turns into a reason, never a crash.
#pragma once

#include <string>
#include <string_view>

namespace driftlab {

struct GpuStatus {
  bool usable = false;
  std::string reason;  // why not, when !usable
  std::string name;    // device 0: name, memory, compute capability, driver
};

bool built_with_cuda();
const GpuStatus& gpu_status();  // probed once per process

// The one resolution of --backend: "cuda", or "auto" when a GPU is usable (probed only for "auto").
inline bool use_cuda(std::string_view backend) {
  return backend == "cuda" || (backend == "auto" && gpu_status().usable);
}

}  // namespace driftlab
