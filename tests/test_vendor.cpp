// cost_vs_vendor: every sum and predict row also gives its cost against the vendor baseline
// (read probe / OpenBLAS on the CPU), measured in the same run, in the table and the JSON --
// also when the runs come from child processes.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>

#include "host/backends/openblas_kernels.h"

namespace driftlab {
namespace {

std::string tmp(const std::string& name) { return std::string(DRIFTLAB_TEST_TMP) + "/vendor_" + name; }

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// Runs the real binary; returns the JSON text, after checking every row has a positive cost_vs_vendor.
std::string run_json(const std::string& args, const std::string& name, const std::string& vendor, int rows) {
  const std::string json = tmp(name + ".json"), table = tmp(name + ".txt");
  std::remove(json.c_str());
  const std::string cmd = std::string(DRIFTLAB_EXE) + " " + args + " --json " + json + " >" + table;
  const int status = std::system(cmd.c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << cmd;
  const std::string text = slurp(json);
  const std::regex cost("\"vendor\": \"" + vendor + "[^\"]*\",\\s*\"cost_vs_vendor\": ([0-9.eE+-]+)");
  int found = 0;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), cost); it != std::sregex_iterator(); ++it, ++found)
    EXPECT_GT(std::stod((*it)[1]), 0.0) << (*it)[0];
  EXPECT_EQ(found, rows) << text;
  EXPECT_NE(slurp(table).find("vs_vendor = relative to " + vendor), std::string::npos);
  return text;
}

TEST(Vendor, SumRowsCarryCostVsTheReadProbe) {
  run_json("sum --backend cpu --n 200000 --runs 3", "sum", "read_probe", 5);
  run_json("sum --backend cpu --variant exact --dist illcond --n 200000 --runs 3", "sum_one", "read_probe", 1);
}

TEST(Vendor, PredictRowsCarryCostVsOpenBlas) {
  const std::string text =
      run_json("predict --backend cpu --layers 50,200,10 --init-seed 1 --runs 3 --batch 8", "predict", "openblas", 3);
  // A fair baseline (host/backends/openblas_kernels.h): on a CPU with AVX2, never OpenBLAS's SSE-era
  // kernels, which Debian's OpenBLAS picks on Xeons it does not know (unless the user asked for them).
  if (__builtin_cpu_supports("avx2") && !std::getenv("OPENBLAS_CORETYPE")) {
    const std::string key = "\"vendor\": \"openblas ";
    for (std::size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + 1)) {
      const std::size_t from = at + key.size();
      const std::string core = text.substr(from, text.find_first_of(" \"", from) - from);
      EXPECT_FALSE(openblas_core_is_old(core)) << core;
    }
  }
  run_json("predict --backend cpu --layers 50,200,10 --init-seed 1 --runs 2 --processes 2 --variant invariant",
           "predict_children", "openblas", 1);
}

}  // namespace
}  // namespace driftlab
