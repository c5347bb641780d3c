// The all-reduce variants on Open MPI, one rank's side.  The orders are allreduce_order.h's:
// ring and tree are written with point-to-point messages in exactly that order, exact with
// MPI_MAX, MPI_SUM and MPI_BOR collectives on integers and bitmaps (any algorithm gives the same integers),
// mpi is MPI_Allreduce on floats as Open MPI chooses (or as --mca coll_tuned_* forces).
#include "host/distributed/allreduce_mpi.h"

#include <mpi.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <cstring>
#include <iomanip>
#include <stdexcept>

#include "host/io/atomic_file.h"
#include "host/distributed/allreduce_exact_local.h"
#include "kernels/common/allreduce_order.h"
#include "host/metrics/metrics.h"

#ifndef DRIFTLAB_MPIRUN
#define DRIFTLAB_MPIRUN "mpirun"
#endif

namespace driftlab::allreduce {

bool mpi_built() { return true; }
const char* mpi_missing_reason() { return ""; }
std::string mpirun_path() {
  const char* env = std::getenv("DRIFTLAB_MPIRUN");
  return env && *env ? env : DRIFTLAB_MPIRUN;
}
namespace {
// A count mpirun wrote: digits only, at most 9 of them.
std::optional<std::size_t> env_count(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v || std::strlen(v) > 9) return std::nullopt;
  for (const char* c = v; *c; ++c)
    if (*c < '0' || *c > '9') return std::nullopt;
  return static_cast<std::size_t>(std::strtoull(v, nullptr, 10));
}
// The rank and size Open MPI's launcher gave this process, read before MPI_Init.  All three
// variables it sets must agree: one left behind in a shell (OMPI_COMM_WORLD_RANK=1 alone) is not a
// job, and must not make a usage error silent as a rank other than 0 is.
struct Placement {
  std::size_t rank = 0, size = 1;
};
std::optional<Placement> mpirun_placement() {
  const auto rank = env_count("OMPI_COMM_WORLD_RANK"), size = env_count("OMPI_COMM_WORLD_SIZE"), pmix = env_count("PMIX_RANK");
  if (!rank || !size || !pmix || *size == 0 || *rank >= *size || *pmix != *rank) return std::nullopt;
  return Placement{*rank, *size};
}
}  // namespace
bool under_mpirun() { return mpirun_placement().has_value(); }
std::size_t mpirun_rank() { return mpirun_placement().value_or(Placement{}).rank; }
std::size_t mpirun_world_size() { return mpirun_placement().value_or(Placement{}).size; }

namespace {

void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) throw std::runtime_error(std::string("allreduce: ") + what + " failed");
}

// Counts are ints in MPI: the command caps n well below INT_MAX.
int icount(std::size_t n) { return static_cast<int>(n); }

struct Rank {
  int rank = 0, size = 1;
  std::uint64_t sent = 0;  // bytes handed to MPI by this rank, for the current run
};

void mpi_float(Rank& rk, const std::vector<float>& x, std::vector<float>& out, std::size_t fusion) {
  const std::size_t n = x.size();
  for (std::size_t s = 0; s < n; s += (fusion ? fusion : n)) {
    const Bucket b = bucket_of(s, n, fusion);
    check(MPI_Allreduce(x.data() + b.start, out.data() + b.start, icount(b.count), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
          "MPI_Allreduce");
    rk.sent += b.count * sizeof(float);
  }
}

// ring: per buffer, the elements of each chunk k (all loops and channels), then P-1 reduce
// steps and P-1 copy steps around the ring.
void ring(Rank& rk, const std::vector<float>& x, std::vector<float>& out, std::size_t channels, std::size_t fusion) {
  const std::size_t n = x.size(), P = static_cast<std::size_t>(rk.size), r = static_cast<std::size_t>(rk.rank);
  out = x;
  if (P == 1) return;
  const int next = static_cast<int>((r + 1) % P), prev = static_cast<int>((r + P - 1) % P);
  std::vector<std::vector<std::size_t>> chunk(P);
  std::vector<float> send, recv;
  for (std::size_t s = 0; s < n; s += (fusion ? fusion : n)) {
    const Bucket b = bucket_of(s, n, fusion);
    for (auto& c : chunk) c.clear();
    for (std::size_t o = 0; o < b.count; ++o) chunk[ring_place(o, b.count, P, channels).chunk].push_back(b.start + o);
    auto pack = [&](std::size_t k) {
      send.clear();
      for (const std::size_t i : chunk[k]) send.push_back(out[i]);
    };
    // Reduce-scatter: at step t rank r sends chunk r-1-t and receives chunk r-2-t, adding its own.
    for (std::size_t t = 0; t + 1 < P; ++t) {
      const std::size_t ks = (r + 2 * P - 1 - t) % P, kr = (r + 2 * P - 2 - t) % P;
      pack(ks);
      recv.resize(chunk[kr].size());
      check(MPI_Sendrecv(send.data(), icount(send.size()), MPI_FLOAT, next, 1, recv.data(), icount(recv.size()),
                         MPI_FLOAT, prev, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
            "MPI_Sendrecv");
      rk.sent += send.size() * sizeof(float);
      for (std::size_t j = 0; j < recv.size(); ++j) out[chunk[kr][j]] = recv[j] + x[chunk[kr][j]];
    }
    // All-gather: rank r holds chunk r; at step t it passes chunk r-t on and receives chunk r-1-t.
    for (std::size_t t = 0; t + 1 < P; ++t) {
      const std::size_t ks = (r + P - t) % P, kr = (r + 2 * P - 1 - t) % P;
      pack(ks);
      recv.resize(chunk[kr].size());
      check(MPI_Sendrecv(send.data(), icount(send.size()), MPI_FLOAT, next, 2, recv.data(), icount(recv.size()),
                         MPI_FLOAT, prev, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
            "MPI_Sendrecv");
      rk.sent += send.size() * sizeof(float);
      for (std::size_t j = 0; j < recv.size(); ++j) out[chunk[kr][j]] = recv[j];
    }
  }
}

// tree: the binomial tree of tree_combine to rank 0, then MPI_Bcast (copies).
void tree(Rank& rk, const std::vector<float>& x, std::vector<float>& out) {
  const std::size_t n = x.size(), P = static_cast<std::size_t>(rk.size), r = static_cast<std::size_t>(rk.rank);
  out = x;
  std::vector<float> recv(n);
  for (std::size_t s = 1; s < P; s *= 2) {
    if (r % (2 * s) == s) {
      check(MPI_Send(out.data(), icount(n), MPI_FLOAT, static_cast<int>(r - s), 3, MPI_COMM_WORLD), "MPI_Send");
      rk.sent += n * sizeof(float);
      break;
    }
    if (r % (2 * s) == 0 && r + s < P) {
      check(MPI_Recv(recv.data(), icount(n), MPI_FLOAT, static_cast<int>(r + s), 3, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
            "MPI_Recv");
      for (std::size_t i = 0; i < n; ++i) out[i] = out[i] + recv[i];
    }
  }
  check(MPI_Bcast(out.data(), icount(n), MPI_FLOAT, 0, MPI_COMM_WORLD), "MPI_Bcast");
  rk.sent += n * sizeof(float);
}

// exact: passes 1-5 of allreduce_order.h, per buffer.
//
// The local passes are allreduce_exact_local.h's (scalar or AVX2, same integers); the simulation
// in allreduce_sim.cpp is the plain statement of the same order, and the tests compare the two.

void exact(Rank& rk, const std::vector<const float*>& mine, std::size_t n, std::size_t M, std::vector<float>& out,
           std::size_t fusion) {
  const int W1 = narrow_window_bits(M), W2 = window_bits(M);
  const cpu::Isa isa = cpu::detail::isa_level(cpu::detail::IsaFamily::allreduce);
  out.resize(n);  // every element is written below
  // Scratch kept between calls: fresh pages on every call would cost page faults that mpi's
  // MPI_Allreduce (which reuses the caller's buffers) does not pay.
  static thread_local std::vector<std::uint8_t> E, Ee, escbits, flag, nz;
  static thread_local std::vector<std::int32_t> acc;
  static thread_local std::vector<std::int64_t> wide;
  static thread_local std::vector<std::size_t> escaped, flagged, zeros;
  constexpr std::size_t kBatch = 1024, B = kExactBlock;
  static thread_local std::vector<std::int64_t> bins;
  static thread_local std::vector<std::uint32_t> flags;
  for (std::size_t s = 0; s < n; s += (fusion ? fusion : n)) {
    const Bucket b = bucket_of(s, n, fusion);
    const std::size_t nb = (b.count + B - 1) / B;
    // Pass 1: the block bytes, MPI_MAX.
    E.resize(nb);
    for (std::size_t j = 0; j < nb; ++j) {
      std::uint32_t e = 0;
      for (const float* sh : mine) e = std::max(e, local::block_max(isa, sh + b.start + j * B, std::min(B, b.count - j * B)));
      E[j] = static_cast<std::uint8_t>(e);
    }
    check(MPI_Allreduce(MPI_IN_PLACE, E.data(), icount(nb), MPI_UNSIGNED_CHAR, MPI_MAX, MPI_COMM_WORLD),
          "MPI_Allreduce(MPI_MAX)");
    rk.sent += nb;
    // Pass 2: the int32s (MPI_SUM) and the escape bitmap (MPI_BOR).
    acc.resize(b.count);
    escbits.resize((b.count + 7) / 8);
    for (std::size_t j = 0; j < nb; ++j) {
      const std::size_t o0 = j * B, c = std::min(B, b.count - o0);
      const int lsb1 = window_lsb(E[j], W1);
      std::fill(acc.begin() + static_cast<std::ptrdiff_t>(o0), acc.begin() + static_cast<std::ptrdiff_t>(o0 + c), 0);
      std::uint64_t esc = 0;
      for (const float* sh : mine) esc |= local::narrow(isa, sh + b.start + o0, c, lsb1, acc.data() + o0);
      for (std::size_t q = 0; q < (c + 7) / 8; ++q) escbits[o0 / 8 + q] = static_cast<std::uint8_t>(esc >> (8 * q));
    }
    check(MPI_Allreduce(MPI_IN_PLACE, acc.data(), icount(b.count), MPI_INT32_T, MPI_SUM, MPI_COMM_WORLD),
          "MPI_Allreduce(MPI_SUM)");
    check(MPI_Allreduce(MPI_IN_PLACE, escbits.data(), icount(escbits.size()), MPI_UNSIGNED_CHAR, MPI_BOR,
                        MPI_COMM_WORLD),
          "MPI_Allreduce(MPI_BOR)");
    rk.sent += b.count * sizeof(std::int32_t) + escbits.size();
    // Results of pass 2; the escaped and zero-sum elements are listed (and overwritten later).
    escaped.clear();
    zeros.clear();
    for (std::size_t j = 0; j < nb; ++j) {
      const std::size_t o0 = j * B, c = std::min(B, b.count - o0);
      const int lsb1 = window_lsb(E[j], W1);
      std::uint64_t zero = local::round_block(isa, acc.data() + o0, c, lsb1, out.data() + b.start + o0), esc = 0;
      for (std::size_t q = 0; q < (c + 7) / 8; ++q) esc |= static_cast<std::uint64_t>(escbits[o0 / 8 + q]) << (8 * q);
      zero &= ~esc;
      for (; esc; esc &= esc - 1) escaped.push_back(o0 + static_cast<std::size_t>(std::countr_zero(esc)));
      for (; zero; zero &= zero - 1) zeros.push_back(o0 + static_cast<std::size_t>(std::countr_zero(zero)));
    }
    // Pass 3: the escaped elements' own bytes (MPI_MAX), then their int64s and the count of
    // flagged ones (MPI_SUM).
    if (!escaped.empty()) {
      const std::size_t ne = escaped.size();
      Ee.resize(ne);
      for (std::size_t q = 0; q < ne; ++q) {
        std::uint8_t e = 0;
        for (const float* sh : mine) e = std::max(e, block_byte(sh[b.start + escaped[q]]));
        Ee[q] = e;
      }
      check(MPI_Allreduce(MPI_IN_PLACE, Ee.data(), icount(ne), MPI_UNSIGNED_CHAR, MPI_MAX, MPI_COMM_WORLD),
            "MPI_Allreduce(MPI_MAX)");
      rk.sent += ne;
      wide.assign(ne + 1, 0);
      flag.assign(ne, 0);
      for (std::size_t q = 0; q < ne; ++q) {
        const std::size_t o = escaped[q];
        const int lsb2 = window_lsb(Ee[q], W2);
        bool ok = true;
        for (std::size_t k = 0; k < mine.size() && ok; ++k) ok = wide_add(wide[q], mine[k][b.start + o], lsb2);
        if (!ok) {
          flag[q] = 1;
          wide[q] = 0;
          ++wide[ne];
        }
      }
      check(MPI_Allreduce(MPI_IN_PLACE, wide.data(), icount(ne + 1), MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD),
            "MPI_Allreduce(MPI_SUM)");
      rk.sent += (ne + 1) * sizeof(std::int64_t);
      const bool any_flagged = wide[ne] != 0;
      if (any_flagged) {
        check(MPI_Allreduce(MPI_IN_PLACE, flag.data(), icount(ne), MPI_UNSIGNED_CHAR, MPI_BOR, MPI_COMM_WORLD),
              "MPI_Allreduce(MPI_BOR)");
        rk.sent += ne;
      }
      flagged.clear();
      for (std::size_t q = 0; q < ne; ++q) {
        const std::size_t o = escaped[q];
        if (any_flagged && flag[q]) flagged.push_back(b.start + o);
        else if (wide[q] == 0) zeros.push_back(o);
        else out[b.start + o] = fixed_result(wide[q], window_lsb(Ee[q], W2));
      }
      // Pass 4: the flagged elements' full accumulators.
      for (std::size_t f0 = 0; f0 < flagged.size(); f0 += kBatch) {
        const std::size_t m = std::min(kBatch, flagged.size() - f0);
        bins.assign(m * kFallbackBins, 0);
        flags.assign(m, 0);
        for (std::size_t j = 0; j < m; ++j) {
          Fallback f;
          for (const float* sh : mine) fallback_add(f, sh[flagged[f0 + j]]);
          std::copy(f.bins, f.bins + kFallbackBins, bins.begin() + static_cast<std::ptrdiff_t>(j * kFallbackBins));
          flags[j] = f.flags;
        }
        check(MPI_Allreduce(MPI_IN_PLACE, bins.data(), icount(bins.size()), MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD),
              "MPI_Allreduce(MPI_SUM)");
        check(MPI_Allreduce(MPI_IN_PLACE, flags.data(), icount(m), MPI_UINT32_T, MPI_BOR, MPI_COMM_WORLD),
              "MPI_Allreduce(MPI_BOR)");
        rk.sent += bins.size() * sizeof(std::int64_t) + m * sizeof(std::uint32_t);
        for (std::size_t j = 0; j < m; ++j) {
          Fallback f;
          std::copy(bins.begin() + static_cast<std::ptrdiff_t>(j * kFallbackBins),
                    bins.begin() + static_cast<std::ptrdiff_t>((j + 1) * kFallbackBins), f.bins);
          f.flags = flags[j];
          out[flagged[f0 + j]] = fallback_result(f);
        }
      }
    }
    // Pass 5: the sign of the zero sums, MPI_MAX.  zeros lists pass 2's then pass 3's elements;
    // every rank lists them alike (the order within the collective only has to agree).
    if (!zeros.empty()) {
      nz.assign(zeros.size(), 0);
      for (std::size_t q = 0; q < zeros.size(); ++q)
        for (const float* sh : mine) nz[q] |= not_neg_zero(sh[b.start + zeros[q]]) ? 1 : 0;
      check(MPI_Allreduce(MPI_IN_PLACE, nz.data(), icount(nz.size()), MPI_UNSIGNED_CHAR, MPI_MAX, MPI_COMM_WORLD),
            "MPI_Allreduce(MPI_MAX)");
      rk.sent += nz.size();
      for (std::size_t q = 0; q < zeros.size(); ++q) out[b.start + zeros[q]] = zero_result(nz[q] != 0);
    }
  }
}

}  // namespace

std::uint64_t allreduce_once(Variant v, const std::vector<const float*>& mine, const std::vector<float>& x,
                             std::size_t shards, std::size_t channels, std::size_t fusion, std::vector<float>& out) {
  Rank rk;
  check(MPI_Comm_rank(MPI_COMM_WORLD, &rk.rank), "MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &rk.size), "MPI_Comm_size");
  switch (v) {
    case Variant::mpi: out.resize(x.size()); mpi_float(rk, x, out, fusion); break;
    case Variant::ring: ring(rk, x, out, channels, fusion); break;
    case Variant::tree: tree(rk, x, out); break;
    case Variant::exact: exact(rk, mine, x.size(), shards, out, fusion); break;
  }
  return rk.sent;
}

namespace {

int worker(const WorkerArgs& a, std::ostream& os) {
  Rank rk;
  check(MPI_Comm_rank(MPI_COMM_WORLD, &rk.rank), "MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &rk.size), "MPI_Comm_size");
  const Data d = make_data(a.dist, a.n, a.shards, a.seed);
  const ShardRange g = rank_shards(a.shards, static_cast<std::size_t>(rk.size), static_cast<std::size_t>(rk.rank));
  std::vector<const float*> mine(d.shard_ptrs.begin() + static_cast<std::ptrdiff_t>(g.first),
                                 d.shard_ptrs.begin() + static_cast<std::ptrdiff_t>(g.first + g.count));
  std::vector<float> x(a.n);
  for (std::size_t i = 0; i < a.n; ++i) x[i] = local_sum(d.shard_ptrs.data(), g, i);

  WorkerFile file{static_cast<std::size_t>(rk.size), a.n, {}};
  std::vector<float> out;
  for (const Variant v : a.variants) {
    WorkerResult res{v, 0, 0, 0, {}};
    std::vector<double> ms;
    for (std::size_t run = 0; run < a.runs; ++run) {
      check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
      const double t0 = MPI_Wtime();
      // The time includes each rank's local accumulation of its shards: float adds for mpi, ring
      // and tree (here), the exponent and fixed-point passes for exact (inside allreduce_once).
      if (v != Variant::exact)
        for (std::size_t i = 0; i < a.n; ++i) x[i] = local_sum(d.shard_ptrs.data(), g, i);
      const std::uint64_t sent = allreduce_once(v, mine, x, a.shards, a.channels, a.fusion, out);
      double dt = (MPI_Wtime() - t0) * 1e3, slowest = 0;
      std::uint64_t most = 0;
      check(MPI_Reduce(&dt, &slowest, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD), "MPI_Reduce");
      check(MPI_Reduce(&sent, &most, 1, MPI_UINT64_T, MPI_MAX, 0, MPI_COMM_WORLD), "MPI_Reduce");
      ms.push_back(slowest);
      res.payload_bytes = most;
      if (run == 0) res.out = out;  // later runs are compared with run 0, never kept
      else if (std::memcmp(out.data(), res.out.data(), out.size() * sizeof(float)) != 0) ++res.runs_non_equal;
    }
    res.median_ms = median(ms);
    file.results.push_back(std::move(res));
  }
  if (rk.rank != 0) return 0;
  if (!a.out.empty()) {
    write_file_atomic(a.out, encode_worker_file(file), "--mpi-out");
    return 0;
  }
  // Under a user's own mpirun: rank 0 prints what it measured and whether it equals the simulation.
  os << "driftlab allreduce: " << rk.size << " MPI ranks, n=" << a.n << " floats per shard, " << a.shards
     << " shards, " << a.runs << " runs\n";
  os << std::left << std::setw(8) << "variant" << std::right << std::setw(12) << "median_ms" << std::setw(14)
     << "bytes" << std::setw(11) << "non_equal" << "  simulation\n";
  for (const auto& r : file.results) {
    std::string sim = "-";
    if (r.variant != Variant::mpi) {
      const auto s = simulate(r.variant, d, SimConfig{file.ranks, a.channels, a.fusion, IntOrder::ring});
      sim = std::memcmp(s.data(), r.out.data(), s.size() * sizeof(float)) == 0 ? "equal" : "DIFFERENT";
    }
    os << std::left << std::setw(8) << info(r.variant).name << std::right << std::setw(12) << sig(r.median_ms, 4)
       << std::setw(14) << r.payload_bytes << std::setw(11) << r.runs_non_equal << "  " << sim << "\n";
  }
  return 0;
}

}  // namespace

int run_worker(const WorkerArgs& a, std::ostream& os) {
  if (MPI_Init(nullptr, nullptr) != MPI_SUCCESS) throw std::runtime_error("allreduce: MPI_Init failed");
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int code = 1;
  try {
    code = worker(a, os);
  } catch (const std::exception& e) {
    // One rank failing must not leave the others waiting: abort the whole job.
    std::fprintf(stderr, "driftlab: %s\n", e.what());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  os.flush();
  MPI_Finalize();
  return code;
}

}  // namespace driftlab::allreduce
