// `driftlab predict --tp LIST`: the MLP with each dense layer's K split over P ranks and the
// partials all-reduced (kernels/common/tp_order.h), one mpirun per TP size (mpirun_job.h), each
// MPI execution compared bit for bit with its simulation; or, with --simulate, the orders alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "host/commands/predict_command.h"
#include "host/distributed/tp_sim.h"

namespace driftlab {

// Reads a --tp flag (--tp, --tp-variant, --simulate, --timeout, --mpi-algorithm, --tp-worker, --tp-out) into `a`
// and returns true, or returns false when f is none of them.  check_tp_flags: after the last flag,
// the refusals of what does not combine with --tp (UsageError, one line).
bool parse_tp_flag(std::string_view f, ArgReader& r, PredictArgs& a);
void check_tp_flags(const PredictArgs& a);

struct TpRow {
  tp::TpVariant variant{};
  OutputDrift drift;                    // over the executions (TP sizes x algorithms): tp_distinct
  double ref_max_rel_err = 0;           // largest over the TP sizes, against the float64 forward pass
  std::optional<bool> equals_single;    // invariant: every TP size bitwise equal to invariant_forward
  std::optional<std::size_t> sim_equal; // MPI executions bitwise equal to their simulation (not mpi)
  std::size_t runs_non_equal = 0;       // MPI runs differing from their execution's run 0
  std::vector<double> median_ms;        // MPI: per execution (TP size major), the slowest rank's median
};

struct TpReport {
  std::string mode;  // "mpi" or "simulate"
  std::string model, origin;
  std::uint64_t init_seed = 0;
  std::size_t batch = 0, outputs = 0, runs = 0;
  std::vector<std::size_t> tp;
  std::vector<std::string> algorithms;  // MPI: Open MPI's algorithms run at every TP size
  std::vector<TpRow> rows;
  std::vector<std::string> mismatches;  // "ring at TP 3: element i differs from its simulation"
};

TpReport run_predict_tp(const PredictArgs& a);
void print_tp_table(const TpReport& r, std::ostream& out);
void write_tp_json(const TpReport& r, std::ostream& out);

// predict with --tp: the launcher, or one rank of a job (launched by it or a user's own mpirun).
int predict_tp_main(const PredictArgs& a, std::ostream& out);

}  // namespace driftlab
