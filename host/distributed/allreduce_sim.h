// The all-reduce variants in one process: every rank's partials and the order each variant
// combines them in (kernels/common/allreduce_order.h), for any rank count.  What an Open MPI
// execution (allreduce_mpi.h) is compared with bit for bit, and what `--simulate` runs at
// data-centre rank counts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "host/io/data.h"
#include "kernels/common/variant_info.h"

namespace driftlab::allreduce {

enum class Variant { mpi, ring, tree, exact };

struct VariantInfo {
  Variant variant;
  const char* name;
  const char* determinism;
  const char* what;
  Level level;        // as the other tables (kernels/common/variant_info.h); mpi: as Open MPI documents it
  unsigned backends;  // the ranks run on the CPU (a GPU mapping is in docs/distributed.md)
  PlotStyle plot;     // how plots/plot.py draws it (its own figure: an order scale of its own)
};
inline constexpr VariantInfo kVariants[] = {
    {Variant::mpi, "mpi", "run to run (one rank count, algorithm, size)",
     "MPI_Allreduce(MPI_FLOAT, MPI_SUM): Open MPI picks the order (measured, not simulated)", Level::documented, kCpu,
     {"#ff7f0e", "o", 10}},
    {Variant::ring, "ring", "run to run (one rank count, channels, size)",
     "NCCL's ring: reduce-scatter from rank chunk+1 around the ring, then all-gather", Level::run_to_run, kCpu,
     {"#9467bd", "^", 20}},
    {Variant::tree, "tree", "run to run (one rank count)",
     "fixed binomial tree to rank 0, then broadcast", Level::run_to_run, kCpu, {"#1f77b4", "s", 30}},
    {Variant::exact, "exact", "any rank count, algorithm, channels, size",
     "block exponent MAX, then int32 fixed point with MPI_SUM; int64 and exact fallbacks; rounded once",
     Level::any_order, kCpu, {"#2ca02c", "D", 40}},
};
static_assert(table_in_enum_order(kVariants));
inline const VariantInfo& info(Variant v) { return kVariants[static_cast<int>(v)]; }
std::optional<Variant> parse_variant(std::string_view s);

// M shards of n floats, shard k at values[k*n, (k+1)*n): make_input(dist, f32, M*n, seed).
struct Data {
  std::size_t n = 0, shards = 0;
  std::vector<float> values;
  std::vector<const float*> shard_ptrs;  // shard_ptrs[k] = values.data() + k*n
};
Data make_data(Dist dist, std::size_t n, std::size_t shards, std::uint64_t seed);

// The order the simulation of `exact` adds the ranks' integers in (the result must not care).
enum class IntOrder { linear, ring, tree };

struct SimConfig {
  std::size_t ranks = 1;
  std::size_t channels = 1;  // ring (and exact under IntOrder::ring)
  std::size_t fusion = 0;    // buffer size in elements; 0: one buffer of all n
  IntOrder exact_order = IntOrder::ring;
};

// Every element's all-reduced value under `v` (not mpi: throws std::invalid_argument).
std::vector<float> simulate(Variant v, const Data& d, const SimConfig& c);

// Per element, the exact sum of its M values rounded once: cpu::sum_exact of those M floats.
std::vector<float> exact_reference(const Data& d);

// How many elements of the exact variant take the fallback (pass 4) with buffers of `fusion`
// elements (0: one buffer), for the table.  Independent of the rank count: whether an element is
// flagged depends on its M values and its block's byte only.
std::size_t exact_fallback_count(const Data& d, std::size_t fusion = 0);

}  // namespace driftlab::allreduce
