// Tensor-parallel inference in one process (tp_sim.h): the orders of kernels/common/tp_order.h,
// every all-reduce through allreduce::simulate.
#include "host/distributed/tp_sim.h"

#include <cstring>
#include <sstream>
#include <stdexcept>

#include "host/distributed/allreduce_sim.h"
#include "host/distributed/result_bytes.h"
#include "kernels/common/tp_order.h"

namespace driftlab::tp {

std::optional<TpVariant> parse_tp_variant(std::string_view s) {
  for (const auto& i : kTpVariants)
    if (s == i.name) return i.variant;
  return std::nullopt;
}

std::optional<std::vector<TpVariant>> parse_tp_variants(std::string_view s, bool simulate) {
  std::vector<TpVariant> out;
  if (s == "all") {
    for (const auto& i : kTpVariants)
      if (!(simulate && i.variant == TpVariant::mpi)) out.push_back(i.variant);
    return out;
  }
  std::size_t pos = 0;
  while (true) {
    const std::size_t comma = s.find(',', pos);
    const auto v = parse_tp_variant(s.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos));
    if (!v) return std::nullopt;
    bool seen = false;
    for (const TpVariant w : out) seen = seen || w == *v;
    if (!seen) out.push_back(*v);
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return out;
}

namespace {

// The all-reduce's data of one layer: `shards` vectors of B*N partials, shard k over range(k).
template <class Range>
allreduce::Data layer_data(const Layer& l, const float* x, std::size_t B, std::size_t shards, Range range) {
  allreduce::Data d;
  d.n = B * l.N;
  d.shards = shards;
  d.values.resize(shards * d.n);
  for (std::size_t k = 0; k < shards; ++k) {
    partials(x, l.W.data(), B, l.K, l.N, range(k), d.values.data() + k * d.n);
    d.shard_ptrs.push_back(d.values.data() + k * d.n);
  }
  return d;
}

}  // namespace

std::vector<float> simulate_tp(TpVariant v, const Model& m, const std::vector<float>& x, std::size_t B, std::size_t P) {
  if (v == TpVariant::mpi) throw std::invalid_argument("tp mpi: Open MPI's order is measured, not simulated");
  if (P < 1) throw std::invalid_argument("tp simulation: P must be at least 1");
  std::vector<float> cur = x;
  for (const Layer& l : m.layers) {
    const allreduce::SimConfig cfg{P, 1, 0, allreduce::IntOrder::ring};
    allreduce::Data d;
    if (v == TpVariant::invariant)
      d = layer_data(l, cur.data(), B, chunk_count(l.K), [&](std::size_t c) { return chunk_range(l.K, c); });
    else
      d = layer_data(l, cur.data(), B, P, [&](std::size_t r) { return rank_k_range(l.K, P, r); });
    cur = allreduce::simulate(v == TpVariant::ring ? allreduce::Variant::ring : allreduce::Variant::exact, d, cfg);
    finish(cur.data(), l.b.data(), B, l.N, l.act);
  }
  return cur;
}

std::vector<float> invariant_forward(const Model& m, const std::vector<float>& x, std::size_t B) {
  std::vector<float> cur = x, next;
  for (const Layer& l : m.layers) {
    next.assign(B * l.N, 0.0f);
    invariant_dense(cur.data(), l.W.data(), l.b.data(), B, l.K, l.N, l.act, next.data());
    cur.swap(next);
  }
  return cur;
}

// --- the result file ------------------------------------------------------------------------

namespace {
constexpr char kMagic[8] = {'D', 'L', 'T', 'P', '1', '\n', 0, 0};
using result_bytes::put;
}  // namespace

std::string encode_tp_file(const TpFile& f) {
  std::string s(kMagic, sizeof kMagic);
  put<std::uint64_t>(s, f.ranks);
  put<std::uint64_t>(s, f.n);
  put<std::uint64_t>(s, f.results.size());
  for (const auto& r : f.results) {
    put<std::uint32_t>(s, static_cast<std::uint32_t>(r.variant));
    put<std::uint64_t>(s, r.runs_non_equal);
    put<double>(s, r.median_ms);
    s.append(reinterpret_cast<const char*>(r.out.data()), r.out.size() * sizeof(float));
  }
  return s;
}

TpFile decode_tp_file(const std::string& bytes) {
  result_bytes::Reader rd{bytes, "predict --tp"};
  char magic[sizeof kMagic];
  rd.take(magic, sizeof magic);
  if (std::memcmp(magic, kMagic, sizeof kMagic) != 0) throw std::runtime_error("predict --tp: not an MPI result file");
  TpFile f;
  f.ranks = rd.get<std::uint64_t>();
  f.n = rd.get<std::uint64_t>();
  const auto count = rd.get<std::uint64_t>();
  if (count > std::size(kTpVariants)) throw std::runtime_error("predict --tp: bad MPI result file");
  for (std::uint64_t k = 0; k < count; ++k) {
    TpResult r;
    const auto v = rd.get<std::uint32_t>();
    if (v >= std::size(kTpVariants)) throw std::runtime_error("predict --tp: bad variant in the MPI result file");
    r.variant = static_cast<TpVariant>(v);
    r.runs_non_equal = rd.get<std::uint64_t>();
    r.median_ms = rd.get<double>();
    if (f.n > (bytes.size() - rd.pos) / sizeof(float)) throw std::runtime_error("predict --tp: the MPI result file is truncated");
    r.out.resize(f.n);
    rd.take(r.out.data(), f.n * sizeof(float));
    f.results.push_back(std::move(r));
  }
  if (rd.pos != bytes.size()) throw std::runtime_error("predict --tp: trailing bytes in the MPI result file");
  return f;
}

}  // namespace driftlab::tp
