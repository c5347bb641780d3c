// sum_exact against an independent oracle.
//
// The oracle here deliberately shares no code and no method with kernels/common/exact.h:
//   * terms are decoded with std::frexp/std::ldexp (not by reading exponent/fraction bits);
//   * the exact sum is kept as two sign-magnitude big naturals (positive and negative parts,
//     std::vector<std::uint32_t> limbs, schoolbook add/subtract/compare), counted in units of
//     the smallest subnormal (2^-149 for float, 2^-1074 for double), instead of per-exponent
//     bins folded into two's complement;
//   * rounding is decided by COMPARISON: a binary search over the bit patterns of T finds the two
//     adjacent representable neighbours lo <= |S| < hi, then 2*(|S| - lo) is compared with
//     hi - lo exactly, ties going to the even significand; no round/sticky bits are extracted.
//
// On top of the oracle, several checks need no oracle at all: a two-term sum must equal the
// hardware's (correctly rounded) a + b; float inputs in a narrow window sum exactly in double and
// then round once; subnormal sums are exact integers of units; constructed ties have answers
// known by construction.  Every comparison is on bits (NaN: any NaN).
#include <gtest/gtest.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <ios>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels/common/half.h"
#include "kernels/cpu/exact_simd.h"
#include "tests/exact_modes.h"
#include "kernels/cpu/sum.h"
#include "kernels/cpu/thread_pool.h"

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

namespace {

using driftlab::cpu::SumContext;
using driftlab::cpu::ThreadPool;
using driftlab::cpu::sum_exact;

template <class T> using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
template <class T> Bits<T> bits_of(T x) { return std::bit_cast<Bits<T>>(x); }
template <class T> T of_bits(Bits<T> b) { return std::bit_cast<T>(b); }

template <class T> constexpr T kMax = std::numeric_limits<T>::max();
template <class T> constexpr T kInf = std::numeric_limits<T>::infinity();
template <class T> constexpr T kDenormMin = std::numeric_limits<T>::denorm_min();
template <class T> constexpr int kDigits = std::numeric_limits<T>::digits;  // 24 / 53

template <class T> const char* type_name() { return sizeof(T) == 4 ? "float" : "double"; }

template <class T> std::string show(T x) {
  std::ostringstream os;
  os << std::hexfloat << x << " (bits 0x" << std::hex << +bits_of(x) << ")";
  return os.str();
}

template <class T> ::testing::AssertionResult SameBits(T got, T want) {
  if (std::isnan(got) && std::isnan(want)) return ::testing::AssertionSuccess();
  if (bits_of(got) == bits_of(want)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << type_name<T>() << ": got " << show(got) << ", want "
                                       << show(want);
}

// ---------------------------------------------------------------------------------------------
// The oracle.

template <class T> class Oracle {
 public:
  // |x| = M * 2^shift units, unit = 2^kUnitExp.
  static constexpr int kUnitExp = std::numeric_limits<T>::min_exponent - kDigits<T>;  // -149 / -1074
  // 2^kTopExp = MAX + ulp(MAX): the first power of two beyond the finite range.
  static constexpr int kTopExp = std::numeric_limits<T>::max_exponent;  // 128 / 1024
  static constexpr int kSpanBits = kTopExp - kUnitExp;                  // 277 / 2098
  // The widest value ever held: n < 2^38 terms below 2^kSpanBits units each, doubled once.
  static constexpr std::size_t kLimbs = (kSpanBits + 40) / 32 + 1;  // 11 / 67

  using Nat = std::vector<std::uint32_t>;  // little-endian, fixed width kLimbs

  static T sum(const std::vector<T>& x) { return sum(x.data(), x.size()); }

  static T sum(const T* x, std::size_t n) {
    bool nan = false, pos_inf = false, neg_inf = false, only_neg_zero = n > 0;
    Nat pos(kLimbs, 0), neg(kLimbs, 0);
    for (std::size_t i = 0; i < n; ++i) {
      const T v = x[i];
      if (std::isnan(v)) { nan = true; continue; }
      if (std::isinf(v)) { (std::signbit(v) ? neg_inf : pos_inf) = true; continue; }
      if (!(v == T(0) && std::signbit(v))) only_neg_zero = false;
      if (v == T(0)) continue;
      const auto [m, shift] = decompose(v);
      add_shifted(std::signbit(v) ? neg : pos, m, shift);
    }
    if (nan || (pos_inf && neg_inf)) return std::numeric_limits<T>::quiet_NaN();
    if (pos_inf) return kInf<T>;
    if (neg_inf) return -kInf<T>;
    const int c = compare(pos, neg);
    if (c == 0) return only_neg_zero ? -T(0) : T(0);
    const T mag = c > 0 ? round_magnitude(sub(pos, neg)) : round_magnitude(sub(neg, pos));
    return c > 0 ? mag : -mag;
  }

  // Exact value, in units, of a finite nonnegative T.
  static Nat value(T x) {
    Nat r(kLimbs, 0);
    if (x != T(0)) {
      const auto [m, shift] = decompose(x);
      add_shifted(r, m, shift);
    }
    return r;
  }

  static Nat pow2(int k) {
    Nat r(kLimbs, 0);
    r.at(static_cast<std::size_t>(k / 32)) = 1u << (k % 32);
    return r;
  }

  static int compare(const Nat& a, const Nat& b) {
    for (std::size_t k = kLimbs; k-- > 0;)
      if (a[k] != b[k]) return a[k] < b[k] ? -1 : 1;
    return 0;
  }

  // a - b for a >= b.
  static Nat sub(const Nat& a, const Nat& b) {
    Nat r(kLimbs, 0);
    std::int64_t borrow = 0;
    for (std::size_t k = 0; k < kLimbs; ++k) {
      std::int64_t d = static_cast<std::int64_t>(a[k]) - static_cast<std::int64_t>(b[k]) - borrow;
      borrow = d < 0;
      if (d < 0) d += std::int64_t(1) << 32;
      r[k] = static_cast<std::uint32_t>(d);
    }
    if (borrow) throw std::logic_error("oracle: negative difference");
    return r;
  }

  static Nat twice(const Nat& a) {
    Nat r(kLimbs, 0);
    std::uint32_t carry = 0;
    for (std::size_t k = 0; k < kLimbs; ++k) {
      r[k] = (a[k] << 1) | carry;
      carry = a[k] >> 31;
    }
    if (carry) throw std::overflow_error("oracle: width exceeded");
    return r;
  }

 private:
  // |x| = m * 2^shift units with shift >= 0, via frexp (x = f * 2^e, 0.5 <= f < 1).
  static std::pair<std::uint64_t, int> decompose(T x) {
    int e = 0;
    const T f = std::frexp(std::fabs(x), &e);
    std::uint64_t m = static_cast<std::uint64_t>(std::ldexp(f, kDigits<T>));  // exact, < 2^digits
    int shift = e - kDigits<T> - kUnitExp;
    if (shift < 0) {  // subnormal: the low -shift bits of m are zero
      if (m & ((std::uint64_t(1) << -shift) - 1)) throw std::logic_error("oracle: inexact decode");
      m >>= -shift;
      shift = 0;
    }
    return {m, shift};
  }

  // acc += m * 2^shift; carries run as far as they must.
  static void add_shifted(Nat& acc, std::uint64_t m, int shift) {
    const int bit = shift % 32;
    std::size_t k = static_cast<std::size_t>(shift / 32);
    const std::uint64_t low = m << bit;                   // bits 0..63 of the shifted value
    const std::uint64_t high = bit ? m >> (64 - bit) : 0;  // bits 64..95
    const std::uint32_t words[3] = {static_cast<std::uint32_t>(low),
                                    static_cast<std::uint32_t>(low >> 32),
                                    static_cast<std::uint32_t>(high)};
    std::uint64_t carry = 0;
    for (int w = 0; w < 3 || carry; ++w, ++k) {
      if (k >= kLimbs) {
        if (w < 3 && words[w] == 0 && !carry) break;
        throw std::overflow_error("oracle: width exceeded");
      }
      const std::uint64_t s = std::uint64_t(acc[k]) + (w < 3 ? words[w] : 0u) + carry;
      acc[k] = static_cast<std::uint32_t>(s);
      carry = s >> 32;
    }
  }

  // Round a positive exact magnitude s (units) to T, nearest-even, overflow to +Inf.
  static T round_magnitude(const Nat& s) {
    using U = Bits<T>;
    const Nat top = pow2(kSpanBits);  // 2^kTopExp: where the (unbounded) next binade starts
    if (compare(s, top) >= 0) return kInf<T>;
    // Positive finite bit patterns are ordered like their values.  Invariant: value(lo) <= s and
    // s < value(hi), where the pattern of +Inf stands for 2^kTopExp (the successor of MAX if the
    // exponent range were unbounded: MAX's bits + 1 == Inf's bits).
    const U inf_bits = bits_of(kInf<T>);
    U lo = 0, hi = inf_bits;
    while (hi - lo > 1) {
      const U mid = lo + (hi - lo) / 2;
      if (compare(value(of_bits<T>(mid)), s) <= 0) lo = mid;
      else hi = mid;
    }
    const Nat vlo = value(of_bits<T>(lo));
    const Nat vhi = hi == inf_bits ? top : value(of_bits<T>(hi));
    const int c = compare(twice(sub(s, vlo)), sub(vhi, vlo));
    // The low bit of a pattern is the low bit of its significand.  At the top, lo = MAX has an
    // odd significand, so a tie at MAX + ulp(MAX)/2 goes to hi, which is Inf.
    const U pick = c < 0 ? lo : c > 0 ? hi : ((lo & 1u) ? hi : lo);
    return of_bits<T>(pick);
  }
};

// ---------------------------------------------------------------------------------------------
// Helpers.

template <class T> T exact(const std::vector<T>& x, ThreadPool* pool = nullptr,
                           std::optional<std::uint64_t> seed = std::nullopt) {
  SumContext ctx;
  ctx.pool = pool;
  ctx.shuffle_seed = seed;
  return sum_exact<T>(x.data(), x.size(), ctx);
}

using Rng = std::mt19937_64;

// Portable helpers (the std:: distributions are implementation-defined).
std::uint64_t below(Rng& g, std::uint64_t n) { return g() % n; }
int uniform_int(Rng& g, int lo, int hi) {  // [lo, hi]
  return lo + static_cast<int>(below(g, static_cast<std::uint64_t>(hi - lo) + 1));
}
bool coin(Rng& g) { return g() & 1u; }
template <class V> void shuffle(V& v, Rng& g) {
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(g, i)]);
}

// A random value with a full significand and |x| in [2^e, 2^(e+1)) (before any underflow).
template <class T> T random_with_exp(Rng& g, int e) {
  const std::uint64_t m = (g() >> (64 - (kDigits<T> - 1))) | (std::uint64_t(1) << (kDigits<T> - 1));
  const T x = std::ldexp(static_cast<T>(m), e - (kDigits<T> - 1));
  return coin(g) ? -x : x;
}

template <class T> T random_finite_bits(Rng& g) {
  for (;;) {
    const T x = of_bits<T>(static_cast<Bits<T>>(g()));
    if (std::isfinite(x)) return x;
  }
}

template <class T> T random_subnormal(Rng& g) {
  const Bits<T> frac_mask = (Bits<T>(1) << (kDigits<T> - 1)) - 1;
  Bits<T> b = static_cast<Bits<T>>(g()) & frac_mask;
  if (b == 0) b = 1;
  if (coin(g)) b |= Bits<T>(1) << (8 * sizeof(T) - 1);
  return of_bits<T>(b);
}

template <class T> T next_up(T x) { return std::nextafter(x, kInf<T>); }
template <class T> T next_down(T x) { return std::nextafter(x, -kInf<T>); }

// Distance from positive finite b to the next representable value above it, computed in T;
// for MAX, the ulp of its binade.
template <class T> T ulp_up(T b) { return b == kMax<T> ? kMax<T> - next_down(kMax<T>) : next_up(b) - b; }

// ---------------------------------------------------------------------------------------------
// Input generators.  Each returns n terms; `want` is set where the answer is known by
// construction (independently of the oracle).

template <class T> struct Case {
  std::vector<T> x;
  std::optional<T> want;
};

template <class T> int wide_exp_limit() { return sizeof(T) == 4 ? 100 : 1000; }  // ~1e±30 / 1e±300

// x_i, then -x_i, plus a few tiny terms; shuffled.  Naive summation loses the tiny terms.
template <class T> Case<T> gen_cancellation(Rng& g, std::size_t n) {
  Case<T> c;
  const int lim = wide_exp_limit<T>();
  const std::size_t tiny = n % 2 ? 1 : (n >= 4 ? 2 : 0);
  for (std::size_t i = 0; i < (n - tiny) / 2; ++i) {
    const T v = random_with_exp<T>(g, uniform_int(g, -lim / 4, lim));
    c.x.push_back(v);
    c.x.push_back(-v);
  }
  for (std::size_t i = 0; i < tiny; ++i) c.x.push_back(random_with_exp<T>(g, uniform_int(g, -lim, -lim / 2)));
  if (tiny == 0) c.want = T(0);        // everything cancels: +0.0
  if (tiny == 1) c.want = c.x.back();  // everything else cancels exactly
  shuffle(c.x, g);
  return c;
}

// Random magnitudes over 2^±limit with random signs.
template <class T> Case<T> gen_wide(Rng& g, std::size_t n) {
  Case<T> c;
  const int lim = wide_exp_limit<T>();
  for (std::size_t i = 0; i < n; ++i) c.x.push_back(random_with_exp<T>(g, uniform_int(g, -lim, lim)));
  return c;
}

// Subnormals mixed with small normals (around the subnormal/normal boundary).  Every other
// input is instead mostly large cancelling pairs, with only a handful of such small terms, so
// that the exact sum lands in the lowest binades themselves.
template <class T> Case<T> gen_subnormal_mix(Rng& g, std::size_t n) {
  Case<T> c;
  const int emin = std::numeric_limits<T>::min_exponent;
  const auto small = [&] {
    return coin(g) ? random_subnormal<T>(g) : random_with_exp<T>(g, uniform_int(g, emin - 1, emin + 30));
  };
  if (n >= 8 && coin(g)) {
    const std::size_t few = 1 + below(g, 4);
    while (c.x.size() + few + 2 <= n) {
      const T v = random_with_exp<T>(g, uniform_int(g, emin, wide_exp_limit<T>()));
      c.x.push_back(v);
      c.x.push_back(-v);
    }
    while (c.x.size() < n) c.x.push_back(small());
    shuffle(c.x, g);
    return c;
  }
  for (std::size_t i = 0; i < n; ++i) c.x.push_back(small());
  return c;
}

// Any finite bit pattern: the whole range, including overflow of the exact sum.
template <class T> Case<T> gen_random_bits(Rng& g, std::size_t n) {
  Case<T> c;
  for (std::size_t i = 0; i < n; ++i) c.x.push_back(random_finite_bits<T>(g));
  return c;
}

// Near the top of the range: pairs (v, -v') with v, v' adjacent large values, plus a few
// MAX-sized terms; partial sums overflow, the exact sum is close to (or beyond) MAX.
template <class T> Case<T> gen_near_overflow(Rng& g, std::size_t n) {
  Case<T> c;
  const int top = std::numeric_limits<T>::max_exponent - 1;
  while (c.x.size() + 2 <= n) {
    const T v = std::fabs(random_with_exp<T>(g, uniform_int(g, top - 3, top)));
    const T w = coin(g) ? next_down(v) : (v == kMax<T> ? v : next_up(v));
    const bool flip = coin(g);
    c.x.push_back(flip ? -v : v);
    c.x.push_back(flip ? w : -w);
  }
  if (c.x.size() < n) c.x.push_back(coin(g) ? kMax<T> : -kMax<T>);
  shuffle(c.x, g);
  return c;
}

// A tie of rounding built from pieces: B + ulp(B)/2 split into several terms, big pairs that
// cancel (and overflow a naive sum), tiny pairs that cancel, optionally a nudge just above or
// below the tie.  Needs n >= 4 (smaller n falls back to random values, no known answer).
template <class T> Case<T> gen_tie(Rng& g, std::size_t n) {
  if (n < 4) return gen_wide<T>(g, n);
  Case<T> c;
  const int emax = std::numeric_limits<T>::max_exponent - 1;
  const int emin = std::numeric_limits<T>::min_exponent + kDigits<T> + 8;
  T b = std::fabs(random_with_exp<T>(g, uniform_int(g, emin, emax)));
  if (below(g, 8) == 0) b = kMax<T>;  // the tie at the top of the range rounds to Inf
  const T half = ulp_up(b) / 2;       // a power of two
  std::vector<T> terms = {b};
  // half = half/2 + half/4 + half/4 (or half itself)
  if (n >= 6) terms.insert(terms.end(), {half / 2, half / 4, half / 4});
  else terms.push_back(half);
  const int nudge = n >= terms.size() + 1 ? uniform_int(g, -1, 1) : 0;
  if (nudge) {
    // Strictly inside (0, half): cannot reach another rounding boundary.
    const int e = std::ilogb(half) - uniform_int(g, 1, kDigits<T> + 40);
    const T eps = std::max(std::fabs(random_with_exp<T>(g, e)), kDenormMin<T>);
    terms.push_back(nudge > 0 ? eps : -eps);
  }
  const int lim = wide_exp_limit<T>();
  while (terms.size() + 2 <= n) {
    const T v = coin(g) ? random_with_exp<T>(g, uniform_int(g, emax - 2, emax))   // big: overflows naive
                        : random_with_exp<T>(g, uniform_int(g, -lim, lim));
    terms.push_back(v);
    terms.push_back(-v);
  }
  if (terms.size() < n) terms.push_back(T(0));
  const T up = b == kMax<T> ? kInf<T> : next_up(b);
  const T want = nudge > 0 ? up : nudge < 0 ? b : ((bits_of(b) & 1u) ? up : b);
  const bool negate = coin(g);
  for (T& t : terms) t = negate ? -t : t;
  shuffle(terms, g);
  c.x = std::move(terms);
  c.want = negate ? -want : want;
  return c;
}

template <class T> using Generator = Case<T> (*)(Rng&, std::size_t);

template <class T> std::vector<std::pair<const char*, Generator<T>>> generators() {
  return {{"cancellation", &gen_cancellation<T>}, {"wide", &gen_wide<T>},
          {"subnormal_mix", &gen_subnormal_mix<T>}, {"random_bits", &gen_random_bits<T>},
          {"near_overflow", &gen_near_overflow<T>}, {"tie", &gen_tie<T>}};
}

// ---------------------------------------------------------------------------------------------
// Hand cases: exact answers known on paper, checked against sum_exact and the oracle.

template <class T> void expect_sum(const std::vector<T>& x, T want, const char* what) {
  SCOPED_TRACE(std::string(type_name<T>()) + ": " + what);
  EXPECT_TRUE(SameBits(Oracle<T>::sum(x), want)) << "(oracle)";
  EXPECT_TRUE(SameBits(exact(x), want)) << "(sum_exact, no pool)";
  ThreadPool pool(3);
  EXPECT_TRUE(SameBits(exact(x, &pool), want)) << "(sum_exact, 3 threads)";
}

template <class T> void check_zeros() {
  const T nz = -T(0), pz = T(0);
  {
    SCOPED_TRACE(type_name<T>());
    const std::vector<T> none;
    const T got = exact(none);
    EXPECT_EQ(bits_of(got), bits_of(pz)) << "n == 0 must give +0.0, got " << show(got);
    EXPECT_EQ(bits_of(Oracle<T>::sum(none)), bits_of(pz));
    EXPECT_EQ(bits_of(sum_exact<T>(nullptr, 0, SumContext{})), bits_of(pz));
  }
  expect_sum<T>({nz}, nz, "{-0}");
  expect_sum<T>({nz, nz, nz}, nz, "{-0, -0, -0}");
  expect_sum<T>({pz}, pz, "{+0}");
  expect_sum<T>({nz, pz}, pz, "{-0, +0}");
  expect_sum<T>({pz, nz}, pz, "{+0, -0}");
  expect_sum<T>({T(1), T(-1)}, pz, "{1, -1}");
  expect_sum<T>({T(-1), T(1)}, pz, "{-1, 1}");
  expect_sum<T>({nz, T(-1), nz, T(1), nz}, pz, "{-0, -1, -0, 1, -0}");
  expect_sum<T>({-kDenormMin<T>, kDenormMin<T>}, pz, "{-denorm_min, +denorm_min}");
  expect_sum<T>({-kMax<T>, -kMax<T>, kMax<T>, kMax<T>}, pz, "{-MAX, -MAX, MAX, MAX}");
  expect_sum<T>({nz, -kDenormMin<T>}, -kDenormMin<T>, "{-0, -denorm_min}");
  // Many -0.0 across several tiles (and threads): still -0.0; one +0.0 anywhere makes it +0.0.
  std::vector<T> many(200003, nz);
  expect_sum<T>(many, nz, "200003 x -0");
  many[131072] = pz;
  expect_sum<T>(many, pz, "200002 x -0 and one +0 in the third tile");
}

template <class T> void check_ties() {
  const int p = kDigits<T>;                    // 24 / 53
  const T one = T(1), h = std::ldexp(one, -p);  // h = ulp(1)/2 = 2^-24 / 2^-53
  const T tiny = std::ldexp(one, -p - 30);
  // 1 + h lies halfway between 1 (even significand) and 1 + 2h (odd): ties to 1.
  expect_sum<T>({one, h}, one, "1 + ulp/2 (tie, to even: 1)");
  expect_sum<T>({h, one}, one, "ulp/2 + 1");
  // Just above the half: rounds up; just below: rounds down.
  expect_sum<T>({one, h, tiny}, one + 2 * h, "1 + ulp/2 + tiny");
  expect_sum<T>({one, h, -tiny}, one, "1 + ulp/2 - tiny");
  expect_sum<T>({one, h / 2, h / 2, tiny, -tiny / 2, -tiny / 2}, one, "1 + ulp/4 + ulp/4 + tiny - tiny");
  // (1 + 2h) + h: halfway between 1 + 2h (odd) and 1 + 4h (even): ties up.
  expect_sum<T>({one + 2 * h, h}, one + 4 * h, "(1 + ulp) + ulp/2 (tie, to even: up)");
  // Binade edge from below: 1 - h/2 lies halfway between 1 - h (odd, all ones) and 1 (even).
  expect_sum<T>({one, -h / 2}, one, "1 - ulp(below 1)/2 (tie, to even: 1)");
  expect_sum<T>({one, -h / 2, -tiny}, one - h, "1 - ulp(below 1)/2 - tiny");
  // Negative mirror.
  expect_sum<T>({-one, -h}, -one, "-1 - ulp/2");
  expect_sum<T>({-one, -h, -tiny}, -(one + 2 * h), "-1 - ulp/2 - tiny");
  // A large tie with many far-away terms that cancel: 2^100 + 2^(100-p), with 2^(100-p+1) ulp.
  const T big = std::ldexp(one, 100);
  const T bh = std::ldexp(one, 100 - p);
  expect_sum<T>({T(1e-30), big, T(-3), bh, T(3), T(-1e-30)}, big, "2^100 + ulp/2 with cancelling terms");
  expect_sum<T>({big + 2 * bh, T(1e-30), bh, T(-1e-30)}, big + 4 * bh, "(2^100 + ulp) + ulp/2 (tie up)");
}

template <class T> void check_overflow() {
  const T max = kMax<T>, inf = kInf<T>;
  const T ulp = max - next_down(max);  // ulp(MAX) = 2^104 / 2^971
  const T half = ulp / 2;
  // Exact: MAX.  (Naive left to right: MAX + MAX = Inf, Inf - MAX = Inf.)
  expect_sum<T>({max, max, -max}, max, "{MAX, MAX, -MAX}");
  expect_sum<T>({-max, -max, max}, -max, "{-MAX, -MAX, MAX}");
  // MAX + ulp(MAX)/2 is exactly halfway between MAX and 2^(emax+1) = MAX + ulp(MAX) (the value
  // the next pattern would have with an unbounded exponent).  MAX's significand is all ones (odd);
  // 2^(emax+1)'s is even, so round-to-nearest-even picks 2^(emax+1), which exceeds MAX: +Inf.
  // This is also what the hardware does: MAX + half rounds to Inf (checked next).
  EXPECT_EQ(bits_of(max + half), bits_of(inf));
  expect_sum<T>({max, half}, inf, "{MAX, ulp(MAX)/2} (tie, to even: Inf)");
  expect_sum<T>({-max, -half}, -inf, "{-MAX, -ulp(MAX)/2}");
  expect_sum<T>({max, half / 2, half / 2}, inf, "{MAX, ulp/4, ulp/4}");
  expect_sum<T>({max, max, -max, half}, inf, "{MAX, MAX, -MAX, ulp/2}");
  // Just below the tie: MAX.
  expect_sum<T>({max, half, -kDenormMin<T>}, max, "{MAX, ulp/2, -denorm_min}");
  expect_sum<T>({max, next_down(half)}, max, "{MAX, pred(ulp/2)}");
  expect_sum<T>({max, max, -max, half, -kDenormMin<T>}, max, "{MAX, MAX, -MAX, ulp/2, -denorm_min}");
  expect_sum<T>({max, max}, inf, "{MAX, MAX}");
  expect_sum<T>({-max, -max}, -inf, "{-MAX, -MAX}");
  // 1000 x MAX, 1000 x -MAX interleaved in blocks, and a 1: exactly 1.
  std::vector<T> many;
  for (int i = 0; i < 1000; ++i) many.push_back(max);
  for (int i = 0; i < 1000; ++i) many.push_back(-max);
  many.push_back(T(1));
  expect_sum<T>(many, T(1), "1000 MAX, 1000 -MAX, 1");
  // Sum far beyond the range but one term brings it back exactly to a finite value.
  many.assign(70000, max);
  many.push_back(-max * T(0.5));
  for (int i = 0; i < 69999; ++i) many.push_back(-max);
  expect_sum<T>(many, max * T(0.5), "70000 MAX, -MAX/2, 69999 -MAX");
  // A huge exact sum of one sign (2^18 x MAX): the accumulator must not wrap around.
  many.assign(262144, max);
  expect_sum<T>(many, inf, "262144 x MAX");
  for (T& v : many) v = -v;
  many[7] = -next_down(max);
  expect_sum<T>(many, -inf, "262143 x -MAX, one -pred(MAX)");
}

template <class T> void check_specials() {
  const T inf = kInf<T>, nan = std::numeric_limits<T>::quiet_NaN();
  expect_sum<T>({nan}, nan, "{NaN}");
  expect_sum<T>({T(1), nan, T(2)}, nan, "{1, NaN, 2}");
  expect_sum<T>({T(1), -nan}, nan, "{1, -NaN}");
  expect_sum<T>({std::numeric_limits<T>::signaling_NaN(), T(1)}, nan, "{sNaN, 1}");
  expect_sum<T>({inf, -inf}, nan, "{+Inf, -Inf}");
  expect_sum<T>({-inf, T(3), inf}, nan, "{-Inf, 3, +Inf}");
  expect_sum<T>({inf, nan}, nan, "{+Inf, NaN}");
  expect_sum<T>({inf, T(1), inf}, inf, "{+Inf, 1, +Inf}");
  expect_sum<T>({-inf, T(-1e30)}, -inf, "{-Inf, -1e30}");
  expect_sum<T>({inf, -kMax<T>, -kMax<T>}, inf, "{+Inf, -MAX, -MAX}");
  expect_sum<T>({-T(0), -inf}, -inf, "{-0, -Inf}");
  // Specials deep inside a large input, in a later tile than the first.
  std::vector<T> x(200003, T(1));
  x[150001] = -inf;
  expect_sum<T>(x, -inf, "-Inf at 150001 of 200003");
  x[65536] = inf;
  expect_sum<T>(x, nan, "+Inf at 65536, -Inf at 150001");
  x[65536] = T(1);
  x[150001] = nan;
  expect_sum<T>(x, nan, "NaN at 150001");
}

template <class T> void check_subnormals(Rng& g) {
  const T dmin = kDenormMin<T>, fmin = std::numeric_limits<T>::min();
  const T dmax = next_down(fmin);
  expect_sum<T>({dmin, dmin, dmin}, 3 * dmin, "3 x denorm_min");
  expect_sum<T>({dmax, dmin}, fmin, "denorm_max + denorm_min = min normal");
  expect_sum<T>({dmax, dmax}, 2 * dmax, "denorm_max + denorm_max");
  expect_sum<T>({fmin, -dmin}, dmax, "min normal - denorm_min");
  expect_sum<T>({T(1), dmin, T(-1)}, dmin, "1 + denorm_min - 1");
  // Random subnormal sums: the exact total is an integer K of units, and K * 2^unit_exp rounded
  // once is ldexp(T(K), unit_exp) (int64 -> T rounds to nearest even; the scaling is exact).
  const std::size_t sizes[] = {1, 2, 3, 31, 32, 33, 1023, 1025, 65537, 100003};
  for (std::size_t n : sizes) {
    std::vector<T> x;
    std::int64_t k = 0;
    const bool one_sign = coin(g);
    for (std::size_t i = 0; i < n; ++i) {
      T v = random_subnormal<T>(g);
      if (one_sign) v = std::fabs(v);
      if constexpr (sizeof(T) == 8) {  // keep K within int64: 44-bit fractions when n is large
        if (n > 1025) v = of_bits<T>(bits_of(v) & ((Bits<T>(1) << 63) | ((Bits<T>(1) << 44) - 1)));
      }
      x.push_back(v);
      const auto units = static_cast<std::int64_t>(bits_of(std::fabs(v)));  // subnormal bits = units
      k += std::signbit(v) ? -units : units;
    }
    const T want = std::ldexp(static_cast<T>(k), Oracle<T>::kUnitExp);
    expect_sum<T>(x, want, ("random subnormals, n = " + std::to_string(n)).c_str());
  }
}

// ---------------------------------------------------------------------------------------------
// Tests.

TEST(ExactSum, EmptyAndSignedZeros) {
  check_zeros<float>();
  check_zeros<double>();
}

TEST(ExactSum, TiesToEven) {
  check_ties<float>();
  check_ties<double>();
}

TEST(ExactSum, OverflowAtTheTopOfTheRange) {
  check_overflow<float>();
  check_overflow<double>();
}

TEST(ExactSum, NaNAndInfinities) {
  check_specials<float>();
  check_specials<double>();
}

TEST(ExactSum, SubnormalsAreExact) {
  Rng g(0x5eed0001);
  check_subnormals<float>(g);
  check_subnormals<double>(g);
}

// The flag-checked lanes of the vector tiles (exact_simd.h): every term into double lanes kept
// over the tile, a block kept when no add raised inexact and redone by the windows or the span
// otherwise; wide tiles split each term at 2^-15 into hi and lo lanes (AVX-512); at the tile's
// end the lanes are summed into one vector when that is exact, else added one by one, and a lane
// that took an Inf or NaN leaves the tile's special flags to a scan.  Each case is three tiles
// (65536 terms each, read as four quarter streams), at every level on the calling thread, against
// the oracle.
TEST(ExactSum, FlagCheckedLanesKeepRedoAndFlushEachBlock) {
  driftlab::testing::each_flag_mode([&] {
    constexpr std::size_t T = 65536, Q = T / 4, N = 3 * T;
    Rng g(0x1a4e5);
    auto sig = [&] { return static_cast<float>((1u << 23) | static_cast<std::uint32_t>(below(g, 1u << 23))); };
    auto signed_sig = [&] { return coin(g) ? -sig() : sig(); };
    // Quarter streams 1 and 3 of each tile negate streams 0 and 2 term by term, so the sum is
    // exactly that of the terms put in afterwards (each zeroes its partner): a term a lane lost
    // would show in the result.
    auto paired = [&](auto gen) {
      std::vector<float> x(N);
      for (std::size_t t = 0; t < N; t += T)
        for (std::size_t h : {std::size_t(0), 2 * Q})
          for (std::size_t p = 0; p < Q; ++p) {
            x[t + h + p] = gen();
            x[t + h + Q + p] = -x[t + h + p];
          }
      return x;
    };
    auto put = [&](std::vector<float>& x, std::size_t at, float v) {
      x[at] = v;
      x[(at % T) / Q % 2 ? at - Q : at + Q] = 0.0f;
    };
    auto one_window = [&] { return std::ldexp(signed_sig(), -24); };  // [0.5, 1), a 2^-24 grid
    auto wide = [&] { return std::ldexp(signed_sig(), static_cast<int>(below(g, 40)) - 44); };  // 2^-21 .. 2^19
    const float odd_tiny = std::ldexp(static_cast<float>((1u << 23) + 1), -83);  // 2^-60 (1 + 2^-23)
    std::vector<std::pair<std::string, std::vector<float>>> cases;
    cases.emplace_back("one window, every block kept", paired(one_window));
    {
      std::vector<float> x = paired(one_window);  // each of these makes its block inexact
      for (std::size_t at : {std::size_t(3000), Q + 700, T + 2 * Q + 5, 2 * T + 3 * Q + 9999, N - 1})
        put(x, at, at % 2 ? odd_tiny : -4.0f * odd_tiny);
      cases.emplace_back("blocks redone", x);
    }
    for (const float special : {kInf<float>, -kInf<float>, std::numeric_limits<float>::quiet_NaN()}) {
      std::vector<float> x = paired(one_window);
      put(x, T + 2 * Q + 4000, special);
      cases.emplace_back("one " + show(special), x);
    }
    {
      std::vector<float> x = paired(one_window);
      put(x, Q + 3000, kInf<float>);
      put(x, 2 * T + 3 * Q + 100, -kInf<float>);
      cases.emplace_back("+Inf and -Inf in two tiles", x);
    }
    {
      // Lanes near 2^-118 (their ulp below 2^-149), subnormals among them.
      std::vector<float> x = paired([&] { return std::ldexp(signed_sig(), -147); });
      for (std::size_t at = 1000; at < N; at += 4099) put(x, at, std::ldexp(static_cast<float>(below(g, 1u << 23) + 1), -149));
      cases.emplace_back("tiny lanes and subnormals", x);
    }
    {
      std::vector<float> x(N);  // lanes up to 2^138: stream 0 positive, stream 1 its negation
      for (std::size_t t = 0; t < N; t += T)
        for (std::size_t p = 0; p < Q; ++p) {
          x[t + p] = std::ldexp(sig(), 104);
          x[t + Q + p] = -x[t + p];
        }
      x[N - 7] = 1.5f;
      cases.emplace_back("lanes near 2^138", x);
    }
    {
      std::vector<float> x(N);  // each lane exact, their sum not: the tile's lanes go in one by one
      for (std::size_t t = 0; t < N; t += T)
        for (std::size_t p = 0; p < Q; ++p) {
          x[t + p] = std::ldexp(signed_sig(), 37);
          x[t + Q + p] = std::ldexp(signed_sig(), -44);
        }
      cases.emplace_back("lanes whose sum is inexact", x);
    }
    cases.emplace_back("wide tiles", paired(wide));
    {
      // Unpaired terms of 2^-35 .. 2^-17 among the pairs (whose hi and lo parts cancel in the lanes
      // whatever a lane did with them), one in 37: a lo part lost or negated shows in the sum.  In wide
      // tiles, and in tiles of 2^-33 .. 2^25, wider than AVX-512's span (54 binades) and inside the
      // split lanes' 62, which take the split lanes whichever goes first.
      // And terms of 2^-14 .. 2^5 in their place: a hi part lost or negated shows.
      auto small = [&] { return std::ldexp(signed_sig(), static_cast<int>(below(g, 19)) - 58); };
      auto mid = [&] { return std::ldexp(signed_sig(), static_cast<int>(below(g, 20)) - 37); };
      for (const bool lo : {true, false}) {
        std::vector<float> x = paired(wide);
        std::vector<float> y = paired([&] { return std::ldexp(signed_sig(), static_cast<int>(below(g, 58)) - 56); });
        for (std::size_t at = 5; at < N; at += 37) {
          put(x, at, lo ? small() : mid());
          put(y, at, lo ? small() : mid());
        }
        cases.emplace_back(std::string("wide tiles, ") + (lo ? "small" : "mid") + " terms unpaired", x);
        cases.emplace_back(std::string("wide tiles past the span, ") + (lo ? "small" : "mid") + " terms unpaired", y);
      }
      // Two-window tiles of 2^-14 .. 2^5 only, mid terms unpaired: narrow enough that a hi lane stays
      // exact even when it takes a term's lo part too (d + lo, not d - lo), so that shows as well.
      std::vector<float> z = paired(mid);
      for (std::size_t at = 5; at < N; at += 37) put(z, at, mid());
      cases.emplace_back("two-window tiles of 2^-14 .. 2^5, mid terms unpaired", z);
    }
    {
      // A lo part off every grid (2^-60 (1 + 2^-23)) and a hi part too wide for a lane
      // (2^45 (1 + 3 * 2^-23), its negation in a later block): their blocks are redone.
      std::vector<float> x = paired(wide);
      put(x, 2 * Q + 1234, odd_tiny);
      const float big = std::ldexp(static_cast<float>((1u << 23) + 3), 22);
      put(x, T + 77, big);
      put(x, T + 4000, -big);
      cases.emplace_back("wide tiles, blocks redone", x);
    }
    {
      std::vector<float> x = paired(wide);
      put(x, 2 * T + Q + 5000, kInf<float>);
      cases.emplace_back("wide tiles and an Inf", x);
    }
    using driftlab::cpu::detail::ExactSimd;
    // AVX-512's wide tiles take the split lanes first on Intel, the span first elsewhere
    // (exact_split_lanes_first): both, whatever this CPU is.
    const bool split_first = driftlab::cpu::detail::exact_split_lanes_first();
    for (const auto& [what, x] : cases) {
      const float want = Oracle<float>::sum(x);
      for (const ExactSimd level : {ExactSimd::avx512, ExactSimd::avx2, ExactSimd::scalar}) {
        driftlab::cpu::detail::force_exact_simd(level);
        for (const bool split : {true, false}) {
          driftlab::cpu::detail::force_exact_split_lanes_first(split);
          EXPECT_TRUE(SameBits(exact(x), want))
              << what << " at " << driftlab::cpu::isa_name(level) << (split ? ", split lanes first" : ", span first");
        }
      }
    }
    driftlab::cpu::detail::force_exact_split_lanes_first(split_first);
#if defined(__x86_64__)
    // MXCSR: the caller's flags (inexact and overflow) survive and its control bits are unchanged;
    // under denormals-are-zero and flush-to-zero (which would drop a subnormal term from a lane
    // silently) the lanes are not taken and the sum is the same.
    const std::uint32_t csr = _mm_getcsr();
    const std::vector<float>& x =
        std::find_if(cases.begin(), cases.end(), [](const auto& c) { return c.first == "tiny lanes and subnormals"; })->second;
    const float want = Oracle<float>::sum(x);
    for (const ExactSimd level : {ExactSimd::avx512, ExactSimd::avx2}) {
      driftlab::cpu::detail::force_exact_simd(level);
      _mm_setcsr((csr & ~0x3fu) | 0x28u);
      const float got = exact(x);
      const std::uint32_t after = _mm_getcsr();
      _mm_setcsr(csr | 0x8040u);
      const float daz = exact(x);
      _mm_setcsr(csr);
      EXPECT_TRUE(SameBits(got, want)) << driftlab::cpu::isa_name(level);
      EXPECT_EQ(after & 0x28u, 0x28u) << std::hex << after;
      EXPECT_EQ(after & ~0x3fu, csr & ~0x3fu) << std::hex << after;
      EXPECT_TRUE(SameBits(daz, want)) << "under DAZ and FTZ at " << driftlab::cpu::isa_name(level);
    }
#endif
    driftlab::cpu::detail::force_exact_simd(ExactSimd::avx512);
  });
}

// bf16 at AVX2 takes the flag-checked lanes too (exact_simd.cpp): a block's terms go into 32
// float32 lanes, 8 terms each, which then go into the tile's double lanes; the block is kept when
// no add raised inexact.  Three tiles of paired quarter streams (1 and 3 negate 0 and 2), at every
// level, against the oracle on the widened values: a term a lane lost, or a lane kept that should
// not have been, shows in the result.
TEST(ExactSum, Bf16FlagCheckedLanesKeepRedoAndFlush) {
  driftlab::testing::each_flag_mode([&] {
    using driftlab::bf16;
    constexpr std::size_t T = 65536, Q = T / 4, N = 3 * T;
    Rng g(0xbf16);
    auto b16 = [](float v) { return bf16{static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(v) >> 16)}; };
    auto wide = [](bf16 b) { return std::bit_cast<float>(std::uint32_t{b.bits} << 16); };
    auto sig = [&] { return static_cast<float>(128 + below(g, 128)); };  // 8-bit significands
    auto paired = [&](auto gen) {
      std::vector<bf16> x(N);
      for (std::size_t t = 0; t < N; t += T)
        for (std::size_t h : {std::size_t(0), 2 * Q})
          for (std::size_t p = 0; p < Q; ++p) {
            x[t + h + p] = b16(gen());
            x[t + h + Q + p] = b16(-wide(x[t + h + p]));
          }
      return x;
    };
    auto put = [&](std::vector<bf16>& x, std::size_t at, float v) {
      x[at] = b16(v);
      x[(at % T) / Q % 2 ? at - Q : at + Q] = b16(0.0f);
    };
    auto unit = [&] { return std::ldexp(coin(g) ? -sig() : sig(), -8); };  // [0.5, 1)
    std::vector<std::pair<std::string, std::vector<bf16>>> cases;
    cases.emplace_back("every block kept", paired(unit));
    {
      std::vector<bf16> x = paired(unit);  // a term 2^-40 (1 + 2^-7) makes its block inexact
      for (std::size_t at : {std::size_t(5), Q + 300, T + 2 * Q + 77, 2 * T + 3 * Q + 4000, N - 1})
        put(x, at, std::ldexp(129.0f, -47) * (at % 2 ? 1.0f : -3.0f));
      cases.emplace_back("blocks redone", x);
    }
    {
      // Four terms of 1.5 * 2^127 in one float32 lane (stream 0, steps 0-3 of the block, lane 0)
      // overflow it; stream 2 holds their negations: the block is redone, and the sum is the 1.5.
      std::vector<bf16> x = paired(unit);
      for (std::size_t j : {0, 16, 32, 48}) {
        x[T + j] = b16(std::ldexp(1.5f, 127));
        x[T + Q + j] = b16(0.0f);
        x[T + 2 * Q + j] = b16(-std::ldexp(1.5f, 127));
        x[T + 3 * Q + j] = b16(0.0f);
      }
      put(x, T + 2000, 1.5f);
      cases.emplace_back("a float32 lane overflowing", x);
    }
    for (const float special : {kInf<float>, -kInf<float>, std::numeric_limits<float>::quiet_NaN()}) {
      std::vector<bf16> x = paired(unit);
      put(x, T + 2 * Q + 4000, special);
      cases.emplace_back("one " + show(special), x);
    }
    {
      std::vector<bf16> x = paired(unit);
      put(x, Q + 3000, kInf<float>);
      put(x, 2 * T + 3 * Q + 100, -kInf<float>);
      cases.emplace_back("+Inf and -Inf in two tiles", x);
    }
    {
      // Lanes near 2^-120 with subnormals among them (bf16 keeps float32's exponent): each block
      // exact, and kept.
      std::vector<bf16> x = paired([&] { return std::ldexp(coin(g) ? -sig() : sig(), -128); });
      for (std::size_t at = 700; at < N; at += 5003) put(x, at, std::ldexp(129.0f, -140));  // unpaired: they show
      cases.emplace_back("subnormal lanes", x);
    }
    {
      std::vector<bf16> x(N);  // each block exact, the double lanes' sums not: blocks redone
      for (std::size_t t = 0; t < N; t += T)
        for (std::size_t p = 0; p < Q; ++p) {
          x[t + p] = b16(std::ldexp(sig(), 60));
          x[t + 2 * Q + p] = b16(std::ldexp(sig(), -60));
        }
      cases.emplace_back("double lanes made inexact", x);
    }
    using driftlab::cpu::detail::ExactSimd;
    const driftlab::cpu::SumContext one{};
    for (const auto& [what, x] : cases) {
      std::vector<float> w(x.size());
      std::transform(x.begin(), x.end(), w.begin(), wide);
      const float want = Oracle<float>::sum(w);
      for (const ExactSimd level : {ExactSimd::avx512, ExactSimd::avx2, ExactSimd::scalar}) {
        driftlab::cpu::detail::force_exact_simd(level);
        EXPECT_TRUE(SameBits(driftlab::cpu::sum_half(driftlab::SumVariant::exact, x.data(), x.size(), one), want))
            << what << " at " << driftlab::cpu::isa_name(level);
      }
    }
#if defined(__x86_64__)
    // Under DAZ and FTZ (which would drop a subnormal term from a lane silently) the lanes are not
    // taken, and the sum is the same.
    const std::uint32_t csr = _mm_getcsr();
    const std::vector<bf16>& x =
        std::find_if(cases.begin(), cases.end(), [](const auto& c) { return c.first == "subnormal lanes"; })->second;
    std::vector<float> w(x.size());
    std::transform(x.begin(), x.end(), w.begin(), wide);
    const float want = Oracle<float>::sum(w);
    for (const ExactSimd level : {ExactSimd::avx512, ExactSimd::avx2}) {
      driftlab::cpu::detail::force_exact_simd(level);
      _mm_setcsr(csr | 0x8040u);
      const float daz = driftlab::cpu::sum_half(driftlab::SumVariant::exact, x.data(), x.size(), one);
      _mm_setcsr(csr);
      EXPECT_TRUE(SameBits(daz, want)) << "under DAZ and FTZ at " << driftlab::cpu::isa_name(level);
    }
#endif
    driftlab::cpu::detail::force_exact_simd(ExactSimd::avx512);
  });
}

// The software prefetch distance (exact_prefetch_bytes: 2048 on Intel, 0 elsewhere) is a hint:
// at every distance and level, f32, bf16 and f16 inputs that take the flag-checked lanes, the
// windows, the split span and the 16-bit paths give the oracle's bits (a distance that leaked
// into a load's address would show).  And the detected distance follows /proc/cpuinfo's vendor.
TEST(ExactSum, PrefetchDistanceChangesNoBits) {
  using driftlab::bf16;
  using driftlab::f16;
  const std::size_t n = 3 * 65536 + 4097;
  Rng g(0x9f0);
  std::vector<std::pair<std::string, std::vector<float>>> cases;
  for (const int span : {1, 30, 90}) {  // [0.5, 1); 30 binades; 90 binades, mixed signs
    std::vector<float> x(n);
    for (auto& v : x) v = std::ldexp(static_cast<float>(below(g, 1u << 24)), -24 - static_cast<int>(below(g, span))) * (span > 1 && coin(g) ? -1.0f : 1.0f);
    cases.emplace_back("span " + std::to_string(span), x);
  }
  cases.back().second[n / 2] = kInf<float>;
  ThreadPool pool(2);
  SumContext ctx;
  ctx.pool = &pool;
  using driftlab::cpu::detail::ExactSimd;
  const std::size_t detected = driftlab::cpu::detail::exact_prefetch_bytes();
  for (const auto& [what, x] : cases) {
    std::vector<bf16> b(n);
    std::vector<f16> h(n);
    std::vector<float> wb(n), wh(n);
    for (std::size_t i = 0; i < n; ++i) {
      b[i] = driftlab::Narrow<bf16>::from(x[i]);
      h[i] = driftlab::Narrow<f16>::from(x[i]);
      wb[i] = driftlab::widen(b[i]);
      wh[i] = driftlab::widen(h[i]);
    }
    const float want = Oracle<float>::sum(x), want_b = Oracle<float>::sum(wb), want_h = Oracle<float>::sum(wh);
    for (const std::size_t bytes : {std::size_t(0), std::size_t(2048), std::size_t(8192)}) {
      driftlab::cpu::detail::force_exact_prefetch_bytes(bytes);
      for (const ExactSimd level : {ExactSimd::avx512, ExactSimd::avx2}) {
        driftlab::cpu::detail::force_exact_simd(level);
        const std::string at = what + ", " + std::to_string(bytes) + " bytes ahead at " + driftlab::cpu::isa_name(level);
        EXPECT_TRUE(SameBits(sum_exact(x.data(), n, ctx), want)) << "f32, " << at;
        EXPECT_TRUE(SameBits(driftlab::cpu::sum_half(driftlab::SumVariant::exact, b.data(), n, ctx), want_b)) << "bf16, " << at;
        EXPECT_TRUE(SameBits(driftlab::cpu::sum_half(driftlab::SumVariant::exact, h.data(), n, ctx), want_h)) << "f16, " << at;
      }
    }
  }
  driftlab::cpu::detail::force_exact_prefetch_bytes(detected);
  driftlab::cpu::detail::force_exact_simd(ExactSimd::avx512);
#if defined(__x86_64__)
  // The vendor from CPUID leaf 0, read here on its own (not /proc/cpuinfo, which under an emulator
  // such as QEMU's user mode names the host's CPU, not the one the code sees).
  unsigned a = 0, b = 0, c = 0, d = 0;
  ASSERT_TRUE(__get_cpuid(0, &a, &b, &c, &d));
  char vendor[13] = {};
  std::memcpy(vendor, &b, 4);
  std::memcpy(vendor + 4, &d, 4);
  std::memcpy(vendor + 8, &c, 4);
  const bool intel = std::string(vendor) == "GenuineIntel";
  EXPECT_EQ(detected, intel ? 2048u : 0u) << vendor;
  EXPECT_EQ(driftlab::cpu::detail::exact_split_lanes_first(), intel) << vendor;
#endif
}

// A single term and a two-term sum are rounded once by the hardware itself: x + y is the
// correctly rounded exact sum (signed zeros, overflow, NaN and Inf per IEEE 754), so both the
// oracle and sum_exact must match it bit for bit.
template <class T> void check_pairs(Rng& g) {
  const int rounds = 10000;
  for (int i = 0; i < rounds; ++i) {
    T a, b;
    switch (i % 5) {
      case 0: a = random_finite_bits<T>(g); b = random_finite_bits<T>(g); break;
      case 1: {  // close magnitudes, often opposite signs: cancellation, ties
        a = random_finite_bits<T>(g);
        b = -a;
        const T step = std::ldexp(T(1), std::ilogb(a) - uniform_int(g, 0, kDigits<T> + 2));
        b += coin(g) ? step : -step;
        if (!std::isfinite(b)) b = random_finite_bits<T>(g);
        break;
      }
      case 2:  // subnormals, and the lowest normal binade
        a = random_subnormal<T>(g);
        b = coin(g) ? random_subnormal<T>(g)
                    : random_with_exp<T>(g, std::numeric_limits<T>::min_exponent - 1);
        break;
      case 3: {  // near the top
        const int top = std::numeric_limits<T>::max_exponent - 1;
        a = random_with_exp<T>(g, top);
        b = random_with_exp<T>(g, uniform_int(g, top - kDigits<T> - 2, top));
        break;
      }
      default: {  // one side special or zero
        const T pool[] = {T(0),     -T(0),   kInf<T>, -kInf<T>, std::numeric_limits<T>::quiet_NaN(),
                          kMax<T>, -kMax<T>};
        a = pool[below(g, 7)];
        b = coin(g) ? pool[below(g, 7)] : random_finite_bits<T>(g);
      }
    }
    const std::vector<T> x = {a, b};
    const T want = a + b;
    const T got_o = Oracle<T>::sum(x), got_e = exact(x);
    const std::vector<T> one = {a};
    if (!SameBits(got_o, want) || !SameBits(got_e, want) || !SameBits(exact(one), a) ||
        !SameBits(Oracle<T>::sum(one), a)) {
      ADD_FAILURE() << type_name<T>() << " pair " << show(a) << " + " << show(b) << ": hardware "
                    << show(want) << ", oracle " << show(got_o) << ", sum_exact " << show(got_e);
      return;
    }
  }
}

TEST(ExactSum, PairsMatchHardwareAddition) {
  Rng g(0x5eed0002);
  check_pairs<float>(g);
  check_pairs<double>(g);
}

// float terms k * 2^-20 with |k| < 2^24 sum exactly in double (n < 2^17 terms, so |sum| < 2^41
// units of 2^-20), and float(double sum) is the exact sum rounded once.  The double accumulator
// starts at -0.0 so that signed zeros follow IEEE too.
TEST(ExactSum, FloatMatchesExactDoubleSum) {
  Rng g(0x5eed0003);
  ThreadPool pool(4);
  const std::size_t sizes[] = {1, 2, 3, 31, 32, 33, 1023, 1025, 65535, 65537, 100003};
  for (std::size_t n : sizes) {
    for (int rep = 0; rep < 4; ++rep) {
      std::vector<float> x;
      double acc = -0.0;
      const int window = uniform_int(g, 1, 24);  // |k| < 2^window: exercises many magnitudes
      for (std::size_t i = 0; i < n; ++i) {
        const auto k = static_cast<std::int64_t>(below(g, std::uint64_t(1) << window));
        const float v = std::ldexp(static_cast<float>(coin(g) ? -k : k), -20);
        x.push_back(v);
        acc += static_cast<double>(v);
      }
      const float want = static_cast<float>(acc);
      EXPECT_TRUE(SameBits(exact(x, &pool), want)) << "n = " << n << " rep " << rep;
      EXPECT_TRUE(SameBits(Oracle<float>::sum(x), want)) << "(oracle) n = " << n << " rep " << rep;
    }
  }
}

template <class T> void check_random_vs_oracle(Rng& g, ThreadPool& pool) {
  const std::size_t sizes[] = {0, 1, 2, 3, 4, 5, 7, 31, 32, 33, 1023, 1025, 65535, 65536, 65537, 200003};
  for (const auto& [name, gen] : generators<T>()) {
    for (std::size_t n : sizes) {
      const Case<T> c = gen(g, n);
      ASSERT_EQ(c.x.size(), n) << name;
      const T want = Oracle<T>::sum(c.x);
      const std::string where = std::string(type_name<T>()) + " " + name + " n = " + std::to_string(n);
      if (c.want) {
        EXPECT_TRUE(SameBits(want, *c.want)) << "(oracle vs construction) " << where;
      }
      EXPECT_TRUE(SameBits(exact(c.x), want)) << "(no pool) " << where;
      EXPECT_TRUE(SameBits(exact(c.x, &pool), want)) << "(pool) " << where;
    }
  }
}

TEST(ExactSum, RandomAdversarialInputsMatchOracle) {
  driftlab::testing::each_flag_mode([&] {
    Rng g(0x5eed0004);
    ThreadPool pool(4);
    check_random_vs_oracle<float>(g, pool);
    check_random_vs_oracle<double>(g, pool);
  });
}

// Many small constructed ties (answers known by construction), all sizes 4..40.
template <class T> void check_constructed_ties(Rng& g) {
  for (int rep = 0; rep < 3000; ++rep) {
    const std::size_t n = 4 + below(g, 37);
    const Case<T> c = gen_tie<T>(g, n);
    ASSERT_TRUE(c.want.has_value());
    const T got = exact(c.x), oracle = Oracle<T>::sum(c.x);
    if (!SameBits(got, *c.want) || !SameBits(oracle, *c.want)) {
      std::ostringstream os;
      for (T v : c.x) os << show(v) << "\n";
      ADD_FAILURE() << type_name<T>() << " tie rep " << rep << ": want " << show(*c.want) << ", sum_exact "
                    << show(got) << ", oracle " << show(oracle) << "\ninputs:\n" << os.str();
      return;
    }
  }
}

TEST(ExactSum, ConstructedTies) {
  Rng g(0x5eed0005);
  check_constructed_ties<float>(g);
  check_constructed_ties<double>(g);
}

// One input mixing every kind of term, across many 65536-element tiles.
template <class T> std::vector<T> mixed_input(Rng& g, std::size_t n) {
  std::vector<T> x;
  const int lim = wide_exp_limit<T>();
  const int top = std::numeric_limits<T>::max_exponent - 1;
  while (x.size() < n) {
    switch (below(g, 6)) {
      case 0: {  // cancelling pair, far apart after the shuffle
        if (x.size() + 2 > n) break;
        const T v = random_with_exp<T>(g, uniform_int(g, -lim, top));
        x.push_back(v);
        x.push_back(-v);
        break;
      }
      case 1: x.push_back(random_with_exp<T>(g, uniform_int(g, -lim, lim))); break;
      case 2: x.push_back(random_subnormal<T>(g)); break;
      case 3: x.push_back(coin(g) ? T(0) : -T(0)); break;
      case 4: x.push_back(random_with_exp<T>(g, uniform_int(g, -10, 10))); break;
      default: x.push_back(random_with_exp<T>(g, uniform_int(g, top - 4, top))); break;
    }
  }
  return x;
}

template <class T> void check_invariance(Rng& g) {
  constexpr std::size_t n = 300001;  // 5 tiles: work really splits across threads
  std::vector<std::vector<T>> inputs;
  inputs.push_back(mixed_input<T>(g, n));
  {
    // Cancellation down to a result in the middle of a tie: exact answer known.
    Case<T> c = gen_tie<T>(g, n);
    inputs.push_back(std::move(c.x));
  }
  {
    std::vector<T> x = gen_near_overflow<T>(g, n).x;
    inputs.push_back(std::move(x));
  }
  std::vector<std::unique_ptr<ThreadPool>> owned;
  for (int t = 1; t <= 8; ++t) owned.push_back(std::make_unique<ThreadPool>(t));
  for (std::size_t which = 0; which < inputs.size(); ++which) {
    std::vector<T> x = inputs[which];
    const T ref = exact(x);
    const T want = Oracle<T>::sum(x);
    EXPECT_TRUE(SameBits(ref, want)) << type_name<T>() << " input " << which << " (vs oracle)";
    for (int perm = 0; perm < 4; ++perm) {
      if (perm > 0) shuffle(x, g);
      for (int t = 1; t <= 8; ++t) {
        ThreadPool& pool = *owned[static_cast<std::size_t>(t - 1)];
        const T got = exact(x, &pool, perm == 3 ? std::optional<std::uint64_t>(42) : std::nullopt);
        // Bits, not NaN-equivalence: the same input must give the very same bits.
        EXPECT_EQ(bits_of(got), bits_of(ref))
            << type_name<T>() << " input " << which << ", permutation " << perm << ", " << t
            << " threads: got " << show(got) << ", serial " << show(ref);
      }
    }
  }
}

TEST(ExactSum, BitwiseInvariantUnderPermutationsAndThreadCounts) {
  Rng g(0x5eed0006);
  check_invariance<float>(g);
  check_invariance<double>(g);
}

// The float64 vector tile (exact_f64.h): one window of 30 binades (or 60, for inputs like
// illcond), each term cut into int64 parts.  Every input below runs at the scalar level, at AVX2 and
// at AVX-512 (as far as this CPU goes), on the calling thread under five MXCSR settings (the
// default, the three directed roundings, DAZ and FTZ), and every result must have the oracle's
// bits.  The inputs reach each edge of the windows: the top two binades above the sample, one
// binade past them, the bottom of each window and one below, each window's largest terms 65536 a
// tile (the int64 lanes' headroom), tails of 1 to 31 terms, zeros, subnormals, specials, the
// top of the exponent range (windows clamped below it) and the bottom (windows start at 52).
TEST(ExactSum, F64WindowsMatchTheScalarLoopAndTheOracleAtEveryLevelAndRounding) {
  using driftlab::cpu::detail::ExactSimd;
  Rng g(0x5eedf064);
  std::vector<std::pair<std::string, std::vector<double>>> inputs;
  auto add = [&](std::string name, std::vector<double> x) { inputs.emplace_back(std::move(name), std::move(x)); };
  auto fill = [&](std::size_t n, auto gen) {
    std::vector<double> x(n);
    for (std::size_t i = 0; i < n; ++i) x[i] = gen(i);
    return x;
  };
  const double big_in = std::ldexp(2.0 - 0x1p-52, 2);  // exponent 1025: the top of the window over 1.0's sample
  for (const std::size_t n : {std::size_t(1), std::size_t(31), std::size_t(33), std::size_t(513), std::size_t(65535),
                              std::size_t(65537), std::size_t(3 * 65536 + 17)})
    add("uniform n=" + std::to_string(n),
        fill(n, [&](std::size_t) { return static_cast<double>(g() >> 11) * 0x1p-53 * (coin(g) ? 1 : -1); }));
  // illcond's shape: normal-ish values times 2^-20 .. 2^20, and their near negatives.
  add("illcond-like", fill(2 * 65536 + 5, [&](std::size_t) {
        return std::ldexp(static_cast<double>(g() >> 11) * 0x1p-53 + 0.25, uniform_int(g, -20, 20)) * (coin(g) ? 1 : -1);
      }));
  add("200 binades (no window)", fill(65536 + 9, [&](std::size_t i) { return std::ldexp(1.5, static_cast<int>(i * 37 % 200) - 100); }));
  // A sample of 1.0s, then the window's edges: 2^-27 (its bottom, exponent 996) and just below it,
  // the top (exponent 1025) and 8.0 (1026, just above).
  {
    std::vector<double> x(65536 + 100, 1.0);
    const double edges[] = {0x1p-27, std::ldexp(2.0 - 0x1p-52, -28), big_in, 8.0, -0x1p-27, -big_in, -8.0, 0x1.fffffffffffffp-27};
    for (std::size_t i = 512; i < x.size(); ++i) x[i] = edges[i % 8] * (i % 3 ? 1.0 : -1.0);
    add("30-binade window edges", std::move(x));
  }
  // The lanes' headroom: whole tiles of the window's largest term, one sign.
  // The lanes' headroom: tiles of the window's largest term (its sample 1.0), one sign.
  for (const double sign : {1.0, -1.0}) {
    std::vector<double> x(2 * 65536, sign * big_in);
    std::fill(x.begin(), x.begin() + 512, 1.0);
    std::fill(x.begin() + 65536, x.begin() + 65536 + 512, 1.0);
    add(sign > 0 ? "tiles of the top term" : "tiles of minus the top term", std::move(x));
  }
  // The 60-binade form: a sample over 58 binades up to 2.5 (window [2^-56, 16)), then its largest
  // terms (the lanes' headroom) and its edges.
  {
    std::vector<double> x(2 * 65536);
    const double top3 = std::ldexp(2.0 - 0x1p-52, 3);
    for (std::size_t i = 0; i < 512; ++i) x[i] = std::ldexp(1.25, 1 - static_cast<int>(i % 58));
    for (std::size_t i = 512; i < 65536; ++i) x[i] = top3;
    const double edges[] = {0x1p-56, std::ldexp(2.0 - 0x1p-52, -57), top3, 16.0};
    for (std::size_t i = 65536; i < x.size(); ++i)
      x[i] = i < 65536 + 512 ? std::ldexp(1.25, 1 - static_cast<int>(i % 58)) : edges[i % 4] * (i % 5 ? 1.0 : -1.0);
    add("60-binade window: top terms and edges", std::move(x));
  }
  // Zeros, subnormals and specials among window terms.
  {
    std::vector<double> x = fill(65536 + 77, [&](std::size_t) { return static_cast<double>(g() >> 11) * 0x1p-53; });
    for (std::size_t i = 0; i < x.size(); i += 97) x[i] = 0.0;
    for (std::size_t i = 5; i < x.size(); i += 1013) x[i] = -0.0;
    for (std::size_t i = 11; i < x.size(); i += 4099) x[i] = 0x1p-1070;  // subnormal
    add("zeros and subnormals", x);
    x[40001] = kInf<double>;
    add("one Inf", x);
    x[50001] = -kInf<double>;
    add("Inf and -Inf", x);
    x[40001] = std::numeric_limits<double>::quiet_NaN();
    add("a NaN", x);
  }
  add("all -0.0", std::vector<double>(70000, -0.0));
  add("all +0.0 and one -0.0", fill(70000, [](std::size_t i) { return i == 3 ? -0.0 : 0.0; }));
  // The top of the range: a sample near 2^1000 and terms up to the largest double (windows are
  // clamped below it), with an overflowing sum and one that cancels back.
  add("near the top", fill(65536 + 3, [&](std::size_t i) { return std::ldexp(1.0 + (i % 13) / 16.0, 990 + static_cast<int>(i % 34)) * (i % 2 ? 1 : -1); }));
  // A window at its highest (lo clamped to 1989, top 2018, about 2^995): the sample up to 2^994,
  // then terms at the window's top exponent (in) and one above it (out, though within top + 2).
  add("the highest window", fill(65536 + 40, [&](std::size_t i) {
        if (i % 65536 < 512) return std::ldexp(1.5, 967 + static_cast<int>(i % 28));
        const double v[] = {std::ldexp(2.0 - 0x1p-52, 995), std::ldexp(1.0, 996), std::ldexp(1.25, 980), 0x1p-40};
        return v[i % 4] * (i % 3 ? 1.0 : -1.0);
      }));
  // Sums that cancel exactly to 2^-1000, so that no error in the windows hides under the final
  // rounding: a tile of terms with full random significands over 28 binades (the 30-binade form)
  // or 57 (the 60-binade form, its lowest terms a binade above the window's bottom, where a cut
  // rounded up would leave a rest of 62 bits), then their negated top halves and bottom halves
  // (the significand cut at bit 26) in the tiles after.
  for (const int spread : {28, 57}) {
    std::vector<double> x, hi, lo;
    for (std::size_t i = 0; i < 65536; ++i) x.push_back(random_with_exp<double>(g, 3 - static_cast<int>(i % spread)));
    for (const double v : x) {
      const double h = of_bits<double>(bits_of(v) & ~((std::uint64_t{1} << 26) - 1));
      hi.push_back(-h);
      lo.push_back(-(v - h));
    }
    x.insert(x.end(), hi.begin(), hi.end());
    x.insert(x.end(), lo.begin(), lo.end());
    x.push_back(0x1p-1000);
    add("cancelling to 2^-1000 over " + std::to_string(spread) + " binades", std::move(x));
  }
  add("overflow", std::vector<double>(1000, kMax<double>));
  // The bottom: windows start at biased exponent 52, so tiny terms go to the scalar loop.
  add("tiny", fill(65536 + 3, [&](std::size_t i) { return std::ldexp(1.0 + (i % 7) / 8.0, -1020 + static_cast<int>(i % 60)); }));
  add("random bits", fill(65536 + 11, [&](std::size_t) {
        for (;;) {
          const double v = of_bits<double>(g());
          if (std::isfinite(v)) return v;
        }
      }));

  const unsigned csr0 = _mm_getcsr();
  const unsigned modes[] = {csr0, (csr0 & ~0x6000u) | 0x2000u, (csr0 & ~0x6000u) | 0x4000u, csr0 | 0x6000u, csr0 | 0x8040u};
  const char* mode_names[] = {"default", "round down", "round up", "toward zero", "DAZ+FTZ"};
  for (const auto& [name, x] : inputs) {
    const double want = Oracle<double>::sum(x);
    for (int m = 0; m < 5; ++m)
      for (const ExactSimd level : {ExactSimd::scalar, ExactSimd::avx2, ExactSimd::avx512}) {
        driftlab::cpu::detail::force_exact_simd(level);
        _mm_setcsr(modes[m]);
        const double got = exact(x);
        _mm_setcsr(csr0);
        EXPECT_TRUE(SameBits(got, want)) << name << ", " << mode_names[m] << ", "
                                         << driftlab::cpu::isa_name(driftlab::cpu::detail::exact_simd_level());
      }
  }
  driftlab::cpu::detail::force_exact_simd(ExactSimd::avx512);
}

TEST(ExactSum, OracleSelfChecks) {
  // The oracle's arithmetic on values whose sums are known.
  using O = Oracle<double>;
  EXPECT_EQ(O::compare(O::value(1.0), O::pow2(1074)), 0);
  EXPECT_EQ(O::compare(O::value(kDenormMin<double>), O::pow2(0)), 0);
  EXPECT_EQ(O::compare(O::twice(O::value(0x1p-1)), O::value(1.0)), 0);
  EXPECT_EQ(O::compare(O::sub(O::value(3.0), O::value(1.0)), O::value(2.0)), 0);
  EXPECT_EQ(O::compare(O::value(kMax<double>), O::sub(O::pow2(2098), O::pow2(2098 - 53))), 0);
  using OF = Oracle<float>;
  EXPECT_EQ(OF::compare(OF::value(kMax<float>), OF::sub(OF::pow2(277), OF::pow2(277 - 24))), 0);
  EXPECT_EQ(OF::compare(OF::value(std::numeric_limits<float>::min()), OF::pow2(23)), 0);
  // Integer sums below 2^53 are exact in double: the oracle must agree with plain addition.
  Rng g(0x5eed0007);
  for (int rep = 0; rep < 200; ++rep) {
    std::vector<double> x;
    double acc = 0;
    for (int i = 0; i < 100; ++i) {
      const double v = static_cast<double>(static_cast<std::int64_t>(below(g, 1ull << 40)) - (1ll << 39));
      x.push_back(v);
      acc += v;
    }
    EXPECT_TRUE(SameBits(O::sum(x), acc));
  }
}

}  // namespace

// --- The CUDA exact kernel's 32-bit magnitude words, replayed on the CPU ---------------------------
// kernels/cuda/sum.cu's exact_kernel adds each term's magnitude to an unsigned 32-bit word per (sign,
// bin) with a native shared atomic (one word set per warp for float), counts the adds that wrapped as
// carries, and folds each word's total (partials + carries * 2^32) into the 64-bit bins.  These tests
// run that arithmetic (exact.h's add_magnitude = atomicAdd + add_carry, magnitude_total, wide_add)
// with the terms dealt to warps and blocks in a shuffled order, as the atomics may serve them, and
// require the bits of the plain accumulator (add_term + finalize) and of cpu::sum_exact.
#include "kernels/common/exact.h"

namespace {

namespace ex = driftlab::exact;

struct MagnitudeReplay {
  std::uint64_t carries_seen = 0;  // wraps counted, over all blocks
};

// One term as exact_add adds it (Inf and NaN too, with magnitude 0); true for an Inf or NaN.
template <class T> bool add_one(std::uint32_t* words, std::uint32_t* carries, T x) {
  if constexpr (sizeof(T) == 4) {
    const ex::MagnitudeF32 t = ex::decode_magnitude(x);
    ex::add_magnitude(words, carries, t.word, t.mag);
    return ex::is_special_word(t);
  } else {
    const ex::MagnitudeF64 t = ex::decode_magnitude(x);
    ex::add_magnitude(words, carries, t.word_lo, t.mag_lo);
    ex::add_magnitude(words, carries, t.word_hi, t.mag_hi);
    return ex::is_special_word(t);
  }
}

// The GPU's exact sum of x: `blocks` blocks of `copies` word sets each; term order shuffled by `seed`.
template <class T> T replay_gpu_exact(const std::vector<T>& x, int blocks, int copies, std::uint64_t seed,
                                      MagnitudeReplay* stats = nullptr, bool drop_carries = false) {
  constexpr int kWords = ex::Magnitude<T>::kWords;
  std::vector<std::size_t> order(x.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  Rng g(seed);
  std::shuffle(order.begin(), order.end(), g);
  const int stride = kWords + 1;  // sum.cu's kExactStride
  std::vector<std::int64_t> bins(ex::Layout<T>::kBins, 0);  // the global bins (two's complement)
  std::uint32_t flags = x.empty() ? 0u : static_cast<std::uint32_t>(ex::kSeen);  // the kernel's kSeen
  typename driftlab::FloatBits<T>::UInt not_neg_zero = 0;
  std::vector<std::uint32_t> words(static_cast<std::size_t>(copies) * stride), carries(kWords);
  for (int b = 0; b < blocks; ++b) {
    std::fill(words.begin(), words.end(), 0u);
    std::fill(carries.begin(), carries.end(), 0u);
    for (std::size_t k = b; k < order.size(); k += blocks) {  // this block's terms
      const T v = x[order[k]];
      not_neg_zero |= ex::not_neg_zero_bits(v);
      const int lane_set = static_cast<int>(below(g, static_cast<std::uint64_t>(copies)));
      if (add_one(words.data() + static_cast<std::size_t>(lane_set) * stride, carries.data(), v))
        flags |= ex::term_flags(v);  // the kernel's slow path for a batch with an Inf or NaN
    }
    for (int w = 0; w < kWords; ++w) {
      if (stats) stats->carries_seen += carries[w];
      const std::uint64_t total = ex::magnitude_total(words.data() + w, copies, stride, drop_carries ? 0u : carries[w]);
      if (!total) continue;
      const ex::WideAdd a = ex::wide_add<T>(w, total);
      bins[a.bin] = static_cast<std::int64_t>(static_cast<std::uint64_t>(bins[a.bin]) + static_cast<std::uint64_t>(a.value));
    }
  }
  if (not_neg_zero) flags |= ex::kNotNegZero;
  return ex::finalize<T>(bins.data(), flags);
}

// The CUDA float kernel's lane-private layout (sum.cu's exact_lanes_kernel): `blocks` blocks, each
// term added by a random lane to that lane's copy of its word (exact.h's lane_word_index), the
// carries counted per word; then each word's 32 copies summed with its carries, as the kernel's
// warp shuffle does.  Term order shuffled by `seed`.
float replay_gpu_exact_lanes(const std::vector<float>& x, int blocks, std::uint64_t seed,
                             MagnitudeReplay* stats = nullptr, bool drop_carries = false) {
  constexpr int kWords = ex::Magnitude<float>::kWords;
  std::vector<std::size_t> order(x.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  Rng g(seed);
  std::shuffle(order.begin(), order.end(), g);
  std::vector<std::int64_t> bins(ex::Layout<float>::kBins, 0);
  std::uint32_t flags = x.empty() ? 0u : static_cast<std::uint32_t>(ex::kSeen);
  std::uint32_t not_neg_zero = 0;
  std::vector<std::uint32_t> words(static_cast<std::size_t>(kWords) * ex::kLaneCopies), carries(kWords);
  for (int b = 0; b < blocks; ++b) {
    std::fill(words.begin(), words.end(), 0u);
    std::fill(carries.begin(), carries.end(), 0u);
    for (std::size_t k = b; k < order.size(); k += blocks) {
      const float v = x[order[k]];
      not_neg_zero |= ex::not_neg_zero_bits(v);
      const int lane = static_cast<int>(below(g, ex::kLaneCopies));
      const ex::MagnitudeF32 t = ex::decode_magnitude(v);
      std::uint32_t& w = words[static_cast<std::size_t>(ex::lane_word_index(static_cast<int>(t.word), lane))];
      const std::uint32_t old = w;
      w = old + t.mag;
      carries[t.word] += ex::add_carry(old, t.mag);
      if (ex::is_special_word(t)) flags |= ex::term_flags(v);
    }
    for (int w = 0; w < kWords; ++w) {
      if (stats) stats->carries_seen += carries[w];
      std::uint64_t total = drop_carries ? 0u : static_cast<std::uint64_t>(carries[w]) << 32;
      for (int lane = 0; lane < ex::kLaneCopies; ++lane) total += words[static_cast<std::size_t>(ex::lane_word_index(w, lane))];
      if (!total) continue;
      const ex::WideAdd a = ex::wide_add<float>(w, total);
      bins[a.bin] = static_cast<std::int64_t>(static_cast<std::uint64_t>(bins[a.bin]) + static_cast<std::uint64_t>(a.value));
    }
  }
  if (not_neg_zero) flags |= ex::kNotNegZero;
  return ex::finalize<float>(bins.data(), flags);
}

// The plain accumulator: signed 64-bit bins, one add_term per finite term.
template <class T> T plain_exact(const std::vector<T>& x) {
  std::vector<std::int64_t> bins(ex::Layout<T>::kBins, 0);
  std::uint32_t flags = 0;
  for (T v : x) {
    flags |= ex::term_flags(v);
    if (!ex::is_special(v)) ex::add_term(bins.data(), v);
  }
  return ex::finalize<T>(bins.data(), flags);
}

// One term folded through its magnitude words equals the term in the signed bins.
template <class T> void check_single_terms(Rng& g) {
  std::vector<T> cases = {T(0), -T(0), kDenormMin<T>, -kDenormMin<T>, std::numeric_limits<T>::min(), kMax<T>, -kMax<T>,
                          T(1), T(-1.5)};
  for (int i = 0; i < 2000; ++i) cases.push_back(of_bits<T>(static_cast<Bits<T>>(g())));
  cases.push_back(kInf<T>);
  cases.push_back(-kInf<T>);
  cases.push_back(std::numeric_limits<T>::quiet_NaN());
  for (T v : cases) {
    // The hot loop's flags pieces give term_flags: kSeen, kNotNegZero by not_neg_zero_bits, the
    // rest by term_flags for the terms decode_magnitude marks special.
    std::uint32_t pieces = ex::kSeen | (ex::not_neg_zero_bits(v) ? static_cast<std::uint32_t>(ex::kNotNegZero) : 0u);
    const bool special = ex::is_special_word(ex::decode_magnitude(v));
    EXPECT_EQ(special, ex::is_special(v)) << show(v);
    if (special) pieces |= ex::term_flags(v);
    EXPECT_EQ(pieces, ex::term_flags(v)) << type_name<T>() << " term " << show(v);
    if (ex::is_special(v)) {  // adds magnitude 0
      std::vector<std::uint32_t> words(ex::Magnitude<T>::kWords, 0), carries(ex::Magnitude<T>::kWords, 0);
      add_one(words.data(), carries.data(), v);
      EXPECT_TRUE(std::all_of(words.begin(), words.end(), [](std::uint32_t w) { return w == 0; })) << show(v);
      continue;
    }
    std::vector<std::int64_t> want(ex::Layout<T>::kBins, 0), got(ex::Layout<T>::kBins, 0);
    ex::add_term(want.data(), v);
    std::vector<std::uint32_t> words(ex::Magnitude<T>::kWords, 0), carries(ex::Magnitude<T>::kWords, 0);
    add_one(words.data(), carries.data(), v);
    for (int w = 0; w < ex::Magnitude<T>::kWords; ++w)
      ex::fold_magnitude<T>(got.data(), w, ex::magnitude_total(words.data() + w, 1, 0, carries[w]));
    EXPECT_EQ(want, got) << type_name<T>() << " term " << show(v);
  }
}

TEST(ExactMagnitudeWords, SingleTermsFoldToTheirBins) {
  Rng g(0x5eed0101);
  check_single_terms<float>(g);
  check_single_terms<double>(g);
}

TEST(ExactMagnitudeWords, AddCarryIsTheWrap) {
  EXPECT_EQ(ex::add_carry(0u, 0xffffffu), 0u);
  EXPECT_EQ(ex::add_carry(0xffffffffu, 0u), 0u);
  EXPECT_EQ(ex::add_carry(0xffffffffu, 1u), 1u);
  EXPECT_EQ(ex::add_carry(0xff000001u, 0xffffffu), 1u);  // lands on exactly 2^32: wraps to 0
  EXPECT_EQ(ex::add_carry(0xff000000u, 0xffffffu), 0u);  // 0xffffffff: no wrap
  std::uint32_t word = 0, carry = 0;
  std::uint64_t sum = 0;
  for (int i = 0; i < 100000; ++i) {
    ex::add_magnitude(&word, &carry, 0, 0xfffffeu - static_cast<std::uint32_t>(i % 7));
    sum += 0xfffffeu - static_cast<std::uint32_t>(i % 7);
  }
  EXPECT_EQ(ex::magnitude_total(&word, 1, 0, carry), sum);
  EXPECT_EQ(carry, sum >> 32);
}

// Many terms of one (sign, exponent): the words wrap hundreds of times per block; the result must
// still be the plain accumulator's, and dropping the carries must change it (the carries matter).
template <class T> void check_hot_words(Rng& g) {
  std::vector<T> x;
  const T big = sizeof(T) == 4 ? T(0x1.fffffep0) : T(0x1.fffffffffffffp0);
  for (int i = 0; i < 60000; ++i) x.push_back(i % 3 ? big : -big * T(0.75));
  for (int i = 0; i < 20000; ++i) x.push_back(static_cast<T>(std::ldexp(static_cast<double>(below(g, 1u << 20)) + 1, -18)));
  x.push_back(T(0x1p-60));  // a tiny term, so rounding depends on every bit
  const T want = plain_exact(x);
  ASSERT_TRUE(SameBits(want, sum_exact(x.data(), x.size(), SumContext{}))) << type_name<T>();
  for (int blocks : {1, 3, 16})
    for (int copies : {1, 8}) {
      MagnitudeReplay stats;
      const T got = replay_gpu_exact(x, blocks, copies, 0x5eed0200 + blocks * 10 + copies, &stats);
      EXPECT_TRUE(SameBits(want, got)) << type_name<T>() << " blocks " << blocks << " copies " << copies << ": want "
                                       << show(want) << ", replay " << show(got);
      EXPECT_GT(stats.carries_seen, 100u) << "the test must wrap the 32-bit words";
    }
  EXPECT_FALSE(SameBits(want, replay_gpu_exact(x, 1, 1, 1, nullptr, /*drop_carries=*/true)));
  if constexpr (sizeof(T) == 4) {  // the lane-private layout of the CUDA float kernel
    for (int blocks : {1, 3}) {
      MagnitudeReplay stats;
      const T got = replay_gpu_exact_lanes(x, blocks, 0x5eed0300 + blocks, &stats);
      EXPECT_TRUE(SameBits(want, got)) << "lanes, blocks " << blocks << ": want " << show(want) << ", replay " << show(got);
      EXPECT_GT(stats.carries_seen, 0u) << "the test must wrap the lane-private words";
    }
    EXPECT_FALSE(SameBits(want, replay_gpu_exact_lanes(x, 1, 1, nullptr, /*drop_carries=*/true)));
  }
}

TEST(ExactMagnitudeWords, WrappingWordsGiveThePlainExactSum) {
  Rng g(0x5eed0102);
  check_hot_words<float>(g);
  check_hot_words<double>(g);
}

// Random adversarial inputs (every exponent, both signs, specials, signed zeros): the replay at any
// block and warp count equals the plain accumulator and cpu::sum_exact bit for bit.
template <class T> void check_random_replays(Rng& g) {
  for (int rep = 0; rep < 40; ++rep) {
    std::vector<T> x;
    const std::size_t n = 1 + below(g, 3000);
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t kind = below(g, 100);
      if (kind < 2 && rep % 4 == 0) x.push_back(kind ? kInf<T> : -kInf<T>);
      else if (kind < 4) x.push_back(rep % 2 ? -T(0) : T(0));
      else if (kind < 40) x.push_back(of_bits<T>(static_cast<Bits<T>>(g())));  // any pattern (NaN too)
      else x.push_back(static_cast<T>(std::ldexp(static_cast<double>(below(g, 1u << 24)) * (kind % 2 ? 1 : -1), static_cast<int>(below(g, 80)) - 40)));
    }
    const T want = plain_exact(x);
    const T lib = sum_exact(x.data(), x.size(), SumContext{});
    EXPECT_TRUE(SameBits(want, lib)) << type_name<T>() << " rep " << rep;
    const int blocks = 1 + static_cast<int>(below(g, 20)), copies = rep % 2 ? 8 : 1;
    const T got = replay_gpu_exact(x, blocks, copies, g());
    EXPECT_TRUE(SameBits(want, got)) << type_name<T>() << " rep " << rep << ": want " << show(want) << ", replay "
                                     << show(got);
    if constexpr (sizeof(T) == 4) {
      const T lanes = replay_gpu_exact_lanes(x, blocks, g());
      EXPECT_TRUE(SameBits(want, lanes)) << "lanes rep " << rep << ": want " << show(want) << ", replay " << show(lanes);
    }
  }
}

// The CUDA float kernel's layout: a warp's 32 lanes always hit 32 distinct banks (bank = index mod
// 32 = the lane), whatever words they add to, and the copies of all words are distinct and in range.
TEST(ExactMagnitudeWords, LanePrivateWordsPutEachLaneInItsOwnBank) {
  constexpr int kWords = ex::Magnitude<float>::kWords;
  std::vector<int> seen(static_cast<std::size_t>(kWords) * ex::kLaneCopies, 0);
  for (int w = 0; w < kWords; ++w)
    for (int lane = 0; lane < ex::kLaneCopies; ++lane) {
      const int i = ex::lane_word_index(w, lane);
      ASSERT_GE(i, 0);
      ASSERT_LT(i, kWords * ex::kLaneCopies);
      EXPECT_EQ(i % 32, lane) << "word " << w << " lane " << lane;
      ++seen[static_cast<std::size_t>(i)];
    }
  EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; }));
  EXPECT_EQ(ex::kLaneCopies, 32);
}

TEST(ExactMagnitudeWords, RandomReplaysMatchPlainAndCpu) {
  Rng g(0x5eed0103);
  check_random_replays<float>(g);
  check_random_replays<double>(g);
}

// ---- sum_bins, finalize's exact sum (session 13: positives and negatives summed apart, carries
// stopped where they end).  The reference is the accumulation it replaced, kept here: every signed
// bin added into one two's complement number, its sign extended through every limb above it.  The
// limbs must be equal, bit for bit.
template <class T> std::vector<std::uint64_t> sum_bins_reference(const std::vector<std::int64_t>& bins) {
  constexpr int kLimbs = ex::Layout<T>::kLimbs;
  std::vector<std::uint64_t> limbs(kLimbs, 0);
  for (int b = 0; b < ex::Layout<T>::kBins; ++b) {
    const std::int64_t v = bins[static_cast<std::size_t>(b)];
    if (v == 0) continue;
    const int shift = (b > 1 ? b : 1) - 1, word = shift / 64, bit = shift % 64;
    const std::uint64_t ext = v < 0 ? ~0ull : 0ull;
    const std::uint64_t lo = static_cast<std::uint64_t>(v) << bit;
    const std::uint64_t hi = bit ? static_cast<std::uint64_t>(v >> (64 - bit)) : ext;
    std::uint64_t carry = 0;
    for (int k = word; k < kLimbs; ++k) {
      const std::uint64_t add = k == word ? lo : (k == word + 1 ? hi : ext);
      const std::uint64_t s1 = limbs[static_cast<std::size_t>(k)] + add;
      const std::uint64_t c1 = s1 < add;
      const std::uint64_t s2 = s1 + carry;
      carry = c1 | (s2 < s1);
      limbs[static_cast<std::size_t>(k)] = s2;
    }
  }
  return limbs;
}

template <class T> void check_random_bins(Rng& g) {
  constexpr int kBins = ex::Layout<T>::kBins;
  const std::int64_t extremes[] = {std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max(), -1, 1,
                                   std::int64_t(1) << 62, -(std::int64_t(1) << 62)};
  for (int round = 0; round < 3000; ++round) {
    std::vector<std::int64_t> bins(kBins, 0);
    const int kind = round % 5;
    const int count = 1 + static_cast<int>(below(g, kind == 4 ? static_cast<std::uint64_t>(kBins) : 40));
    // Bins near each other (a data set's exponent range), magnitudes of every width, the extremes,
    // cancelling neighbours, or bins all over the layout.
    const int centre = static_cast<int>(below(g, kBins));
    for (int i = 0; i < count; ++i) {
      const int b = kind == 0 ? std::clamp(centre + static_cast<int>(below(g, 60)) - 30, 0, kBins - 1)
                              : static_cast<int>(below(g, kBins));
      std::int64_t v = static_cast<std::int64_t>(g());
      if (kind == 1) v >>= below(g, 64);
      if (kind == 2) v = extremes[below(g, std::size(extremes))];
      if (kind == 3 && b + 1 < kBins) {  // bin b+1 weighs twice bin b: -v/2 there cancels v here
        v &= ~std::int64_t(1);
        bins[static_cast<std::size_t>(b + 1)] = -(v / 2);
      }
      bins[static_cast<std::size_t>(b)] = v;
    }
    std::vector<std::uint64_t> got(ex::Layout<T>::kLimbs);
    ex::sum_bins<T>(bins.data(), got.data());
    ASSERT_EQ(got, sum_bins_reference<T>(bins)) << type_name<T>() << ", round " << round << ", kind " << kind;
    // sum.cu's exact_finalize_kernel, replayed: its 256 threads list the nonzero bins
    // (list_nonzero_bins) in a shuffled order of threads, as its atomic count might, and
    // sum_listed_bins adds the list: the same limbs.
    std::vector<unsigned long long> device_bins(bins.size());
    for (std::size_t b = 0; b < bins.size(); ++b) device_bins[b] = static_cast<unsigned long long>(bins[b]);
    std::vector<int> threads(256);
    std::iota(threads.begin(), threads.end(), 0);
    std::shuffle(threads.begin(), threads.end(), g);
    std::vector<std::int64_t> values(kBins, 0);
    std::vector<std::uint16_t> listed(kBins, 0);
    int listed_count = 0;
    for (const int t : threads)
      ex::list_nonzero_bins<T>(device_bins.data(), t, 256, &listed_count, values.data(), listed.data());
    ASSERT_EQ(listed_count, static_cast<int>(std::count_if(bins.begin(), bins.end(), [](std::int64_t v) { return v != 0; })))
        << type_name<T>() << ", round " << round << ": every nonzero bin listed once";
    std::vector<std::uint64_t> pos(ex::Layout<T>::kLimbs);
    ex::sum_listed_bins<T>(values.data(), listed.data(), listed_count, pos.data());
    ASSERT_EQ(pos, got) << type_name<T>() << ", round " << round << ": the listed bins in another order";
    std::vector<std::uint64_t> rounded = got;
    ASSERT_TRUE(SameBits(ex::round_limbs<T>(rounded.data(), ex::kSeen | ex::kNotNegZero),
                         ex::finalize<T>(bins.data(), ex::kSeen | ex::kNotNegZero)));
  }
  // What finalize makes of a sum that cancels exactly: +0, or -0 when every term was -0.
  std::vector<std::int64_t> bins(kBins, 0);
  bins[100] = 6;
  bins[101] = -3;
  EXPECT_TRUE(SameBits(ex::finalize<T>(bins.data(), ex::kSeen | ex::kNotNegZero), T(0)));
  EXPECT_TRUE(SameBits(ex::finalize<T>(bins.data(), ex::kSeen), -T(0)));
  // And of one bin's INT64_MIN: -2^63 units at the bin's weight, exactly.
  bins.assign(kBins, 0);
  bins[1] = std::numeric_limits<std::int64_t>::min();
  EXPECT_TRUE(SameBits(ex::finalize<T>(bins.data(), ex::kSeen | ex::kNotNegZero),
                       static_cast<T>(-std::ldexp(1.0L, 63 + std::numeric_limits<T>::min_exponent - kDigits<T>))));
}

TEST(ExactFinalize, SignedBinsSummedApartInAnyOrderEqualTheTwosComplementSum) {
  Rng g(0x5eed0013);
  check_random_bins<float>(g);
  check_random_bins<double>(g);
}

}  // namespace
