// libFuzzer target: npz::read on arbitrary bytes (libzip reads a path, so the bytes go to an
// in-memory file named /proc/self/fd/N).  The promise: an NpzError with a one-line message or
// valid arrays; never a crash, UB or another exception.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "host/io/npz.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const int fd = memfd_create("fuzz_npz", 0);
  if (fd < 0) std::abort();
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) std::abort();
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    const auto arrays = driftlab::npz::read(path);
    for (const auto& [name, a] : arrays) {
      std::size_t n = 1;
      for (const std::size_t d : a.shape) n *= d;
      if (a.size() != n) std::abort();
    }
  } catch (const driftlab::npz::NpzError& e) {
    if (std::string(e.what()).find('\n') != std::string::npos) std::abort();
  }
  return 0;
}
