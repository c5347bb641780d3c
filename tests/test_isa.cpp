// DRIFTLAB_ISA: the ceiling the one CPU dispatcher (kernels/cpu/isa.h) reads once per process.
// Run the real binary under each ceiling this CPU allows and compare the deterministic outputs bit
// for bit; a bad value is one line on stderr and exit status 2, before any work.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

#include "kernels/cpu/isa.h"

namespace driftlab {
namespace {

std::string tmp(const std::string& name) { return std::string(DRIFTLAB_TEST_TMP) + "/isa_" + name; }

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

int run(const std::string& cmd) {
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::vector<std::string> ceilings() {
  std::vector<std::string> v;
  for (int l = 0; l <= static_cast<int>(cpu::isa_detected()); ++l) v.push_back(cpu::isa_name(static_cast<cpu::Isa>(l)));
  return v;
}

TEST(Isa, EveryCeilingGivesTheSameBits) {
  const std::vector<std::string> levels = ceilings();
  std::printf("DRIFTLAB_ISA levels run: %zu\n", levels.size());
  // Batches on both sides of the GEMV threshold (1, 3: streamed; 9: blocked); a wide-range sum.
  std::string first_predict[3], first_sum;
  for (const std::string& isa : levels) {
    const std::size_t batches[3] = {1, 3, 9};
    for (int i = 0; i < 3; ++i) {
      const std::string out = tmp(isa + "_b" + std::to_string(batches[i]) + ".npy");
      std::remove(out.c_str());
      const std::string cmd = "DRIFTLAB_ISA=" + isa + " " + DRIFTLAB_EXE +
                              " predict --backend cpu --variant invariant --layers 70,300,50,10 --init-seed 5 --runs 1"
                              " --batch " + std::to_string(batches[i]) + " --save-output " + out + " >/dev/null";
      ASSERT_EQ(run(cmd), 0) << cmd;
      const std::string bytes = slurp(out);
      ASSERT_FALSE(bytes.empty()) << out;
      if (first_predict[i].empty()) first_predict[i] = bytes;
      EXPECT_EQ(bytes, first_predict[i]) << "predict batch " << batches[i] << " under DRIFTLAB_ISA=" << isa;
    }
    const std::string json = tmp(isa + "_sum.json");
    std::remove(json.c_str());
    const std::string cmd = "DRIFTLAB_ISA=" + isa + " " + DRIFTLAB_EXE +
                            " sum --backend cpu --variant exact --dist illcond --n 300000 --runs 1 --json " + json +
                            " >/dev/null";
    ASSERT_EQ(run(cmd), 0) << cmd;
    std::smatch m;
    const std::string text = slurp(json);
    ASSERT_TRUE(std::regex_search(text, m, std::regex("\"result\": \"([^\"]+)\""))) << text;
    if (first_sum.empty()) first_sum = m[1];
    EXPECT_EQ(m[1], first_sum) << "exact sum under DRIFTLAB_ISA=" << isa;
  }
}

TEST(Isa, BadValueIsOneLineAndExitTwo) {
  const std::string err = tmp("bad_stderr.txt");
  const std::string cmd = std::string("DRIFTLAB_ISA=sse9 ") + DRIFTLAB_EXE + " sum --backend cpu --variant exact --n 1000 --runs 1 >/dev/null 2>" + err;
  EXPECT_EQ(run(cmd), 2);
  const std::string text = slurp(err);
  EXPECT_NE(text.find("DRIFTLAB_ISA must be avx512, avx2 or scalar, got 'sse9'"), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
}

// The dispatcher itself: the names round-trip, the level never exceeds what the CPU runs, and the
// family caps (the tests' hooks) lower one family only.
TEST(Isa, NamesLevelsAndFamilyCaps) {
  for (cpu::Isa l : {cpu::Isa::scalar, cpu::Isa::avx2, cpu::Isa::avx512}) {
    ASSERT_TRUE(cpu::parse_isa(cpu::isa_name(l)).has_value());
    EXPECT_EQ(*cpu::parse_isa(cpu::isa_name(l)), l);
  }
  for (const char* bad : {"", "AVX512", "avx512 ", "sse2", "avx"}) EXPECT_FALSE(cpu::parse_isa(bad).has_value()) << bad;
  EXPECT_FALSE(cpu::parse_isa(nullptr).has_value());
  if (cpu::isa_env_error()) GTEST_SKIP() << "this process runs under a bad DRIFTLAB_ISA";
  const cpu::Isa level = cpu::isa_level();
  EXPECT_LE(static_cast<int>(level), static_cast<int>(cpu::isa_detected()));
  using cpu::detail::IsaFamily;
  cpu::detail::force_isa(IsaFamily::sum, cpu::Isa::scalar);
  EXPECT_EQ(cpu::detail::isa_level(IsaFamily::sum), cpu::Isa::scalar);
  EXPECT_EQ(cpu::detail::isa_level(IsaFamily::gemm), level);
  cpu::detail::force_isa(IsaFamily::sum, cpu::Isa::avx512);
  EXPECT_EQ(cpu::detail::isa_level(IsaFamily::sum), level);
}

// Detection on a CPU whose level the runner knows: tests/check_isa_emulated.py runs these tests
// under QEMU's emulated CPUs and sets DRIFTLAB_EXPECT_ISA (Haswell, AVX2 without AVX-512: avx2;
// IvyBridge, AVX and F16C without AVX2 or FMA: scalar).  Skipped elsewhere: the machines vary.
TEST(Isa, DetectionGivesTheLevelTheRunnerExpects) {
  const char* want = std::getenv("DRIFTLAB_EXPECT_ISA");
  if (!want || !*want) GTEST_SKIP() << "DRIFTLAB_EXPECT_ISA is not set (tests/check_isa_emulated.py sets it)";
  EXPECT_STREQ(cpu::isa_name(cpu::isa_detected()), want);
}

// Every command and every CPU kernel family obeys it: attention (which had its own dispatcher and
// ignored DRIFTLAB_ISA) is refused before any work, and each level gives the same output (seen
// through ref_max_rel_err, a function of every output bit; test_attention.cpp checks the bits).
TEST(Isa, AttentionObeysTheCeiling) {
  const std::string err = tmp("attn_bad_stderr.txt");
  EXPECT_EQ(run(std::string("DRIFTLAB_ISA=garbage ") + DRIFTLAB_EXE + " attention --backend cpu >/dev/null 2>" + err), 2);
  EXPECT_NE(slurp(err).find("DRIFTLAB_ISA"), std::string::npos) << slurp(err);
  std::string first;
  for (const std::string& isa : ceilings()) {
    const std::string json = tmp(isa + "_attn.json");
    std::remove(json.c_str());
    const std::string cmd = "DRIFTLAB_ISA=" + isa + " " + DRIFTLAB_EXE +
                            " attention --backend cpu --variant fixed_split --runs 1 --batch-sweep off --json " + json +
                            " >/dev/null";
    ASSERT_EQ(run(cmd), 0) << cmd;
    std::smatch m;
    const std::string text = slurp(json);
    ASSERT_TRUE(std::regex_search(text, m, std::regex("\"ref_max_rel_err\": ([^,]+),"))) << text.substr(0, 400);
    if (first.empty()) first = m[1];
    EXPECT_EQ(m[1], first) << "attention under DRIFTLAB_ISA=" << isa;
  }
}

// Every CPU row's device names the level its kernels ran ("MODEL, N threads, LEVEL kernels",
// cpu_device in host/backends/backend.h), so a timing says which code made it: sum, predict and
// attention under each ceiling this CPU allows.
TEST(Isa, CpuRowsNameTheLevelTheirKernelsRan) {
  for (const std::string& isa : ceilings()) {
    for (const std::string& cmd : {std::string("sum --n 70000 --runs 2"), std::string("predict --layers 16,32,4 --runs 2"),
                                   std::string("attention --batch 1 --heads 1 --kv-len 64 --runs 2 --batch-sweep off")}) {
      const std::string json = tmp(isa + "_device.json");
      std::remove(json.c_str());
      const std::string line = "DRIFTLAB_ISA=" + isa + " " + DRIFTLAB_EXE + " " + cmd + " --backend cpu --json " + json + " >/dev/null";
      ASSERT_EQ(run(line), 0) << line;
      const std::string text = slurp(json);
      const std::regex device("\"device\": \"([^\"]*)\"");
      int rows = 0;
      for (auto it = std::sregex_iterator(text.begin(), text.end(), device); it != std::sregex_iterator(); ++it, ++rows) {
        const std::string d = (*it)[1];
        const std::string want = ", " + isa + " kernels";
        EXPECT_TRUE(d.size() > want.size() && d.compare(d.size() - want.size(), want.size(), want) == 0)
            << line << ": device \"" << d << "\"";
      }
      EXPECT_GT(rows, 0) << line << ": no rows";
    }
  }
}

}  // namespace
}  // namespace driftlab
