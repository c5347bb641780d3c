// The report and the benchmark binary as users meet them: every benchmark family is listed, and
// `driftlab report --quick` writes its JSON, figures and REPORT.md.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/common/dense_variant.h"
#include "kernels/common/sum_variant.h"
#include "host/backends/gpu.h"
#include "host/backends/openblas_kernels.h"
#include "host/io/json_read.h"
#include "host/report/report.h"
#include "kernels/cpu/isa.h"

namespace driftlab {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

int run(const std::string& cmd) {
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(Bench, ListsEveryFamily) {
#ifndef DRIFTLAB_BENCH_EXE
  GTEST_SKIP() << "built without the benchmark binary (DRIFTLAB_BUILD_BENCH=OFF)";
#else
  const std::string list = std::string(DRIFTLAB_TEST_TMP) + "/bench_list.txt";
  ASSERT_EQ(run(std::string(DRIFTLAB_BENCH_EXE) + " --benchmark_list_tests > " + list + " 2>/dev/null"), 0);
  const std::string text = slurp(list);
  auto has = [&](const std::string& prefix) { return text.find(prefix) != std::string::npos; };
  // Every summation name is sum/<backend>/<dtype>/<dist>/<variant>/<n>/<suffix>, n a number.
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("sum/", 0) != 0) continue;
    std::vector<std::string> parts;
    std::istringstream in(line);
    for (std::string p; std::getline(in, p, '/');) parts.push_back(p);
    ASSERT_EQ(parts.size(), 7u) << line;
    EXPECT_TRUE(parts[3] == "uniform" || parts[3] == "normal" || parts[3] == "illcond") << line;
    EXPECT_FALSE(parts[5].empty()) << line;
    EXPECT_EQ(parts[5].find_first_not_of("0123456789"), std::string::npos) << line;
  }
  for (const char* dtype : {"f32", "f64"}) {
    for (const auto& v : kSumVariants)
      if (!cuda_only(v.variant)) {
        EXPECT_TRUE(has(std::string("sum/cpu/") + dtype + "/uniform/" + v.name + "/1024/")) << v.name;
        for (const char* dist : {"uniform", "normal", "illcond"})  // every input at the largest size
          EXPECT_TRUE(has(std::string("sum/cpu/") + dtype + "/" + dist + "/" + v.name + "/67108864/")) << v.name;
      }
    EXPECT_TRUE(has(std::string("sum/cpu/") + dtype + "/uniform/read_probe/1024/"));
    EXPECT_TRUE(has(std::string("sum/cpu/") + dtype + "/illcond/read_probe/67108864/"));
    EXPECT_FALSE(has(std::string("sum/cpu/") + dtype + "/illcond/tree/1024/"));  // only the largest size
  }
  for (const auto& v : kDenseVariants)
    if (v.variant != DenseVariant::cublas) {
      EXPECT_TRUE(has(std::string("dense/cpu/") + v.name + "/B:1024/K:1024/N:1024/")) << v.name;
    }
  EXPECT_TRUE(has("dense/cpu/openblas/B:4096/K:4096/N:4096/"));
  EXPECT_TRUE(has("predict/cpu/10-20-10/invariant/batch:4096/"));
  EXPECT_TRUE(has("predict/cpu/784-4096-4096-10/atomic/batch:1/"));
  EXPECT_TRUE(has("trace/cpu/784-4096-4096-10/batch:1,64/tree/batch:1,64/traced/"));
  for (const char* what : {"sum", "probe"})  // both forms of each, on both sides of the stream threshold
    for (const char* form : {"blocked", "stream"})
      for (const char* n : {"1048576", "67108864"})
        EXPECT_TRUE(has(std::string("tune/cpu/stream_form/f32/") + what + "/" + form + "/" + n + "/")) << what << form << n;
  if (built_with_cuda()) {  // registered (and skipped with the reason when no GPU is there)
    for (const auto& v : kSumVariants)
      if (v.variant != SumVariant::serial) {
        EXPECT_TRUE(has(std::string("sum/cuda/f32/uniform/") + v.name + "/268435456/")) << v.name;
        EXPECT_TRUE(has(std::string("sum/cuda/f32/illcond/") + v.name + "/268435456/")) << v.name;
      }
    EXPECT_TRUE(has("sum/cuda/f32/uniform/d2d_copy/"));
    for (const char* v : {"tree", "exact", "cub", "d2d_copy"})  // the GPU check's f64 size
      EXPECT_TRUE(has(std::string("sum/cuda/f64/uniform/") + v + "/134217728/")) << v;
    for (const auto& v : kDenseVariants) EXPECT_TRUE(has(std::string("dense/cuda/") + v.name + "/B:4096/K:4096/N:4096/")) << v.name;
    EXPECT_TRUE(has("predict/cuda/784-4096-4096-10/cublas/batch:64/"));
  }
#endif
}

// OpenBLAS's kernels (bench_main.cpp): on a CPU with AVX2 the baseline never runs OpenBLAS's old
// SSE-era families (Debian's 0.3.21 picks "Prescott" on Xeons it does not know; the benchmark then
// restarts itself with OPENBLAS_CORETYPE), the context says which family ran and why, and a run
// that succeeds writes nothing of driftlab_bench's own to stderr (a failing one must stay one line).
TEST(Bench, OpenBlasRunsAModernKernelFamilyAndSaysWhy) {
#ifndef DRIFTLAB_BENCH_EXE
  GTEST_SKIP() << "built without the benchmark binary (DRIFTLAB_BUILD_BENCH=OFF)";
#else
  const std::string out = std::string(DRIFTLAB_TEST_TMP) + "/bench_openblas.json";
  const std::string err = std::string(DRIFTLAB_TEST_TMP) + "/bench_openblas.err";
  ASSERT_EQ(run("env -u OPENBLAS_CORETYPE -u DRIFTLAB_OPENBLAS_CHOSE " + std::string(DRIFTLAB_BENCH_EXE) +
                " --benchmark_filter='^sum/cpu/f32/uniform/tree/1024/' --benchmark_min_time=0.001 --benchmark_format=json > " +
                out + " 2> " + err),
            0)
      << slurp(err);
  const std::string json = slurp(out);
  const std::string key = "\"openblas_core\": \"";
  const std::size_t at = json.find(key);
  ASSERT_NE(at, std::string::npos) << json.substr(0, 2000);
  const std::string core = json.substr(at + key.size(), json.find('"', at + key.size()) - at - key.size());
  if (__builtin_cpu_supports("avx2")) {
    EXPECT_FALSE(openblas_core_is_old(core.substr(0, core.find(' ')))) << core;
  }
  if (core.find("set by driftlab") != std::string::npos) {
    EXPECT_NE(core.find("OpenBLAS chose "), std::string::npos) << core;
  }
  EXPECT_EQ(slurp(err).find("driftlab_bench:"), std::string::npos) << slurp(err);
#endif
}

// The trace cost pairs (bench/bench_trace_cpu.cpp): every case has a plain and a traced
// benchmark, and the tiny model's pairs run (each builds a TraceRun from trace's own parser).
TEST(Bench, TraceCostPairsRun) {
#ifndef DRIFTLAB_BENCH_EXE
  GTEST_SKIP() << "built without the benchmark binary (DRIFTLAB_BUILD_BENCH=OFF)";
#else
  const std::string out = std::string(DRIFTLAB_TEST_TMP) + "/bench_trace.txt";
  ASSERT_EQ(run(std::string(DRIFTLAB_BENCH_EXE) +
                " --benchmark_filter='^trace/cpu/10-20-10/' --benchmark_min_time=0.01 --benchmark_format=console > " +
                out + " 2>&1"),
            0);
  const std::string text = slurp(out);
  EXPECT_EQ(text.find("ERROR"), std::string::npos) << text;
  std::size_t plain = 0, traced = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("trace/cpu/10-20-10/", 0) != 0) continue;
    const std::string name = line.substr(0, line.find(' '));
    if (name.find("/plain/") != std::string::npos) {
      ++plain;
      std::string partner = name;
      partner.replace(partner.find("/plain/"), 7, "/traced/");
      EXPECT_NE(text.find(partner), std::string::npos) << name;
    } else if (name.find("/traced/") != std::string::npos) {
      ++traced;
      EXPECT_NE(line.find("stages="), std::string::npos) << line;
    }
  }
  EXPECT_GE(plain, 5u) << text;
  EXPECT_EQ(plain, traced) << text;
#endif
}

// Which code each CPU benchmark timed (bench_common.h's register_cpu): under every DRIFTLAB_ISA
// this CPU runs, every benchmark of a kernel with per-level paths is labelled with that level and
// no other, and only the benchmarks without such paths (the OpenBLAS baseline, the plain serial
// loops) are unlabelled.  One small size of every CPU family.
TEST(Bench, EveryCpuBenchmarkNamesTheKernelsItRan) {
#ifndef DRIFTLAB_BENCH_EXE
  GTEST_SKIP() << "built without the benchmark binary (DRIFTLAB_BUILD_BENCH=OFF)";
#else
  const std::string out = std::string(DRIFTLAB_TEST_TMP) + "/bench_kernels.json";
  const std::string filter =
      "^(sum/cpu/(f32|bf16)/uniform/[a-z_]+/1024/|dense/cpu/[a-z]+/B:1/K:10/|predict/cpu/10-20-10/[a-z]+/batch:1/|"
      "attention/cpu/[a-z_]+/B:1/|trace/cpu/10-20-10/batch:1,64/tree/|tune/cpu/stream_form/f32/[a-z]+/[a-z]+/1048576/)";
  const std::set<std::string> unlabelled = {"sum/cpu/f32/uniform/serial/1024/real_time",
                                            "sum/cpu/f32/uniform/atomic_element/1024/real_time",
                                            "dense/cpu/openblas/B:1/K:10/N:20/real_time"};
  for (const cpu::Isa level : {cpu::Isa::avx512, cpu::Isa::avx2, cpu::Isa::scalar}) {
    if (level > cpu::isa_detected()) continue;
    const std::string name = cpu::isa_name(level);
    ASSERT_EQ(run("DRIFTLAB_ISA=" + name + " " + std::string(DRIFTLAB_BENCH_EXE) + " --benchmark_filter='" + filter +
                  "' --benchmark_min_time=0.001 --benchmark_format=json > " + out + " 2>/dev/null"),
              0)
        << name;
    const JsonValue doc = parse_json(slurp(out));
    const JsonValue* rows = doc.find("benchmarks");
    ASSERT_NE(rows, nullptr) << name;
    std::set<std::string> families, bare;
    for (const JsonValue& row : rows->items) {
      const std::string bench = row.find("name")->str;
      const JsonValue* label = row.find("label");
      families.insert(bench.substr(0, bench.find('/', bench.find('/') + 1)));
      if (!label) {
        bare.insert(bench);
        continue;
      }
      // The sum tiles' form follows: blocked at these sizes, each forced form in the tune rows.
      // None outside the tiled sums (serial and atomic_element have their own loops), and none
      // where the level has one form (the scalar tiles, the AVX2 probe).
      std::string form = bench.find("/stream/") != std::string::npos ? " form=stream" : " form=blocked";
      const bool probe = bench.find("read_probe") != std::string::npos || bench.find("/probe/") != std::string::npos;
      bool tiled = bench.rfind("tune/cpu/", 0) == 0 || bench.rfind("attention/cpu/read_probe/", 0) == 0;
      for (const char* v : {"/tree/", "/atomic/", "/read_probe/"})
        tiled = tiled || (bench.rfind("sum/cpu/", 0) == 0 && bench.find(v) != std::string::npos);
      if (!tiled || level == cpu::Isa::scalar || (probe && level == cpu::Isa::avx2)) form.clear();
      // The exact sum's tiles at a vector level: uniform input suits the vector form.
      if (bench.rfind("sum/cpu/", 0) == 0 && bench.find("/exact/") != std::string::npos && level != cpu::Isa::scalar)
        form = " form=vector";
      EXPECT_EQ(label->str, "kernels=" + name + form) << bench;
    }
    EXPECT_EQ(bare, unlabelled) << name;
    EXPECT_EQ(families, (std::set<std::string>{"attention/cpu", "dense/cpu", "predict/cpu", "sum/cpu", "trace/cpu", "tune/cpu"})) << name;
  }
#endif
}

// The report times only the backend it reports on (the quick filter once named cpu benchmarks
// whatever the backend), and times the uniform input the figures draw.
TEST(Report, BenchFilterNamesOnlyItsBackend) {
  for (const bool quick : {true, false}) {
    const std::string cuda = report_bench_filter("cuda", quick), cpu = report_bench_filter("cpu", quick);
    EXPECT_EQ(cuda.find("/cpu/"), std::string::npos) << cuda;
    EXPECT_EQ(cpu.find("/cuda/"), std::string::npos) << cpu;
    EXPECT_NE(cuda.find("^sum/cuda/"), std::string::npos) << cuda;
    EXPECT_NE(cuda.find("dense"), std::string::npos) << cuda;
    EXPECT_NE(cuda.find("uniform"), std::string::npos) << cuda;
    EXPECT_EQ(cuda.find("openblas"), std::string::npos) << cuda;
    EXPECT_EQ(cuda.find("read_probe"), std::string::npos) << cuda;
  }
}

// The quick report end to end on the CPU (about 20 seconds).
TEST(Report, EndToEndQuickReportWritesEverything) {
  const fs::path out = fs::path(DRIFTLAB_TEST_TMP) / "report_quick";
  fs::remove_all(out);
  // A recorded Keras cross-check at the default place (DIR/keras_check.json) is set beside the scenarios.
  fs::create_directories(out);
  fs::copy_file(fs::path(DRIFTLAB_SOURCE_DIR) / "tests/fixtures/keras_check.json", out / "keras_check.json");
  const std::string cmd =
      std::string(DRIFTLAB_EXE) + " report --quick --backend cpu --out " + out.string() + " > " + (out.string() + ".log") + " 2>&1";
  const int rc = run(cmd);
  EXPECT_EQ(rc, 0) << slurp(out.string() + ".log");
  for (const char* f : {"machine.json", "sum_drift.json", "ulp_hist.json", "batch_invariance.json", "predict.json",
                        "predict_bf16.json", "trace_tree_batch.json", "trace_invariant_batch.json", "trace_bf16.json",
                        "allreduce.json", "tp.json", "scenarios.json", "REPORT.md"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  EXPECT_TRUE(fs::exists(out / "bench.json"));
  const std::string md = slurp(out / "REPORT.md");
  for (const char* section : {"## Machine", "## Summation", "## predict", "## Batch invariance",
                              "## Where the bits start to move", "## The all-reduce across rank counts",
                              "## Tensor parallelism across TP sizes", "## The article's claims"})
    EXPECT_NE(md.find(section), std::string::npos) << section;
  for (const char* fig : {"sum_throughput", "cost_of_determinism", "drift_vs_n", "ulp_histogram", "dense_gflops",
                          "batch_invariance", "bf16_rounding", "trace_ulp", "allreduce_ranks", "tp_ranks"}) {
    EXPECT_TRUE(fs::exists(out / "plots" / (std::string(fig) + ".png"))) << fig;
    EXPECT_NE(md.find(std::string("plots/") + fig + ".png"), std::string::npos) << fig;
  }
  EXPECT_NE(md.find("real TensorFlow 2.21.0 / Keras 3.15.1"), std::string::npos);
  EXPECT_NE(slurp(out / "scenarios.json").find("\"keras\": {"), std::string::npos);
  // The batch-invariance experiment: invariant never moves, tree does somewhere.
  const std::string bi = slurp(out / "batch_invariance.json");
  EXPECT_NE(bi.find("\"invariant\""), std::string::npos);
  // The traces: invariant keeps its bits between batch 1 and 64; the bf16 comparison starts at
  // layer 0's matmul (the rounded input and weights).
  EXPECT_NE(slurp(out / "trace_invariant_batch.json").find("\"first_divergence\": null"), std::string::npos);
  EXPECT_EQ(slurp(out / "trace_bf16.json").find("\"first_divergence\": null"), std::string::npos);
  EXPECT_NE(md.find("| dtype:f32,bf16 | invariant | layer 0, matmul |"), std::string::npos) << md;
  // The all-reduce: exact is one result at every rank count, the exact sum; ring and tree move.
  EXPECT_NE(md.find("| exact | any rank count, algorithm, channels, size | 1 | 0 | 0 | yes |"), std::string::npos) << md;
  EXPECT_EQ(md.find("| ring | run to run (one rank count, channels, size) | 1 |"), std::string::npos) << md;
  EXPECT_NE(slurp(out / "allreduce.json").find("\"ranks_distinct\""), std::string::npos);
  // Tensor parallelism: invariant is one output at every TP size and equals the single process;
  // ring and exact move with the TP size.
  EXPECT_NE(md.find("| invariant | any TP size, algorithm, device | 1 | 0 | "), std::string::npos) << md;
  EXPECT_EQ(md.find("| ring | run to run (one TP size) | 1 |"), std::string::npos) << md;
  EXPECT_EQ(md.find("| exact | one TP size, any MPI algorithm | 1 |"), std::string::npos) << md;
  EXPECT_NE(slurp(out / "tp.json").find("\"tp_distinct\""), std::string::npos);
}

}  // namespace
}  // namespace driftlab
