// The floating-point environment driftlab computes in (kernels/cpu/fp_env.h): IEEE's default,
// whatever the process inherited.  A worker thread starts in it, DefaultFpEnv gives it to a scope
// and the caller's back, and the command line gives the default's bits -- no SIGFPE -- in a process
// whose environment unmasks every exception, rounds upward and flushes subnormals to zero.
#include <gtest/gtest.h>
#include <xmmintrin.h>

#include <cfenv>
#include <chrono>
#include <thread>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "host/cli/cli.h"
#include "kernels/cpu/fp_env.h"
#include "kernels/cpu/thread_pool.h"
#include "tests/cli_helpers.h"

namespace driftlab {
namespace {

namespace fs = std::filesystem;

constexpr unsigned kFtzDaz = 0x8040u;

// A hostile environment on the calling thread: upward rounding, FTZ and DAZ, and the exceptions in
// `unmask` (feenableexcept's bits) unmasked.
void make_hostile(int unmask) {
  std::fesetround(FE_UPWARD);
  _mm_setcsr(_mm_getcsr() | kFtzDaz);
  std::feclearexcept(FE_ALL_EXCEPT);  // a flag raised earlier (x87's, too) would trap at once when unmasked
  feenableexcept(unmask);
}

TEST(FpEnv, WorkersStartInTheDefaultAndAScopeGivesTheCallersBack) {
  ASSERT_TRUE(cpu::fp_env_is_default());
  make_hostile(FE_INVALID | FE_DIVBYZERO);  // not inexact: this thread goes on running the test
  EXPECT_FALSE(cpu::fp_env_is_default());
  const unsigned csr = _mm_getcsr();
  {
    cpu::ThreadPool pool(3);  // its workers are made here, by a thread in the hostile environment
    std::vector<int> is_default(3, -1);
    pool.parallel_for(64, [&](std::size_t, int worker) {
      is_default[worker] = cpu::fp_env_is_default();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));  // long enough for every worker to take a task
    });
    EXPECT_NE(is_default[1], 0) << "worker 1 inherited its creator's environment";
    EXPECT_NE(is_default[2], 0) << "worker 2 inherited its creator's environment";
    EXPECT_NE(is_default[1] + is_default[2], -2) << "no worker ran a task";
  }
  {
    const cpu::DefaultFpEnv scope;
    EXPECT_TRUE(cpu::fp_env_is_default());
    EXPECT_EQ(std::fegetround(), FE_TONEAREST);
  }
  EXPECT_EQ(std::fegetround(), FE_UPWARD) << "the caller's rounding is not back";
  EXPECT_EQ(_mm_getcsr() & ~0x3fu, csr & ~0x3fu) << "the caller's MXCSR is not back";
  EXPECT_EQ(fegetexcept(), FE_INVALID | FE_DIVBYZERO) << "the caller's unmasked exceptions are not back";
  cpu::set_default_fp_env();
  EXPECT_TRUE(cpu::fp_env_is_default());
}

// The deterministic variants' result bits (serial, tree, exact) of a `driftlab sum` JSON.
std::vector<std::string> deterministic_bits(const fs::path& json) {
  std::ifstream in(json);
  std::stringstream text;
  text << in.rdbuf();
  const std::string s = text.str();
  std::vector<std::string> bits;
  const std::regex row(R"re("variant": "(serial|tree|exact)"[^}]*?"result_bits": "(0x[0-9a-f]+)")re");
  for (std::sregex_iterator it(s.begin(), s.end(), row), end; it != end; ++it) bits.push_back((*it)[1].str() + "=" + (*it)[2].str());
  return bits;
}

std::vector<std::string> sum_bits(const fs::path& json, const std::string& dist, const std::string& dtype) {
  const testing::CliResult r = testing::cli({"sum", "--n", "100003", "--runs", "2", "--backend", "cpu", "--threads", "2",
                                             "--dist", dist, "--dtype", dtype, "--json", json.string()});
  if (r.code != 0) return {"exit " + std::to_string(r.code) + ": " + r.err};
  return deterministic_bits(json);
}

// In a child process (a trap kills the child, not the test binary): every exception unmasked,
// inexact included, upward rounding, FTZ and DAZ; `driftlab sum` must give the bits it gives here.
TEST(FpEnvDeathTest, TheCommandLineGivesTheDefaultsBitsInAHostileEnvironment) {
  const fs::path dir = fs::temp_directory_path() / ("driftlab_fp_env_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::vector<std::pair<std::string, std::string>> cases = {{"uniform", "f32"}, {"illcond", "f32"},
                                                                   {"normal", "f64"}, {"illcond", "bf16"}};
  std::vector<std::vector<std::string>> want;
  for (const auto& [dist, dtype] : cases) {
    want.push_back(sum_bits(dir / "want.json", dist, dtype));
    ASSERT_EQ(want.back().size(), 3u) << dist << " " << dtype << ": " << (want.back().empty() ? "" : want.back()[0]);
  }
  const fs::path got = dir / "got.json";  // made before: libstdc++'s path append uses floating point
  // Every exception unmasked (a trap, unless reset), then none (upward rounding and FTZ/DAZ alone
  // would change the serial and tree bits silently).
  for (const int unmask : {FE_ALL_EXCEPT, 0}) {
    EXPECT_EXIT(
        {
          make_hostile(unmask);
          for (std::size_t c = 0; c < cases.size(); ++c)
            if (sum_bits(got, cases[c].first, cases[c].second) != want[c]) std::exit(3);
          std::exit(0);
        },
        ::testing::ExitedWithCode(0), "")
        << "driftlab sum in a hostile floating-point environment (unmasked 0x" << std::hex << unmask
        << "): a trap, or bits other than the default's";
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace driftlab
