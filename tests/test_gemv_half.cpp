// cpu/gemv_half: the GEMV over a 16-bit B is gemm_chain over the widened B, bit for bit, at every
// ISA level (gemm's and the conversions'), with and without threads, over k ranges, column tails,
// and B holding every kind of value (subnormals, infinities, NaNs, signed zeros).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/common/half.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemv_half.h"
#include "kernels/cpu/half_convert.h"

namespace driftlab {
namespace {

using cpu::HalfKind;
using cpu::detail::GemmIsa;
using cpu::detail::HalfIsa;

struct Caps {
  ~Caps() {
    cpu::detail::force_gemm_isa(GemmIsa::avx512);
    cpu::detail::force_half_isa(HalfIsa::avx512);
  }
};

std::vector<float> widened(HalfKind kind, const std::vector<std::uint16_t>& h) {
  std::vector<float> f(h.size());
  for (std::size_t i = 0; i < h.size(); ++i) f[i] = kind == HalfKind::bf16 ? bf16_to_f32(h[i]) : f16_to_f32(h[i]);
  return f;
}

TEST(GemvHalf, IsGemmChainOnTheWidenedBAtEveryLevel) {
  Caps caps;
  std::mt19937_64 g(11);
  cpu::ThreadPool pool(3);
  struct Shape {
    std::size_t M, K, N, k_begin, k_end;
  };
  // Column counts around the vector widths (8, 16) and tails; K with 8-, 4- and 1-step passes;
  // k ranges that start inside (split-K slices); a large one that the pool splits.
  const Shape shapes[] = {{1, 1, 1, 0, 1},     {1, 13, 7, 0, 13},   {2, 31, 33, 3, 30},   {3, 64, 17, 0, 64},
                          {4, 100, 40, 8, 100}, {1, 9, 16, 0, 9},    {4, 12, 15, 0, 12},   {1, 5, 3, 5, 5},
                          {2, 700, 1000, 0, 700}, {1, 1024, 513, 100, 1000}};
  std::size_t checked = 0;
  for (HalfKind kind : {HalfKind::bf16, HalfKind::f16}) {
    for (const Shape& sh : shapes) {
      std::vector<float> A(sh.M * sh.K);
      std::normal_distribution<float> nd;
      for (float& a : A) a = nd(g);
      std::vector<std::uint16_t> B(sh.K * sh.N);
      for (std::uint16_t& b : B) {
        const auto r = g() % 50;
        b = r == 0 ? static_cast<std::uint16_t>(g()) : r == 1 ? static_cast<std::uint16_t>(g() & 0x83ff)  // any bits; subnormals
                                                                : Narrow<bf16>::from(nd(g)).bits;            // a normal value
        if (kind == HalfKind::f16 && r > 1) b = Narrow<f16>::from(nd(g)).bits;
      }
      const std::vector<float> B32 = widened(kind, B);
      std::vector<float> want(sh.M * sh.N, -1.0f);
      cpu::detail::force_gemm_isa(GemmIsa::scalar);
      cpu::gemm_chain(A.data(), sh.K, B32.data(), sh.N, want.data(), sh.N, sh.M, sh.N, sh.k_begin, sh.k_end, nullptr);
      for (GemmIsa gl : {GemmIsa::scalar, GemmIsa::avx2, GemmIsa::avx512})
        for (HalfIsa hl : {HalfIsa::scalar, HalfIsa::avx2, HalfIsa::avx512})
          for (cpu::ThreadPool* p : {static_cast<cpu::ThreadPool*>(nullptr), &pool}) {
            cpu::detail::force_gemm_isa(gl);
            cpu::detail::force_half_isa(hl);
            std::vector<float> got(sh.M * sh.N, -2.0f);
            cpu::gemv_chain_half(kind, A.data(), sh.K, B.data(), sh.N, got.data(), sh.N, sh.M, sh.N, sh.k_begin, sh.k_end, p);
            ASSERT_EQ(std::memcmp(got.data(), want.data(), want.size() * 4), 0)
                << (kind == HalfKind::bf16 ? "bf16" : "f16") << " M=" << sh.M << " K=" << sh.K << " N=" << sh.N
                << " k=[" << sh.k_begin << "," << sh.k_end << ") gemm " << cpu::isa_name(gl) << " half "
                << cpu::isa_name(hl) << (p ? " pool" : "");
            ++checked;
          }
    }
  }
  EXPECT_EQ(checked, 2u * std::size(shapes) * 9 * 2);
}

TEST(GemvHalf, RefusesMoreRowsThanTheGemvPath) {
  std::vector<float> A(5 * 4), C(5 * 4);
  std::vector<std::uint16_t> B(4 * 4);
  EXPECT_THROW(cpu::gemv_chain_half(HalfKind::bf16, A.data(), 4, B.data(), 4, C.data(), 4, cpu::kGemvMaxRows + 1, 4, 0, 4,
                                    nullptr),
               std::invalid_argument);
}

}  // namespace
}  // namespace driftlab
