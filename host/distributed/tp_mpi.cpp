// Tensor-parallel inference on Open MPI, one rank's side (tp_mpi.h): each layer's partials of this
// rank (tp_order.h), all-reduced by allreduce_once, then + b and act on every rank.
#include "host/distributed/tp_mpi.h"

#include <mpi.h>

#include <cstdio>
#include <cstring>
#include <iomanip>
#include <stdexcept>

#include "host/distributed/allreduce_mpi.h"
#include "host/io/atomic_file.h"
#include "host/metrics/metrics.h"
#include "kernels/common/tp_order.h"

namespace driftlab::tp {

namespace {

void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) throw std::runtime_error(std::string("predict --tp: ") + what + " failed");
}

std::vector<float> forward(TpVariant v, const Model& m, const std::vector<float>& x, std::size_t B, std::size_t r,
                           std::size_t P) {
  std::vector<float> cur = x, out, part, dummy;
  std::vector<const float*> mine;
  for (const Layer& l : m.layers) {
    const std::size_t n = B * l.N;
    mine.clear();
    if (v == TpVariant::invariant) {
      const std::size_t C = chunk_count(l.K);
      const allreduce::ShardRange g = allreduce::rank_shards(C, P, r);
      part.resize(g.count * n);
      for (std::size_t c = 0; c < g.count; ++c) {
        partials(cur.data(), l.W.data(), B, l.K, l.N, chunk_range(l.K, g.first + c), part.data() + c * n);
        mine.push_back(part.data() + c * n);
      }
      dummy.resize(n);  // exact takes its shards from `mine`; x gives only the element count
      allreduce::allreduce_once(allreduce::Variant::exact, mine, dummy, C, 1, 0, out);
    } else {
      part.resize(n);
      partials(cur.data(), l.W.data(), B, l.K, l.N, rank_k_range(l.K, P, r), part.data());
      mine.push_back(part.data());
      const allreduce::Variant av = v == TpVariant::mpi    ? allreduce::Variant::mpi
                                    : v == TpVariant::ring ? allreduce::Variant::ring
                                                           : allreduce::Variant::exact;
      allreduce::allreduce_once(av, mine, part, P, 1, 0, out);
    }
    finish(out.data(), l.b.data(), B, l.N, l.act);
    cur.swap(out);
  }
  return cur;
}

int worker(const TpWorkerArgs& a, const Model& m, const std::vector<float>& x, std::size_t B, std::ostream& os) {
  int rank = 0, size = 1;
  check(MPI_Comm_rank(MPI_COMM_WORLD, &rank), "MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &size), "MPI_Comm_size");
  const std::size_t P = static_cast<std::size_t>(size), r = static_cast<std::size_t>(rank);
  if (a.expected_ranks && a.expected_ranks != P)
    throw std::runtime_error("--tp " + std::to_string(a.expected_ranks) + " but the job has " + std::to_string(P) + " ranks");
  TpFile file{P, B * m.outputs(), {}};
  for (const TpVariant v : a.variants) {
    TpResult res{v, 0, 0, {}};
    std::vector<double> ms;
    for (std::size_t run = 0; run < a.runs; ++run) {
      check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
      const double t0 = MPI_Wtime();
      const std::vector<float> y = forward(v, m, x, B, r, P);
      double dt = (MPI_Wtime() - t0) * 1e3, slowest = 0;
      check(MPI_Reduce(&dt, &slowest, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD), "MPI_Reduce");
      ms.push_back(slowest);
      if (run == 0) res.out = y;  // later runs are compared with run 0, never kept
      else if (std::memcmp(y.data(), res.out.data(), y.size() * sizeof(float)) != 0) ++res.runs_non_equal;
    }
    res.median_ms = median(ms);
    file.results.push_back(std::move(res));
  }
  if (rank != 0) return 0;
  if (!a.out.empty()) {
    write_file_atomic(a.out, encode_tp_file(file), "--tp-out");
    return 0;
  }
  // Under a user's own mpirun: rank 0 prints what it measured and whether it equals the simulation.
  const std::vector<float> inv = invariant_forward(m, x, B);
  os << "driftlab predict --tp: " << P << " MPI ranks, " << B << " rows, " << a.runs << " runs\n";
  os << std::left << std::setw(10) << "variant" << std::right << std::setw(12) << "median_ms" << std::setw(11)
     << "non_equal" << "  simulation  single_process\n";
  for (const auto& res : file.results) {
    std::string sim = "-", single = "-";
    if (res.variant != TpVariant::mpi) {
      const auto s = simulate_tp(res.variant, m, x, B, P);
      sim = std::memcmp(s.data(), res.out.data(), s.size() * sizeof(float)) == 0 ? "equal" : "DIFFERENT";
    }
    if (res.variant == TpVariant::invariant)
      single = std::memcmp(inv.data(), res.out.data(), inv.size() * sizeof(float)) == 0 ? "equal" : "DIFFERENT";
    os << std::left << std::setw(10) << info(res.variant).name << std::right << std::setw(12) << sig(res.median_ms, 4)
       << std::setw(11) << res.runs_non_equal << "  " << std::left << std::setw(10) << sim << "  " << single << "\n";
  }
  return 0;
}

}  // namespace

int run_tp_worker(const TpWorkerArgs& a, const Model& m, const std::vector<float>& x, std::size_t B, std::ostream& os) {
  if (MPI_Init(nullptr, nullptr) != MPI_SUCCESS) throw std::runtime_error("predict --tp: MPI_Init failed");
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int code = 1;
  try {
    code = worker(a, m, x, B, os);
  } catch (const std::exception& e) {
    // One rank failing must not leave the others waiting: abort the whole job.
    std::fprintf(stderr, "driftlab: %s\n", e.what());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  os.flush();
  MPI_Finalize();
  return code;
}

}  // namespace driftlab::tp
