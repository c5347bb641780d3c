// DRIFTLAB_ISA: the ceiling every CPU dispatcher reads once per process.  Run the real binary
// under each ceiling this CPU allows and compare the deterministic outputs bit for bit; a bad
// value is one line on stderr and exit status 1.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <algorithm>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>
#include <vector>

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
  std::vector<std::string> v = {"scalar"};
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) v.push_back("avx2");
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) v.push_back("avx512");
#endif
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

TEST(Isa, BadValueIsOneLineAndExitOne) {
  const std::string err = tmp("bad_stderr.txt");
  const std::string cmd = std::string("DRIFTLAB_ISA=sse9 ") + DRIFTLAB_EXE + " sum --backend cpu --variant exact --n 1000 --runs 1 >/dev/null 2>" + err;
  EXPECT_EQ(run(cmd), 1);
  const std::string text = slurp(err);
  EXPECT_NE(text.find("DRIFTLAB_ISA"), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
}

}  // namespace
}  // namespace driftlab
