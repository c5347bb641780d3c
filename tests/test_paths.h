// The paths the tests use (the binaries, a scratch folder, the source tree), each overridable by an environment variable of the same name, so the
// test binary also runs from the GPU kit (scripts/build_gpu_kit.sh) on another machine, where the
// build tree's paths do not exist.  Force-included into every test file (tests/CMakeLists.txt).
#pragma once

#include <cstdlib>

namespace driftlab::test_paths {
inline const char* from_env(const char* var, const char* built) {
  const char* e = std::getenv(var);
  return e && *e ? e : built;
}
}  // namespace driftlab::test_paths

#define DRIFTLAB_EXE ::driftlab::test_paths::from_env("DRIFTLAB_EXE", DRIFTLAB_EXE_BUILT)
#define DRIFTLAB_TEST_TMP ::driftlab::test_paths::from_env("DRIFTLAB_TEST_TMP", DRIFTLAB_TEST_TMP_BUILT)
#ifdef DRIFTLAB_BENCH_EXE_BUILT
#define DRIFTLAB_BENCH_EXE ::driftlab::test_paths::from_env("DRIFTLAB_BENCH_EXE", DRIFTLAB_BENCH_EXE_BUILT)
#endif
#define DRIFTLAB_SOURCE_DIR ::driftlab::test_paths::from_env("DRIFTLAB_SOURCE_DIR", DRIFTLAB_SOURCE_DIR_BUILT)
