// The one memory bound of every driftlab binary: a request is refused up front, naming its flag
// and the amount, when it needs more than 70% of the memory this process may use.  That memory
// is the machine's physical memory, capped by the address-space and data limits (ulimit -v,
// ulimit -d) when they are set.  Header-only: driftlab_cpu_probe uses it without the host library.
#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace driftlab {

// Bytes this process may allocate: physical memory, capped by RLIMIT_AS and RLIMIT_DATA; 0 when unknown.
inline std::size_t usable_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  std::uint64_t mem = pages > 0 && page > 0 ? static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page) : 0;
  for (const int which : {RLIMIT_AS, RLIMIT_DATA}) {
    struct rlimit rl {};
    if (getrlimit(which, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
      mem = mem == 0 ? static_cast<std::uint64_t>(rl.rlim_cur) : std::min<std::uint64_t>(mem, rl.rlim_cur);
  }
  return static_cast<std::size_t>(mem);
}

// The refusal's text when `bytes` do not fit ("WHAT: needs about N MiB, more than this process
// may use (M MiB)"), nothing when they do.  `what` names the flags and values that ask for it.
inline std::optional<std::string> memory_refusal(double bytes, std::string_view what) {
  const double mem = static_cast<double>(usable_memory_bytes());
  if (mem <= 0 || bytes <= 0.7 * mem) return std::nullopt;
  const double mib = 1024.0 * 1024.0;
  const std::string need = bytes / mib < 1e15 ? std::to_string(static_cast<std::uint64_t>(bytes / mib)) : "more than 1e15";
  return std::string(what) + ": needs about " + need + " MiB, more than this process may use (" +
         std::to_string(static_cast<std::uint64_t>(mem / mib)) + " MiB" +
         (mem < static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGE_SIZE)) ? ", ulimit" : "") +
         ")";
}

}  // namespace driftlab
