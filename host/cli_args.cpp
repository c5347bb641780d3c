#include "cli_args.h"

#include <charconv>

namespace driftlab {

std::uint64_t parse_count(std::string_view s, std::string_view what) {
  auto bad = [&] {
    return UsageError(std::string(what) + ": expected a non-negative integer or 2^K, got '" + std::string(s) + "'");
  };
  std::uint64_t v = 0;
  if (s.size() > 2 && s.substr(0, 2) == "2^") {
    const auto exp = s.substr(2);
    unsigned k = 0;
    const auto r = std::from_chars(exp.data(), exp.data() + exp.size(), k);
    if (r.ec != std::errc() || r.ptr != exp.data() + exp.size() || k > 63) throw bad();
    return 1ull << k;
  }
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size()) throw bad();
  return v;
}

std::string parse_backend(std::string_view s) {
  if (s != "cpu" && s != "cuda" && s != "auto")
    throw UsageError("--backend: expected cpu, cuda or auto, got '" + std::string(s) + "'");
  return std::string(s);
}

std::string_view ArgReader::flag() {
  const std::string_view a = args_[i_++];
  if (a.size() < 3 || a.substr(0, 2) != "--") throw UsageError("unexpected argument '" + std::string(a) + "'");
  const auto eq = a.find('=');
  has_inline_ = eq != std::string_view::npos;
  flag_ = has_inline_ ? a.substr(0, eq) : a;
  inline_value_ = has_inline_ ? a.substr(eq + 1) : std::string_view();
  return flag_;
}

std::string_view ArgReader::value() {
  if (has_inline_) {
    has_inline_ = false;
    return inline_value_;
  }
  if (i_ >= args_.size()) throw UsageError(std::string(flag_) + " needs a value");
  return args_[i_++];
}

}  // namespace driftlab
