#include "host/distributed/allreduce_sim.h"

#include <algorithm>
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

// The P rank integers of one element combined in the configured order (the result must not care).
template <class Int>
Int combine_ints(std::vector<Int>& acc, const SimConfig& c, std::size_t o, std::size_t count) {
  const std::size_t P = c.ranks;
  if (c.exact_order == IntOrder::ring) return ring_value(acc.data(), P, o, count, c.channels);
  if (c.exact_order == IntOrder::tree) return tree_combine(acc.data(), P);
  Int total = 0;
  for (std::size_t r = 0; r < P; ++r) total += acc[r];
  return total;
}

// How an element ends (allreduce_order.h, exact): its pass and, for passes 2 and 3, the integer.
enum class ExactPath { narrow, wide, fallback };

void simulate_exact(const Data& d, const SimConfig& c, std::vector<float>& out, std::size_t* fallback_count) {
  const std::size_t P = c.ranks, B = kExactBlock;
  const int W1 = narrow_window_bits(d.shards), W2 = window_bits(d.shards);
  std::vector<ShardRange> groups(P);
  for (std::size_t r = 0; r < P; ++r) groups[r] = rank_shards(d.shards, P, r);
  std::vector<std::int32_t> acc32(P);
  std::vector<std::int64_t> acc64(P);
  for (std::size_t s = 0; s < d.n; s += (c.fusion ? c.fusion : d.n)) {
    const Bucket bk = bucket_of(s, d.n, c.fusion);
    for (std::size_t o0 = 0; o0 < bk.count; o0 += B) {
      const std::size_t cnt = std::min(B, bk.count - o0);
      // Pass 1: each rank's MAX of its block bytes, then the MAX over ranks.
      std::uint8_t E = 0;
      for (std::size_t r = 0; r < P; ++r) {
        std::uint8_t e = 0;
        for (std::size_t k = groups[r].first; k < groups[r].first + groups[r].count; ++k)
          for (std::size_t o = o0; o < o0 + cnt; ++o) e = std::max(e, block_byte(d.shard_ptrs[k][bk.start + o]));
        E = std::max(E, e);
      }
      const int lsb1 = window_lsb(E, W1);
      for (std::size_t o = o0; o < o0 + cnt; ++o) {
        const std::size_t i = bk.start + o;
        // Pass 2: each rank's int32 and escape bit; pass 3 for an escaped element.
        bool escaped = false, flagged = false;
        for (std::size_t r = 0; r < P; ++r) {
          std::int32_t a = 0;
          for (std::size_t k = groups[r].first; k < groups[r].first + groups[r].count; ++k)
            if (!narrow_add(a, d.shard_ptrs[k][i], lsb1)) escaped = true;
          acc32[r] = a;
        }
        std::int64_t total = 0;
        int lsb = lsb1;
        if (!escaped) {
          total = combine_ints(acc32, c, o, bk.count);
        } else {
          // Pass 3: the element's own byte (each rank's MAX, then the MAX over ranks).
          std::uint8_t Ee = 0;
          for (std::size_t k = 0; k < d.shards; ++k) Ee = std::max(Ee, block_byte(d.shard_ptrs[k][i]));
          const int lsb2 = window_lsb(Ee, W2);
          for (std::size_t r = 0; r < P; ++r) {
            std::int64_t a = 0;
            for (std::size_t k = groups[r].first; k < groups[r].first + groups[r].count; ++k)
              if (!wide_add(a, d.shard_ptrs[k][i], lsb2)) flagged = true;
            acc64[r] = a;
          }
          if (!flagged) total = combine_ints(acc64, c, o, bk.count);
          lsb = lsb2;
        }
        if (flagged) {
          // Pass 4: every rank's full accumulator, added bin by bin.
          if (fallback_count) ++*fallback_count;
          Fallback f_total;
          for (std::size_t r = 0; r < P; ++r) {
            Fallback f;
            for (std::size_t k = groups[r].first; k < groups[r].first + groups[r].count; ++k)
              fallback_add(f, d.shard_ptrs[k][i]);
            for (int b = 0; b < kFallbackBins; ++b) f_total.bins[b] += f.bins[b];
            f_total.flags |= f.flags;
          }
          out[i] = fallback_result(f_total);
        } else if (total != 0) {
          out[i] = fixed_result(total, lsb);
        } else {
          // Pass 5: whether any rank holds a value other than -0.0.
          bool any = false;
          for (std::size_t k = 0; k < d.shards; ++k) any = any || not_neg_zero(d.shard_ptrs[k][i]);
          out[i] = zero_result(any);
        }
      }
    }
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
    case Variant::exact: simulate_exact(d, c, out, nullptr); break;
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

std::size_t exact_fallback_count(const Data& d, std::size_t fusion) {
  std::vector<float> out(d.n);
  std::size_t count = 0;
  simulate_exact(d, SimConfig{1, 1, fusion, IntOrder::linear}, out, &count);
  return count;
}

}  // namespace driftlab::allreduce
