// The byte format of the result files rank 0 hands back to the launching process (`allreduce`'s
// and `predict --tp`'s): little fixed-size fields appended in order, read back with bounds checks.
#pragma once

#include <cstring>
#include <stdexcept>
#include <string>

namespace driftlab::result_bytes {

template <class T> void put(std::string& s, const T& v) { s.append(reinterpret_cast<const char*>(&v), sizeof v); }

struct Reader {
  const std::string& s;
  const char* command;  // names the command in the error: "allreduce", "predict --tp"
  std::size_t pos = 0;
  void take(void* p, std::size_t bytes) {
    if (s.size() - pos < bytes) throw std::runtime_error(std::string(command) + ": the MPI result file is truncated");
    std::memcpy(p, s.data() + pos, bytes);
    pos += bytes;
  }
  template <class T> T get() {
    T v;
    take(&v, sizeof v);
    return v;
  }
};

}  // namespace driftlab::result_bytes
