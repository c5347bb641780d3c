// The command line on good and bad inputs: bad input ends in one line on stderr and a nonzero
// exit, never a crash.  Most cases run in-process; a few run the real binary.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "host/cli/cli.h"
#include "host/common/columns.h"
#include "tests/cli_helpers.h"
#include "host/backends/gpu.h"
#include "host/io/npy.h"

namespace driftlab {
namespace {

using testing::cli;
using testing::CliResult;
using testing::expect_one_line_error;

std::string tmp(const std::string& name) { return std::string(DRIFTLAB_TEST_TMP) + "/cli_" + name; }

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

// A v1.0 .npy image with the given header dict and payload.
std::string npy_image(const std::string& dict, const std::string& payload) {
  std::string header = dict;
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::string s = "\x93NUMPY";
  s += '\x01';
  s += '\x00';
  s += static_cast<char>(header.size() & 0xff);
  s += static_cast<char>(header.size() >> 8);
  return s + header + payload;
}

TEST(Cli, HelpExplainsEveryFlag) {
  const CliResult r = cli({"sum", "--help"});
  EXPECT_EQ(r.code, 0);
  for (const char* flag : {"--n", "--variant", "--backend", "--runs", "--dtype", "--dist", "--seed", "--input",
                           "--threads", "--schedule", "--json"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
  EXPECT_EQ(cli({"--help"}).code, 0);
}

TEST(Cli, BadCommandLines) {
  expect_one_line_error(cli({"sum", "--bogus", "1"}), "unknown option '--bogus'");
  expect_one_line_error(cli({"frobnicate"}), "unknown command");
  expect_one_line_error(cli({"sum", "--variant", "fast"}), "unknown variant 'fast'");
  expect_one_line_error(cli({"sum", "--variant", "cub", "--backend", "cpu", "--n", "10"}), "cub is CUDA only");
  expect_one_line_error(cli({"sum", "--n", "ten"}), "--n");
  expect_one_line_error(cli({"sum", "--n", "-5"}), "--n");
  expect_one_line_error(cli({"sum", "--runs", "0"}), "--runs");
  expect_one_line_error(cli({"sum", "--dtype", "f8"}), "--dtype");  // f16 and bf16 are valid (test_half_sum.cpp)
  expect_one_line_error(cli({"sum", "--dist", "cauchy"}), "--dist");
  expect_one_line_error(cli({"sum", "--schedule", "random"}), "shuffle:SEED");
  expect_one_line_error(cli({"sum", "--backend", "tpu"}), "--backend");
  expect_one_line_error(cli({"sum", "--n"}), "needs a value");
  expect_one_line_error(cli({"sum", "stray"}), "unexpected argument");
}

// A flag that changes only some variants (--split-k: those that cut K; --schedule: those whose adds
// race; attention's --split-size: fixed_split), given when the command runs none of them, would
// change nothing: refused in one line that names what it applies to.  With one of them, or all
// variants, it is accepted.
TEST(Cli, FlagsThatChangeNoChosenVariantAreRefused) {
  expect_one_line_error(cli({"predict", "--variant", "invariant", "--split-k", "4"}),
                        "--split-k: variant 'invariant' has no slices of K (--split-k applies to atomic, tree)");
  expect_one_line_error(cli({"predict", "--variant", "cublas", "--split-k", "2"}), "variant 'cublas' has no slices of K");
  expect_one_line_error(cli({"predict", "--variant", "tree", "--schedule", "shuffle:3"}),
                        "--schedule: variant 'tree' has no atomic adds to reorder (--schedule applies to atomic)");
  expect_one_line_error(cli({"predict", "--variant", "invariant", "--schedule", "shuffle:3"}), "variant 'invariant' has no");
  expect_one_line_error(cli({"trace", "--compare", "runs:0,1", "--schedule", "shuffle:1"}),
                        "--schedule: variant 'tree' (trace's default) has no atomic adds");
  expect_one_line_error(cli({"trace", "--compare", "batch:1,4", "--variant", "invariant", "--split-k", "4"}),
                        "--split-k: variant 'invariant' has no slices of K");
  expect_one_line_error(cli({"trace", "--compare", "variant:tree,invariant", "--schedule", "shuffle:1"}),
                        "--schedule: variants 'tree' and 'invariant' have no atomic adds to reorder");
  expect_one_line_error(cli({"trace", "--compare", "variant:invariant,cublas", "--split-k", "2"}),
                        "variants 'invariant' and 'cublas' have no slices of K");
  for (const char* v : {"serial", "tree", "exact"})
    expect_one_line_error(cli({"sum", "--variant", v, "--schedule", "shuffle:3"}),
                          "--schedule: variant '" + std::string(v) +
                              "' has no atomic adds to reorder (--schedule applies to atomic_element, atomic)");
  for (const char* v : {"split_count", "fixed_split", "single"})
    expect_one_line_error(cli({"attention", "--variant", v, "--schedule", "shuffle:2"}),
                          "variant '" + std::string(v) + "' has no atomic adds to reorder");
  for (const char* v : {"split_count", "atomic", "single"})
    expect_one_line_error(cli({"attention", "--variant", v, "--split-size", "64"}),
                          "--split-size: variant '" + std::string(v) +
                              "' has no fixed chunk (--split-size applies to fixed_split)");

  const std::vector<std::vector<std::string>> accepted = {
      {"predict", "--variant", "atomic", "--split-k", "4", "--schedule", "shuffle:1", "--runs", "1"},
      {"predict", "--variant", "tree", "--split-k", "3", "--runs", "1"},
      {"predict", "--variant", "all", "--split-k", "3", "--schedule", "shuffle:1", "--runs", "1"},
      {"trace", "--compare", "variant:tree,invariant", "--split-k", "3", "--init-seed", "1"},
      {"trace", "--compare", "variant:atomic,invariant", "--schedule", "shuffle:1", "--init-seed", "1"},
      {"sum", "--variant", "atomic_element", "--schedule", "shuffle:3", "--n", "100", "--runs", "2"},
      {"sum", "--variant", "all", "--backend", "cpu", "--schedule", "shuffle:3", "--n", "100", "--runs", "2"},
      {"attention", "--variant", "fixed_split", "--split-size", "16", "--batch", "1", "--heads", "1", "--head-dim", "8",
       "--kv-len", "64", "--runs", "1", "--batch-sweep", "off"},
      {"attention", "--variant", "atomic", "--schedule", "shuffle:2", "--batch", "1", "--heads", "1", "--head-dim", "8",
       "--kv-len", "64", "--runs", "1", "--batch-sweep", "off"}};
  for (const auto& args : accepted) {
    const CliResult r = cli(args);
    EXPECT_EQ(r.code, 0) << args[0] << " " << args[2] << ": " << r.err;
  }
}

TEST(Cli, NBeyondMemoryIsAnErrorNotACrash) {
  expect_one_line_error(cli({"sum", "--backend", "cpu", "--n", "2^50"}), "memory");
}

TEST(Cli, CudaBackendWithoutAGpuSaysWhy) {
  if (gpu_status().usable) GTEST_SKIP() << "a GPU is usable here, so --backend cuda is valid";
  const CliResult r = cli({"sum", "--backend", "cuda", "--n", "10"});
  expect_one_line_error(r, "--backend cuda");
}

TEST(Cli, ZeroElementsSumToZero) {
  const std::string json = tmp("zero.json");
  const CliResult r = cli({"sum", "--backend", "cpu", "--n", "0", "--runs", "2", "--json", json});
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream f(json);
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("\"result\": \"0\""), std::string::npos) << text;
  EXPECT_EQ(text.find("\"result\": \"-0\""), std::string::npos) << text;
}

TEST(Cli, AllVariantsTableAndJson) {
  const std::string json = tmp("all.json");
  const CliResult r = cli({"sum", "--backend", "cpu", "--n", "100003", "--runs", "3", "--threads", "2", "--dist",
                        "illcond", "--schedule", "shuffle:4", "--json", json});
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* v : {"serial", "atomic_element", "atomic", "tree", "exact"}) EXPECT_NE(r.out.find(v), std::string::npos);
  EXPECT_NE(r.out.find("MODEL"), std::string::npos) << "a shuffle schedule must be labelled as a model";
  std::ifstream f(json);
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  for (const char* key : {"\"backend\"", "\"device\"", "\"variant\"", "\"dtype\"", "\"n\"", "\"runs\"",
                          "\"distinct_outputs\"", "\"ratio_non_equal\"", "\"max_ulp\"", "\"vs_max\"",
                          "\"max_abs_diff\"", "\"error_ulp\"", "\"result\"", "\"result_bits\"", "\"median_ms\"",
                          "\"gbps\"", "\"cost_vs_atomic\""})
    EXPECT_NE(text.find(key), std::string::npos) << key;
  // tree and exact: one output; exact's error is 0 ULP.
  const auto exact_row = text.find("\"variant\": \"exact\"");
  ASSERT_NE(exact_row, std::string::npos);
  EXPECT_NE(text.find("\"distinct_outputs\": 1", exact_row), std::string::npos);
  EXPECT_NE(text.find("\"error_ulp\": 0", exact_row), std::string::npos);
}

// The table's columns never run together: a float64 ill-conditioned sum's ULP counts (the serial
// sum's error is billions of ULPs; the shuffled atomics' spread likewise) widen their columns, so
// every row ends in the header's ten numeric fields, each its own word.
TEST(Cli, SumTableKeepsWideUlpCountsApart) {
  const CliResult r = cli({"sum", "--backend", "cpu", "--dtype", "f64", "--n", "100003", "--runs", "3", "--threads", "2",
                           "--dist", "illcond", "--schedule", "shuffle:4"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  bool header = false;
  int rows = 0;
  std::size_t widest = 0;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::vector<std::string> w;
    for (std::string t; words >> t;) w.push_back(t);
    if (!w.empty() && w[0] == "variant") {
      header = true;
      ASSERT_GE(w.size(), 12u) << line;
      EXPECT_EQ(w[w.size() - 8], "max_ulp") << line;
      EXPECT_EQ(w[w.size() - 7], "error_ulp") << line;
      continue;
    }
    if (!header || w.size() < 12 || line.find("cost =") != std::string::npos) continue;
    ++rows;
    // From the right: vs_vendor, cost, GB/s, median_ms, result, vs_max, error_ulp, max_ulp, non_equal, distinct.
    for (const std::size_t k : {w.size() - 8, w.size() - 7, w.size() - 10}) {
      EXPECT_EQ(w[k].find_first_not_of("0123456789"), std::string::npos) << "not one count: '" << w[k] << "' in " << line;
      widest = std::max(widest, w[k].size());
    }
  }
  EXPECT_EQ(rows, 5) << r.out;
  EXPECT_GE(widest, 10u) << "no ULP count wider than the old columns: the case tests nothing\n" << r.out;
}

// The other commands' tables (predict, attention, allreduce, predict --tp) right-align their
// numbers with Col (host/common/columns.h): the same width as std::setw when the value fits, and
// one space before a value that does not.
TEST(Cli, TableColumnsKeepASpaceBeforeAValueWiderThanThem) {
  std::ostringstream o;
  o << "x" << Col{6} << "12345" << Col{6} << "1234567890" << Col{6} << "7";
  EXPECT_EQ(o.str(), "x 12345 1234567890     7");
}

TEST(Cli, NpyInputGoodAndBad) {
  HostArray a;
  a.dtype = DType::f64;
  a.f64 = {1.0, 1e100, 2.0, -1e100};
  a.shape = {4};
  const std::string good = tmp("good.npy");
  npy::write(good, a);
  const CliResult ok = cli({"sum", "--backend", "cpu", "--input", good, "--variant", "exact", "--runs", "1"});
  ASSERT_EQ(ok.code, 0) << ok.err;
  EXPECT_NE(ok.out.find("exact sum: 3 "), std::string::npos) << ok.out;

  a.shape = {2, 2};
  const std::string two_d = tmp("2d.npy");
  npy::write(two_d, a);
  expect_one_line_error(cli({"sum", "--backend", "cpu", "--input", two_d}), "1-D");

  const std::string trunc = tmp("trunc.npy");
  write_bytes(trunc, npy_image("{'descr': '<f4', 'fortran_order': False, 'shape': (10,), }", std::string(12, '\0')));
  expect_one_line_error(cli({"sum", "--backend", "cpu", "--input", trunc}), trunc);

  const std::string ints = tmp("ints.npy");
  write_bytes(ints, npy_image("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", std::string(8, '\0')));
  expect_one_line_error(cli({"sum", "--backend", "cpu", "--input", ints}), "i4");

  const std::string junk = tmp("junk.npy");
  write_bytes(junk, "this is not numpy");
  expect_one_line_error(cli({"sum", "--backend", "cpu", "--input", junk}), junk);

  expect_one_line_error(cli({"sum", "--backend", "cpu", "--input", tmp("missing.npy")}), "missing.npy");
  expect_one_line_error(cli({"sum", "--input", good, "--n", "5"}), "--n and --input");
  expect_one_line_error(cli({"sum", "--backend", "cpu", "--input", good, "--dtype", "f32"}), "holds f64");
}

// The real binary: exit status and stderr as a user sees them.
TEST(Cli, RealProcessExitsNonzeroWithOneLine) {
  const std::string err = tmp("stderr.txt");
  const std::string cmd = std::string(DRIFTLAB_EXE) + " sum --variant nope 2>" + err + " >/dev/null";
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  std::ifstream f(err);
  std::string line, extra;
  std::getline(f, line);
  EXPECT_NE(line.find("unknown variant"), std::string::npos);
  EXPECT_FALSE(std::getline(f, extra)) << "more than one line on stderr";

  const std::string ok = std::string(DRIFTLAB_EXE) + " sum --backend cpu --n 1000 --runs 2 >/dev/null 2>&1";
  const int ok_status = std::system(ok.c_str());
  ASSERT_TRUE(WIFEXITED(ok_status));
  EXPECT_EQ(WEXITSTATUS(ok_status), 0);
}

// Issue 20: -h is --help for every command (one flag parser); an empty path names its flag.
TEST(Cli, DashHAndEmptyPaths) {
  for (const char* cmd : {"sum", "predict", "trace", "attention", "scenarios", "report"}) {
    const auto r = testing::cli({cmd, "-h"});
    EXPECT_EQ(r.code, 0) << cmd << ": " << r.err;
    EXPECT_EQ(r.out.rfind(std::string("usage: driftlab ") + cmd, 0), 0u) << cmd;
  }
  for (const auto& [cmd, flag] : std::vector<std::pair<std::string, std::string>>{
           {"sum", "--input"}, {"sum", "--json"}, {"predict", "--weights"}, {"predict", "--save-output"},
           {"attention", "--json"}, {"scenarios", "--keras"}, {"report", "--bench-json"}, {"report", "--out"}}) {
    const auto r = testing::cli({cmd, flag, ""});
    EXPECT_EQ(r.code, 2) << cmd << " " << flag;
    testing::expect_one_line_error(r, flag + ": expected a file name");
  }
}

// Issue 20: the table is the result; a stream that cannot take it is a failure, in one line.
TEST(Cli, UnwritableOutputIsAFailure) {
  struct Full : std::streambuf {
    int overflow(int) override { return traits_type::eof(); }
  } full;
  std::ostream out(&full);
  std::ostringstream err;
  const char* argv[] = {"driftlab", "--help"};
  EXPECT_EQ(run_cli(2, argv, out, err), 1);
  EXPECT_NE(err.str().find("cannot write to standard output"), std::string::npos) << err.str();
  EXPECT_EQ(err.str().find('\n'), err.str().size() - 1) << err.str();
}

}  // namespace
}  // namespace driftlab
