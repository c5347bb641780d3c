// libFuzzer target: npy::parse on arbitrary bytes.  The promise: an NpyError with a one-line
// message, or a valid array whose size matches its shape; never a crash, a leak, UB, or another
// exception (an uncaught one aborts, which libFuzzer reports).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

#include "host/io/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const driftlab::HostArray a =
        driftlab::npy::parse(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size),
                             driftlab::npy::ReadOptions{(size & 1) != 0});  // '<V2' as bf16 half the time
    std::size_t n = 1;
    for (const std::size_t d : a.shape) n *= d;
    if (a.shape.empty()) n = 1;
    if (a.size() != n) std::abort();  // the elements must match the shape
  } catch (const driftlab::npy::NpyError& e) {
    if (std::string(e.what()).find('\n') != std::string::npos) std::abort();  // one line
  }
  return 0;
}
