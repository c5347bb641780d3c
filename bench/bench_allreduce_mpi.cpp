// driftlab_bench_mpi: the all-reduce variants timed on Open MPI, `mpi` beside `exact` in one run.
//
//   mpirun -np 2 [--oversubscribe --allow-run-as-root] build/driftlab_bench_mpi [Google Benchmark flags]
//
// Why a binary of its own, not driftlab_bench: every rank runs the same Google Benchmark loop and
// every iteration is a collective, so all ranks must run the same benchmarks in the same order
// with the same iteration counts.  Google Benchmark picks iteration counts from each process's
// own timings and shuffles --benchmark_enable_random_interleaving with a seed of its own, so here
// iterations are fixed (kIterations) and the interleaving is by registration: round 0 of mpi,
// round 0 of exact, round 1 of mpi, ...  (names .../round:K; take the median over rounds).
// Each iteration's time is the slowest rank's (MPI_MAX of MPI_Wtime differences), set as manual
// time.  Rank 0 reports; the other ranks run with a reporter that prints nothing and never write
// --benchmark_out.  n = 2^22 floats per rank (DRIFTLAB_BENCH_ALLREDUCE_N overrides), one shard per
// rank (M = P), uniform [0,1) data; DRIFTLAB_BENCH_ALLREDUCE_ROUNDS rounds (default 5).
// allreduce/exact_collectives/... times exact's collectives on such data alone (no local work):
// the floor its bytes set.
#include <benchmark/benchmark.h>
#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "kernels/cpu/fp_env.h"
#include "host/distributed/allreduce_mpi.h"
#include "host/distributed/allreduce_sim.h"
#include "host/common/cli_args.h"
#include "kernels/common/allreduce_order.h"

namespace {

constexpr int kIterations = 10;

using driftlab::allreduce::Variant;

struct State {
  driftlab::allreduce::Data data;
  std::vector<const float*> mine;
  std::vector<float> x, out;
  std::size_t shards = 0;
  driftlab::allreduce::ShardRange range{0, 0};  // this rank's shards, relative to mine
};
State* g_state = nullptr;

void bench_allreduce(benchmark::State& st, Variant v) {
  State& s = *g_state;
  std::uint64_t bytes = 0;
  for (auto _ : st) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = MPI_Wtime();
    // Each rank's local accumulation is timed for both, as in `driftlab allreduce` (one shard per
    // rank here, so for mpi it is a copy).
    if (v != Variant::exact)
      for (std::size_t i = 0; i < s.x.size(); ++i) s.x[i] = driftlab::allreduce::local_sum(s.mine.data(), s.range, i);
    bytes = driftlab::allreduce::allreduce_once(v, s.mine, s.x, s.shards, 1, 0, s.out);
    double dt = MPI_Wtime() - t0, slowest = 0;
    MPI_Allreduce(&dt, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    st.SetIterationTime(slowest);
    benchmark::DoNotOptimize(s.out.data());
  }
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations()) * static_cast<std::int64_t>(s.x.size() * sizeof(float)));
  st.counters["payload_bytes"] = static_cast<double>(bytes);
}

// exact's collectives alone on ordinary data (in place, no local work): MPI_MAX on the n/64 block
// bytes, MPI_SUM on n int32s, MPI_BOR on the n/8 bytes of the escape bitmap.  The floor of exact's
// time set by its bytes on this machine.
void bench_exact_collectives(benchmark::State& st) {
  State& s = *g_state;
  const std::size_t n = s.x.size();
  std::vector<std::uint8_t> e((n + driftlab::allreduce::kExactBlock - 1) / driftlab::allreduce::kExactBlock, 1);
  std::vector<std::int32_t> q(n, 1);
  std::vector<std::uint8_t> esc((n + 7) / 8, 0);
  for (auto _ : st) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = MPI_Wtime();
    MPI_Allreduce(MPI_IN_PLACE, e.data(), static_cast<int>(e.size()), MPI_UNSIGNED_CHAR, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, q.data(), static_cast<int>(q.size()), MPI_INT32_T, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, esc.data(), static_cast<int>(esc.size()), MPI_UNSIGNED_CHAR, MPI_BOR, MPI_COMM_WORLD);
    double dt = MPI_Wtime() - t0, slowest = 0;
    MPI_Allreduce(&dt, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    st.SetIterationTime(slowest);
  }
  st.counters["payload_bytes"] = static_cast<double>(e.size() + q.size() * sizeof(std::int32_t) + esc.size());
}

class Silent : public benchmark::BenchmarkReporter {
 public:
  bool ReportContext(const Context&) override { return true; }
  void ReportRuns(const std::vector<Run>&) override {}
};

std::size_t env_count(const char* name, std::size_t dflt) {
  const char* e = std::getenv(name);
  if (!e || !*e) return dflt;
  try {
    return driftlab::parse_count(e, name);
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "driftlab_bench_mpi: %s\n", ex.what());
    std::exit(2);
  }
}

}  // namespace

int main(int argc, char** argv) {
  driftlab::cpu::set_default_fp_env();  // whatever this process inherited (kernels/cpu/fp_env.h)
  if (!driftlab::allreduce::under_mpirun()) {
    std::fprintf(stderr, "driftlab_bench_mpi: run it under mpirun, e.g. mpirun -np 2 %s\n", argv[0]);
    return 2;
  }
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const std::size_t n = env_count("DRIFTLAB_BENCH_ALLREDUCE_N", std::size_t(1) << 22);
  const std::size_t rounds = env_count("DRIFTLAB_BENCH_ALLREDUCE_ROUNDS", 5);
  State s;
  // Every rank makes the whole data set (n floats a shard, one shard a rank).  A size that does not
  // fit (std::bad_alloc) ended every rank in std::terminate's abort, dozens of lines; now the ranks
  // agree that one failed and end together: one line from rank 0, exit 1 (mpirun may add its own
  // report of the exit status).
  std::string failed;
  try {
    s.shards = static_cast<std::size_t>(size);
    s.data = driftlab::allreduce::make_data(driftlab::Dist::uniform, n, s.shards, 12345);
    const auto g = driftlab::allreduce::rank_shards(s.shards, s.shards, static_cast<std::size_t>(rank));
    s.mine.assign(s.data.shard_ptrs.begin() + static_cast<std::ptrdiff_t>(g.first),
                  s.data.shard_ptrs.begin() + static_cast<std::ptrdiff_t>(g.first + g.count));
    s.range = {0, g.count};
    s.x.resize(n);
    for (std::size_t i = 0; i < n; ++i) s.x[i] = driftlab::allreduce::local_sum(s.data.shard_ptrs.data(), g, i);
  } catch (const std::bad_alloc&) {
    failed = "out of memory making " + std::to_string(size) + " shards of " + std::to_string(n) +
             " floats (DRIFTLAB_BENCH_ALLREDUCE_N)";
  } catch (const std::exception& e) {
    failed = e.what();
  }
  int any_failed = failed.empty() ? 0 : 1;
  MPI_Allreduce(MPI_IN_PLACE, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (any_failed) {
    if (rank == 0)
      std::fprintf(stderr, "driftlab_bench_mpi: %s\n", failed.empty() ? "another rank could not make its data" : failed.c_str());
    MPI_Finalize();
    return 1;
  }
  g_state = &s;

  const std::string tail = "/n:" + std::to_string(n) + "/ranks:" + std::to_string(size);
  for (std::size_t r = 0; r < rounds; ++r) {
    const std::string round = "/round:" + std::to_string(r);
    for (const Variant v : {Variant::mpi, Variant::exact})
      benchmark::RegisterBenchmark(("allreduce/" + std::string(driftlab::allreduce::info(v).name) + tail + round).c_str(),
                                   bench_allreduce, v)
          ->Iterations(kIterations)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("allreduce/exact_collectives" + tail + round).c_str(), bench_exact_collectives)
        ->Iterations(kIterations)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }

  // Only rank 0 reports and writes --benchmark_out; the others drop the flag and print nothing.
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i)
    if (rank == 0 || std::string(argv[i]).rfind("--benchmark_out", 0) != 0) args.push_back(argv[i]);
  int count = static_cast<int>(args.size());
  benchmark::Initialize(&count, args.data());
  if (rank == 0) {
    benchmark::AddCustomContext("mpi_ranks", std::to_string(size));
    benchmark::RunSpecifiedBenchmarks();
  } else {
    Silent silent;
    benchmark::RunSpecifiedBenchmarks(&silent);
  }
  benchmark::Shutdown();
  MPI_Finalize();
  return 0;
}
