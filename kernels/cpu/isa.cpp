#include "kernels/cpu/isa.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#if DRIFTLAB_X86
#include <cpuid.h>
#endif

namespace driftlab::cpu {
namespace {

struct EnvSetting {
  Isa cap = Isa::avx512;
  std::optional<std::string> error;
};

const EnvSetting& env_setting() {
  static const EnvSetting s = [] {
    EnvSetting r;
    const char* v = std::getenv("DRIFTLAB_ISA");
    if (!v || !*v) return r;
    if (const auto level = parse_isa(v)) {
      r.cap = *level;
    } else {
      std::string shown(v, strnlen(v, 64));
      for (char& c : shown)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';  // one line, no escapes
      r.error = "DRIFTLAB_ISA must be avx512, avx2 or scalar, got '" + shown + (std::strlen(v) > 64 ? "...'" : "'");
    }
    return r;
  }();
  return s;
}

std::atomic<int> g_caps[static_cast<int>(detail::IsaFamily::count)] = {
    2, 2, 2, 2, 2, 2, 2};
static_assert(static_cast<int>(detail::IsaFamily::count) == 7, "one initial cap per family");

std::atomic<unsigned> g_paths[static_cast<int>(detail::IsaFamily::count)] = {};
std::atomic<unsigned> g_forms{0};

}  // namespace

const char* isa_name(Isa level) {
  switch (level) {
    case Isa::scalar: return "scalar";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
  }
  return "?";
}

std::optional<Isa> parse_isa(const char* text) {
  if (!text) return std::nullopt;
  for (Isa l : {Isa::scalar, Isa::avx2, Isa::avx512})
    if (std::strcmp(text, isa_name(l)) == 0) return l;
  return std::nullopt;
}

Isa isa_detected() {
#if DRIFTLAB_X86
  static const Isa best = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    const bool f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;  // clang 14 lacks "f16c"
    // __builtin_cpu_supports also checks that the OS saves the vector registers (XGETBV).
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                      __builtin_cpu_supports("popcnt") && f16c;
    // BW: the bf16 exact sum's 16-bit lanes (every AVX-512 CPU with DQ and VL has it).
    const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
    return avx512 ? Isa::avx512 : avx2 ? Isa::avx2 : Isa::scalar;
  }();
  return best;
#else
  return Isa::scalar;
#endif
}

bool cpu_is_intel() {
#if DRIFTLAB_X86
  static const bool intel = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return false;
    char vendor[13] = {};
    std::memcpy(vendor, &b, 4);
    std::memcpy(vendor + 4, &d, 4);
    std::memcpy(vendor + 8, &c, 4);
    return std::strcmp(vendor, "GenuineIntel") == 0;
  }();
  return intel;
#else
  return false;
#endif
}

std::optional<std::string> isa_env_error() { return env_setting().error; }

Isa isa_level() {
  const EnvSetting& s = env_setting();
  if (s.error) throw std::invalid_argument(*s.error);
  return std::min(isa_detected(), s.cap);
}

namespace detail {
void force_isa(IsaFamily family, Isa cap) { g_caps[static_cast<int>(family)].store(static_cast<int>(cap)); }

Isa isa_level(IsaFamily family) {
  const Isa cap = static_cast<Isa>(g_caps[static_cast<int>(family)].load(std::memory_order_relaxed));
  return std::min(cpu::isa_level(), cap);
}

void note_path(IsaFamily family, Isa path) {
  std::atomic<unsigned>& marks = g_paths[static_cast<int>(family)];
  const unsigned bit = 1u << static_cast<int>(path);
  if (!(marks.load(std::memory_order_relaxed) & bit)) marks.fetch_or(bit, std::memory_order_relaxed);
}

unsigned paths_run(IsaFamily family) { return g_paths[static_cast<int>(family)].load(std::memory_order_relaxed); }

void note_form(TileForm form) {
  const unsigned bit = 1u << static_cast<int>(form);
  if (!(g_forms.load(std::memory_order_relaxed) & bit)) g_forms.fetch_or(bit, std::memory_order_relaxed);
}

unsigned forms_run() { return g_forms.load(std::memory_order_relaxed); }

void reset_paths() {
  g_forms.store(0, std::memory_order_relaxed);
  for (auto& marks : g_paths) marks.store(0, std::memory_order_relaxed);
}
}  // namespace detail

}  // namespace driftlab::cpu
