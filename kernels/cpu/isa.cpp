#include "isa.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace driftlab::cpu {

int isa_ceiling() {
  static const int ceiling = [] {
    const char* v = std::getenv("DRIFTLAB_ISA");
    if (!v || !*v || std::strcmp(v, "avx512") == 0) return 2;
    if (std::strcmp(v, "avx2") == 0) return 1;
    if (std::strcmp(v, "scalar") == 0) return 0;
    std::fprintf(stderr, "driftlab: DRIFTLAB_ISA must be avx512, avx2 or scalar, got '%s'\n", v);
    std::exit(1);
  }();
  return ceiling;
}

}  // namespace driftlab::cpu
