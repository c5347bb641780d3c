// Tensor parallelism in predict (kernels/common/tp_order.h, host/distributed/tp_sim.cpp,
// host/distributed/tp_mpi.cpp): invariant gives the same bits at every TP size, equal to the
// single-process order; exact is the exact sum of the P partials rounded once; ring moves with P;
// every MPI execution equals its simulation.  Bad --tp input is one line, exit 2.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "host/distributed/allreduce_mpi.h"
#include "host/distributed/tp_sim.h"
#include "host/io/data.h"
#include "host/io/json_read.h"
#include "host/model/model.h"
#include "kernels/common/tp_order.h"
#include "kernels/cpu/sum.h"
#include "tests/mpi_skip.h"
#include "tests/cli_helpers.h"

namespace driftlab {
namespace {

using testing::mpi_skip_reason;

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// A model whose first layer spans three 256-chunks (K = 700) and whose second spans two, with
// inputs of both signs; `wild` plants huge weights of opposite signs in different chunks, so the
// chunk partials cancel and span many binades (the exact all-reduce's wide and fallback passes).
struct Case {
  Model m;
  std::vector<float> x;
  std::size_t B = 3;
};
Case make_case(bool wild, std::uint64_t seed = 7) {
  Case c;
  c.m = make_model({700, 300, 40, 5}, 0.0f, seed);
  c.x = make_input(Dist::normal, DType::f32, c.B * 700, seed + 1).f32;
  if (wild) {
    Layer& l = c.m.layers[0];
    for (std::size_t j = 0; j < l.N; j += 3) {
      l.W[5 * l.N + j] = 3.0e30f;     // chunk 0
      l.W[300 * l.N + j] = -3.0e30f;  // chunk 1
      l.W[600 * l.N + j] = 1.0e-30f;  // chunk 2
    }
  }
  return c;
}

TEST(TpOrder, ChunksDoNotDependOnP) {
  EXPECT_EQ(tp::chunk_count(1), 1u);
  EXPECT_EQ(tp::chunk_count(256), 1u);
  EXPECT_EQ(tp::chunk_count(257), 2u);
  EXPECT_EQ(tp::chunk_range(700, 2).begin, 512u);
  EXPECT_EQ(tp::chunk_range(700, 2).end, 700u);
  // mpi/ring/exact: contiguous ranges covering K, some empty when P > K.
  std::size_t covered = 0;
  for (std::size_t r = 0; r < 8; ++r) {
    const auto k = tp::rank_k_range(5, 8, r);
    EXPECT_EQ(k.begin, covered);
    covered = k.end;
  }
  EXPECT_EQ(covered, 5u);
}

// partials interleaves the chains across j; each output must still be chain's bits.
TEST(TpOrder, PartialsAreTheChains) {
  const Case c = make_case(true);
  const Layer& l = c.m.layers[0];
  const tp::KRange r = tp::rank_k_range(l.K, 3, 1);
  std::vector<float> p(c.B * l.N), q(c.B * l.N);
  tp::partials(c.x.data(), l.W.data(), c.B, l.K, l.N, r, p.data());
  for (std::size_t i = 0; i < c.B; ++i)
    for (std::size_t j = 0; j < l.N; ++j) q[i * l.N + j] = tp::chain(c.x.data(), l.W.data(), l.K, l.N, i, j, r);
  EXPECT_TRUE(same_bits(p, q));
}

// The core promise: the same bits at TP 1..8, bitwise the single-process order.
TEST(TpOrder, InvariantEqualsSingleProcessAtTp1To8) {
  for (const bool wild : {false, true}) {
    const Case c = make_case(wild);
    const std::vector<float> single = tp::invariant_forward(c.m, c.x, c.B);
    for (std::size_t P = 1; P <= 8; ++P)
      EXPECT_TRUE(same_bits(tp::simulate_tp(tp::TpVariant::invariant, c.m, c.x, c.B, P), single))
          << "P=" << P << (wild ? " (wild)" : "");
  }
}

// exact: per output, the exact sum of the P rank partials (cpu::sum_exact) rounded once, + b, act.
TEST(TpOrder, ExactIsTheExactSumOfThePPartials) {
  const Case c = make_case(true);
  Model one;
  one.layers = {c.m.layers[0]};
  one.layers[0].act = dense::Activation::relu;
  const Layer& l = one.layers[0];
  for (const std::size_t P : {1u, 2u, 3u, 5u, 8u}) {
    std::vector<float> parts(P * c.B * l.N), want(c.B * l.N), col(P);
    for (std::size_t r = 0; r < P; ++r)
      tp::partials(c.x.data(), l.W.data(), c.B, l.K, l.N, tp::rank_k_range(l.K, P, r), parts.data() + r * c.B * l.N);
    for (std::size_t e = 0; e < want.size(); ++e) {
      for (std::size_t r = 0; r < P; ++r) col[r] = parts[r * want.size() + e];
      const float s = cpu::sum_exact(col.data(), P, cpu::SumContext{});
      want[e] = dense::activate(s + l.b[e % l.N], l.act);
    }
    EXPECT_TRUE(same_bits(tp::simulate_tp(tp::TpVariant::exact, one, c.x, c.B, P), want)) << "P=" << P;
  }
}

// The drift the variants exist to show: ring's simulation is deterministic, so its output at TP 3
// differing from TP 1 on this data is a fact, not a measurement that may flake.
TEST(TpOrder, RingAndExactMoveWithPInvariantDoesNot) {
  const Case c = make_case(false);
  const auto ring1 = tp::simulate_tp(tp::TpVariant::ring, c.m, c.x, c.B, 1);
  EXPECT_FALSE(same_bits(tp::simulate_tp(tp::TpVariant::ring, c.m, c.x, c.B, 3), ring1));
  EXPECT_FALSE(same_bits(tp::simulate_tp(tp::TpVariant::exact, c.m, c.x, c.B, 3),
                         tp::simulate_tp(tp::TpVariant::exact, c.m, c.x, c.B, 1)));
  // At TP 1 there is nothing to all-reduce: ring and exact are the plain chain, + b, act.
  EXPECT_TRUE(same_bits(ring1, tp::simulate_tp(tp::TpVariant::exact, c.m, c.x, c.B, 1)));
  EXPECT_THROW(tp::simulate_tp(tp::TpVariant::mpi, c.m, c.x, c.B, 2), std::invalid_argument);
}

TEST(TpOrder, ResultFileRoundTripsAndRefusesBadBytes) {
  tp::TpFile f{3, 2, {{tp::TpVariant::invariant, 1, 0.5, {1.0f, -0.0f}}}};
  const std::string s = tp::encode_tp_file(f);
  const tp::TpFile g = tp::decode_tp_file(s);
  EXPECT_EQ(g.ranks, 3u);
  ASSERT_EQ(g.results.size(), 1u);
  EXPECT_TRUE(same_bits(g.results[0].out, f.results[0].out));
  EXPECT_THROW(tp::decode_tp_file(s.substr(0, s.size() - 1)), std::runtime_error);
  EXPECT_THROW(tp::decode_tp_file(s + "x"), std::runtime_error);
  EXPECT_THROW(tp::decode_tp_file("nonsense"), std::runtime_error);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::map<std::string, JsonValue> rows_of(const std::string& json_path) {
  const JsonValue j = parse_json(slurp(json_path));
  std::map<std::string, JsonValue> rows;
  for (const auto& row : j.find("rows")->items) rows[row.find("tp_variant")->str] = row;
  return rows;
}

TEST(TpCli, SimulateReportsOneInvariantOutputAndRingDrift) {
  const std::string json = std::string(DRIFTLAB_TEST_TMP) + "/tp-sim.json";
  const auto r = testing::cli({"predict", "--tp", "1,2,3,4,8", "--simulate", "--layers", "600,50,10", "--batch", "2",
                               "--init-seed", "3", "--json", json});
  ASSERT_EQ(r.code, 0) << r.err;
  auto rows = rows_of(json);
  ASSERT_EQ(rows.size(), 3u);  // no mpi row: it is measured, not simulated
  EXPECT_EQ(rows["invariant"].find("tp_distinct")->num, 1);
  EXPECT_EQ(rows["invariant"].find("tp_max_ulp")->num, 0);
  EXPECT_TRUE(rows["invariant"].find("equals_single_process")->b);
  EXPECT_GT(rows["ring"].find("tp_distinct")->num, 1);
  EXPECT_TRUE(rows["ring"].find("matches_simulation")->is(JsonValue::Kind::null));
  std::filesystem::remove(json);
}

TEST(TpCli, BadInputIsOneLine) {
  using testing::cli;
  using testing::expect_one_line_error;
  for (const char* bad : {"0", "abc", "1,,2", "100000", ""}) {
    const auto r = cli({"predict", "--tp", bad});
    EXPECT_EQ(r.code, 2) << bad;
    expect_one_line_error(r, "--tp");
  }
  expect_one_line_error(cli({"predict", "--tp", "300"}), "256");
  expect_one_line_error(cli({"predict", "--tp", "2", "--tp-variant", "bogus"}), "--tp-variant");
  expect_one_line_error(cli({"predict", "--tp", "2", "--tp-variant", "ring,"}), "--tp-variant");
  expect_one_line_error(cli({"predict", "--tp-variant", "invariant"}), "--tp");
  expect_one_line_error(cli({"predict", "--tp", "2", "--simulate", "--tp-variant", "mpi"}), "simulated");
  expect_one_line_error(cli({"predict", "--tp", "2", "--mpi-algorithm", "bruck"}), "--mpi-algorithm");
  expect_one_line_error(cli({"predict", "--tp", "2", "--simulate", "--mpi-algorithm", "ring"}), "--simulate");
  expect_one_line_error(cli({"predict", "--mpi-algorithm", "ring"}), "--tp");
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{"--processes", "2"}, {"--batch-sweep", "1,2"}, {"--backend", "cuda"}, {"--dtype", "bf16"},
        {"--training"}, {"--variant", "tree"}, {"--split-k", "2"}, {"--threads", "2"}}) {
    std::vector<std::string> args = {"predict", "--tp", "2", "--simulate"};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto r = cli(args);
    EXPECT_EQ(r.code, 2) << extra[0];
    expect_one_line_error(r, "does not combine with --tp");
  }
  // What cannot fit in memory is refused up front, naming the flags.
  expect_one_line_error(cli({"predict", "--tp", "4096", "--simulate", "--layers", "4,10000,1", "--batch", "1000"}), "--tp");
  // An output that cannot be written is found before the work: one line, exit 1, nothing made.
  const std::string missing = std::string(DRIFTLAB_TEST_TMP) + "/no-such-folder/tp.json";
  const auto r = cli({"predict", "--tp", "2", "--simulate", "--json", missing});
  EXPECT_EQ(r.code, 1);
  expect_one_line_error(r, "--json");
  EXPECT_FALSE(std::filesystem::exists(missing));
}

TEST(TpCli, WithoutMpiSaysWhy) {
  if (allreduce::mpi_built()) GTEST_SKIP() << "this build has MPI (the message is allreduce_no_mpi.cpp's)";
  const auto r = testing::cli({"predict", "--tp", "2"});
  EXPECT_EQ(r.code, 1);
  testing::expect_one_line_error(r, "without MPI");
}

// --- under mpirun ------------------------------------------------------------------------

struct Proc {
  int code;
  std::string out, err;
};
// Runs `prefix driftlab predict args` as a real process (mpirun starts the same binary as the ranks).
Proc run_sh(const std::string& prefix, const std::string& args, const std::string& env = "") {
  const std::string base = std::string(DRIFTLAB_TEST_TMP) + "/tp-" + std::to_string(::getpid());
  const std::string cmd = env + " timeout 120 " + prefix + " '" + DRIFTLAB_EXE + "' predict " + args + " >'" + base +
                          ".out' 2>'" + base + ".err'";
  const int st = std::system(cmd.c_str());
  Proc p{WIFEXITED(st) ? WEXITSTATUS(st) : -1, slurp(base + ".out"), slurp(base + ".err")};
  std::filesystem::remove(base + ".out");
  std::filesystem::remove(base + ".err");
  return p;
}

// Every MPI execution of ring, exact and invariant equals its simulation; invariant is one output
// at TP 1..8, equal to the single-process order.
TEST(TpMpi, InvariantIsOneOutputAtTp1To8AndEveryExecutionEqualsItsSimulation) {
  if (const auto why = mpi_skip_reason(); !why.empty()) GTEST_SKIP() << why;
  const std::string json = std::string(DRIFTLAB_TEST_TMP) + "/tp-mpi.json";
  const auto r = run_sh("", "--tp 1,2,3,4,5,6,7,8 --layers 600,40,10 --batch 2 --init-seed 5 --runs 2 --json '" + json + "'");
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  auto rows = rows_of(json);
  ASSERT_EQ(rows.size(), 4u);
  for (const char* v : {"ring", "exact", "invariant"}) {
    EXPECT_EQ(rows[v].find("matches_simulation")->num, 8) << v;
    EXPECT_EQ(rows[v].find("runs_non_equal")->num, 0) << v;
  }
  EXPECT_EQ(rows["invariant"].find("tp_distinct")->num, 1);
  EXPECT_TRUE(rows["invariant"].find("equals_single_process")->b);
  EXPECT_GT(rows["ring"].find("tp_distinct")->num, 1);
  EXPECT_EQ(rows["mpi"].find("median_ms")->items.size(), 8u);
  std::filesystem::remove(json);
}

// exact and invariant under every algorithm Open MPI has, forced through the MCA parameters: one
// output each at one TP size (their integer all-reduces are associative).
TEST(TpMpi, ExactAndInvariantAreOneOutputUnderEveryMpiAlgorithm) {
  if (const auto why = mpi_skip_reason(); !why.empty()) GTEST_SKIP() << why;
  const std::string json = std::string(DRIFTLAB_TEST_TMP) + "/tp-alg.json";
  const auto r = run_sh("", "--tp 3 --mpi-algorithm all --tp-variant exact,invariant --layers 600,40,10 --init-seed 4 "
                            "--runs 1 --json '" + json + "'");
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  auto rows = rows_of(json);
  for (const char* v : {"exact", "invariant"}) {
    EXPECT_EQ(rows[v].find("tp_distinct")->num, 1) << v;
    EXPECT_EQ(rows[v].find("matches_simulation")->num, 6) << v;
    EXPECT_EQ(rows[v].find("median_ms")->items.size(), 6u) << v;
  }
  std::filesystem::remove(json);
}

// Under a user's own mpirun, rank 0 prints the table with the simulation check.
TEST(TpMpi, UnderTheUsersOwnMpirun) {
  if (const auto why = mpi_skip_reason(); !why.empty()) GTEST_SKIP() << why;
  const std::string mpirun = "'" + allreduce::mpirun_path() + "'" + (::geteuid() == 0 ? " --allow-run-as-root" : "") +
                             " --oversubscribe --bind-to none -np 3";
  const auto r = run_sh(mpirun, "--tp 3 --layers 600,40,10 --init-seed 2 --runs 1");
  ASSERT_EQ(r.code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("3 MPI ranks"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("DIFFERENT"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("equal"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("invariant"), std::string::npos) << r.out;
  // Unseeded ranks would build different models: refused, one line.
  const auto bad = run_sh(mpirun, "--tp 3 --runs 1");
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err.find("--init-seed"), std::string::npos) << bad.err;
}

// The internal worker flag outside mpirun, and a TP size that is not the job's size under a
// user's mpirun: one line from driftlab, before MPI_Init (no MPI_ABORT banner, no line per rank).
TEST(TpMpi, WorkerFlagOutsideMpirunAndMismatchedJobSizeAreOneLine) {
  if (const auto why = mpi_skip_reason(); !why.empty()) GTEST_SKIP() << why;
  const auto direct = testing::cli({"predict", "--tp", "2", "--tp-worker", "--init-seed", "1"});
  EXPECT_EQ(direct.code, 2);
  testing::expect_one_line_error(direct, "internal");
  const std::string mpirun = "'" + allreduce::mpirun_path() + "'" + (::geteuid() == 0 ? " --allow-run-as-root" : "") +
                             " --oversubscribe --bind-to none -np 3";
  for (const std::string& args : {std::string("--tp 2 --init-seed 1 --runs 1"), std::string("--tp 2,3 --init-seed 1"),
                                  std::string("--tp 3 --init-seed 1 --json x.json")}) {
    const auto r = run_sh(mpirun, args);
    EXPECT_EQ(r.code, 2) << args << r.err;
    std::size_t lines = 0;
    for (std::size_t at = r.err.find("driftlab: "); at != std::string::npos; at = r.err.find("driftlab: ", at + 1)) ++lines;
    EXPECT_EQ(lines, 1u) << args << r.err;  // rank 0's line; mpirun's own banner follows it
    EXPECT_EQ(r.err.find("MPI_ABORT"), std::string::npos) << args << r.err;
  }
}

TEST(TpMpi, TimeoutKillsTheJob) {
  if (const auto why = mpi_skip_reason(); !why.empty()) GTEST_SKIP() << why;
  const auto r = run_sh("", "--tp 2 --layers 1024,1024,10 --batch 32 --runs 100000 --tp-variant ring --init-seed 1 --timeout 2");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("did not finish within --timeout 2 s"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace driftlab
