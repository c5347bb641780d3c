// The JSON fields every result row of `sum`, `predict` and `attention` shares, written once: the
// row's header (backend, device, variant, determinism), the drift over the runs
// (distinct_outputs, ratio_non_equal, max_ulp) and the costs (cost_vs_atomic, vendor,
// cost_vs_vendor).  Each command writes its own fields between them, in the order of
// docs/report-files.md.
#pragma once

#include <optional>
#include <string_view>

#include "host/io/json.h"
#include "host/metrics/metrics.h"

namespace driftlab {

// "backend", "device", "variant", "determinism": the first fields of a row (after begin_object).
template <class VariantInfo>
JsonWriter& row_header(JsonWriter& j, std::string_view backend, std::string_view device, const VariantInfo& v) {
  return j.field("backend", backend).field("device", device).field("variant", v.name).field("determinism", v.determinism);
}

// "distinct_outputs", "ratio_non_equal", "max_ulp" (null: a NaN met a number) of a Drift or an
// OutputDrift.
template <class D> JsonWriter& drift_fields(JsonWriter& j, const D& d) {
  j.field("distinct_outputs", static_cast<std::uint64_t>(d.distinct_outputs)).field("ratio_non_equal", d.ratio_non_equal);
  return j.key("max_ulp").value_or_null(d.max_ulp, kUnorderedUlp);
}

// "cost_vs_atomic" (null without atomic in the run), then "vendor" and "cost_vs_vendor".
inline JsonWriter& cost_fields(JsonWriter& j, const std::optional<double>& vs_atomic, std::string_view vendor,
                               const std::optional<double>& vs_vendor) {
  j.key("cost_vs_atomic").value_or_null(vs_atomic);
  return j.field("vendor", vendor).key("cost_vs_vendor").value_or_null(vs_vendor);
}

}  // namespace driftlab
