// The exact sum's vector tiles in each of their modes, for the tests of its paths.
#pragma once

#include <gtest/gtest.h>

#include "kernels/cpu/exact_simd.h"

namespace driftlab::testing {

// body() with the tiles' flag-checked paths on, then off (exact_simd.h: off, the masked paths run
// -- the fast blocks, the windows, the masked span -- as they do for the blocks the flags refuse and
// under a caller's MXCSR that is not the default); a failure says in which.
template <class F> void each_flag_mode(F body) {
  for (const bool on : {true, false}) {
    SCOPED_TRACE(on ? "flag-checked paths on" : "flag-checked paths off");
    cpu::detail::force_exact_flag_paths(on);
    body();
  }
  cpu::detail::force_exact_flag_paths(true);
}

}  // namespace driftlab::testing
