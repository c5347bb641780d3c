#include "host/distributed/allreduce_sim.h"

#include <stdexcept>

#include "kernels/common/allreduce_order.h"
#include "kernels/cpu/sum.h"

namespace driftlab::allreduce {

std::optional<Variant> parse_variant(std::string_view s) {
  for (const auto& i : kVariants)
    if (s == i.name) return i.variant;
  return std::nullopt;
}

Data make_data(Dist dist, std::size_t n, std::size_t shards, std::uint64_t seed) {
  Data d;
  d.n = n;
  d.shards = shards;
  d.values = make_input(dist, DType::f32, n * shards, seed).f32;
  for (std::size_t k = 0; k < shards; ++k) d.shard_ptrs.push_back(d.values.data() + k * n);
  return d;
}

namespace {

void check_config(const Data& d, const SimConfig& c) {
  if (c.ranks < 1) throw std::invalid_argument("allreduce simulation: ranks must be at least 1");
  if (c.channels < 1) throw std::invalid_argument("allreduce simulation: channels must be at least 1");
  if (d.shards < 1 || d.shards > kMaxShards) throw std::invalid_argument("allreduce simulation: bad shard count");
}

// Combines the P rank values of element i (at position o of a buffer of `count`) in the ring's order.
template <class T> T ring_value(const T* v, std::size_t P, std::size_t o, std::size_t count, std::size_t C) {
  return ring_combine(v, P, ring_place(o, count, P, C).chunk);
}

void simulate_float(Variant v, const Data& d, const SimConfig& c, std::vector<float>& out) {
  const std::size_t P = c.ranks;
  std::vector<float> part(P);
  std::vector<ShardRange> groups(P);
  for (std::size_t r = 0; r < P; ++r) groups[r] = rank_shards(d.shards, P, r);
  for (std::size_t i = 0; i < d.n; ++i) {
    for (std::size_t r = 0; r < P; ++r) part[r] = local_sum(d.shard_ptrs.data(), groups[r], i);
    if (v == Variant::ring) {
      const Bucket b = bucket_of(i, d.n, c.fusion);
      out[i] = ring_value(part.data(), P, i - b.start, b.count, c.channels);
    } else {
      out[i] = tree_combine(part.data(), P);
    }
  }
}

void simulate_exact(const Data& d, const SimConfig& c, std::vector<float>& out) {
  const std::size_t P = c.ranks;
  const int W = window_bits(d.shards);
  std::vector<ShardRange> groups(P);
  for (std::size_t r = 0; r < P; ++r) groups[r] = rank_shards(d.shards, P, r);
  std::vector<std::uint8_t> ebyte(P);
  std::vector<std::int64_t> acc(P);
  for (std::size_t i = 0; i < d.n; ++i) {
    // Step 1: each rank's MAX of its bytes, then the MAX over ranks.
    std::uint8_t E = 0;
    for (std::size_t r = 0; r < P; ++r) {
      std::uint8_t e = 0;
      for (std::size_t k = groups[r].first; k < groups[r].first + groups[r].count; ++k)
        e = std::max(e, exponent_byte(d.shard_ptrs[k][i]));
      ebyte[r] = e;
      E = std::max(E, e);
    }
    // Step 2: each rank's integer and flag.
    bool flagged = E == 255;
    const int lsb = flagged ? 0 : window_lsb(E, W);
    for (std::size_t r = 0; r < P && !flagged; ++r) {
      std::int64_t a = 0;
      for (std::size_t k = groups[r].first; k < groups[r].first + groups[r].count; ++k) {
        const float x = d.shard_ptrs[k][i];
        if (E != 0 && !add_fixed(a, x, lsb)) flagged = true;
      }
      acc[r] = a;
    }
    if (!flagged) {
      std::int64_t total;
      if (c.exact_order == IntOrder::ring) {
        const Bucket b = bucket_of(i, d.n, c.fusion);
        total = ring_value(acc.data(), P, i - b.start, b.count, c.channels);
      } else if (c.exact_order == IntOrder::tree) {
        total = tree_combine(acc.data(), P);
      } else {
        total = 0;
        for (std::size_t r = 0; r < P; ++r) total += acc[r];
      }
      out[i] = exact_result(E, total, W);
      continue;
    }
    // Step 3: every rank's full accumulator, added bin by bin.
    Fallback total;
    for (std::size_t r = 0; r < P; ++r) {
      Fallback f;
      for (std::size_t k = groups[r].first; k < groups[r].first + groups[r].count; ++k) fallback_add(f, d.shard_ptrs[k][i]);
      for (int b = 0; b < kFallbackBins; ++b) total.bins[b] += f.bins[b];
      total.flags |= f.flags;
    }
    out[i] = fallback_result(total);
  }
}

}  // namespace

std::vector<float> simulate(Variant v, const Data& d, const SimConfig& c) {
  check_config(d, c);
  std::vector<float> out(d.n);
  switch (v) {
    case Variant::mpi: throw std::invalid_argument("the mpi variant's order is Open MPI's: it is measured, not simulated");
    case Variant::ring:
    case Variant::tree: simulate_float(v, d, c, out); break;
    case Variant::exact: simulate_exact(d, c, out); break;
  }
  return out;
}

std::vector<float> exact_reference(const Data& d) {
  std::vector<float> out(d.n), col(d.shards);
  const cpu::SumContext ctx{};
  for (std::size_t i = 0; i < d.n; ++i) {
    for (std::size_t k = 0; k < d.shards; ++k) col[k] = d.shard_ptrs[k][i];
    out[i] = cpu::sum_exact(col.data(), col.size(), ctx);
  }
  return out;
}

std::size_t exact_fallback_count(const Data& d) {
  const int W = window_bits(d.shards);
  std::size_t count = 0;
  for (std::size_t i = 0; i < d.n; ++i) {
    std::uint8_t E = 0;
    for (std::size_t k = 0; k < d.shards; ++k) E = std::max(E, exponent_byte(d.shard_ptrs[k][i]));
    bool flagged = E == 255;
    std::int64_t a = 0;
    for (std::size_t k = 0; k < d.shards && !flagged && E != 0; ++k)
      flagged = !add_fixed(a, d.shard_ptrs[k][i], window_lsb(E, W));
    count += flagged;
  }
  return count;
}

}  // namespace driftlab::allreduce
