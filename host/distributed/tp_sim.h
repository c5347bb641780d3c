// Tensor-parallel inference of the MLP (kernels/common/tp_order.h): the variants, the in-process
// simulation of P ranks (every all-reduce through allreduce_sim.h's simulate, the same code as
// `driftlab allreduce --simulate`), the single-process invariant order, and the result file an
// MPI execution's rank 0 hands back.  The Open MPI side: tp_mpi.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host/model/model.h"
#include "kernels/common/variant_info.h"

namespace driftlab::tp {

enum class TpVariant { mpi, ring, exact, invariant };

struct TpVariantInfo {
  TpVariant variant;
  const char* name;
  const char* determinism;
  const char* what;
  Level level;        // as the other tables (kernels/common/variant_info.h); mpi: as Open MPI documents it
  unsigned backends;  // the ranks run on the CPU (a GPU mapping is in docs/distributed.md)
  PlotStyle plot;     // how plots/plot.py's tp_ranks draws it (an order scale of its own)
};
inline constexpr TpVariantInfo kTpVariants[] = {
    {TpVariant::mpi, "mpi", "run to run (one TP size)", "K split over P ranks; partials by MPI_Allreduce(MPI_FLOAT, MPI_SUM)",
     Level::documented, kCpu, {"#ff7f0e", "o", 10}},
    {TpVariant::ring, "ring", "run to run (one TP size)", "K split over P ranks; partials by NCCL's ring order",
     Level::run_to_run, kCpu, {"#9467bd", "^", 20}},
    {TpVariant::exact, "exact", "one TP size, any MPI algorithm",
     "K split over P ranks; the P partials' exact sum rounded once", Level::run_to_run, kCpu, {"#2ca02c", "D", 30}},
    {TpVariant::invariant, "invariant", "any TP size, algorithm, device",
     "K cut into 256-chunks whatever P; the chunk partials' exact sum rounded once", Level::any_order, kCpu,
     {"#17becf", "P", 40}},
};
static_assert(table_in_enum_order(kTpVariants));
inline const TpVariantInfo& info(TpVariant v) { return kTpVariants[static_cast<int>(v)]; }
std::optional<TpVariant> parse_tp_variant(std::string_view s);
// "all" (every variant; without mpi when `simulate`), a name, or a comma-separated list; nullopt
// when a name is unknown or the list has an empty item.
std::optional<std::vector<TpVariant>> parse_tp_variants(std::string_view s, bool simulate);

// The model's output [B x N] under v on P simulated ranks (not mpi: throws std::invalid_argument).
// Inference: no dropout; float32 models only.
std::vector<float> simulate_tp(TpVariant v, const Model& m, const std::vector<float>& x, std::size_t B, std::size_t P);

// The invariant order in one process (tp_order.h's invariant_dense per layer): what every TP size
// of `invariant` equals bit for bit.
std::vector<float> invariant_forward(const Model& m, const std::vector<float>& x, std::size_t B);

// What one MPI execution's rank 0 writes for the launching process.
struct TpResult {
  TpVariant variant;
  std::size_t runs_non_equal = 0;  // runs whose output differs from run 0 bitwise
  double median_ms = 0;            // median over runs of the slowest rank's forward pass
  std::vector<float> out;          // run 0's output [B x N]
};
struct TpFile {
  std::size_t ranks = 0, n = 0;  // n = B * N
  std::vector<TpResult> results;
};
std::string encode_tp_file(const TpFile& f);
TpFile decode_tp_file(const std::string& bytes);  // throws std::runtime_error on a bad file

}  // namespace driftlab::tp
