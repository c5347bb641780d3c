#include "host/common/cli_args.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_set>

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

int parse_threads(std::string_view s, std::string_view what) {
  const std::uint64_t t = parse_count(s, what);
  if (t > static_cast<std::uint64_t>(kMaxThreads))
    throw UsageError(std::string(what) + ": expected 0 (every hardware thread) to " + std::to_string(kMaxThreads) + ", got '" +
                     std::string(s) + "'");
  return static_cast<int>(t);
}

float parse_rate(std::string_view s, std::string_view what) {
  const std::string v(s);
  auto bad = [&] { return UsageError(std::string(what) + ": expected a rate in [0, 1), got '" + v + "'"); };
  // strtod reads decimal and hex floats; words like "nan" and "inf" and leading blanks are refused here.
  if (v.empty() || !(std::isdigit(static_cast<unsigned char>(v[0])) || v[0] == '.')) throw bad();
  char* end = nullptr;
  const double d = std::strtod(v.c_str(), &end);
  if (*end || !(d >= 0.0 && d < 1.0)) throw bad();
  const float f = static_cast<float>(d);
  if (!(f < 1.0f))
    throw UsageError(std::string(what) + ": '" + v + "' rounds to 1 in float32 (at most 0.99999994)");
  if (d > 0 && f == 0.0f)
    throw UsageError(std::string(what) + ": '" + v + "' rounds to 0 in float32 (use 0 to turn it off)");
  return f;
}

std::string float_text(float f) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%a", static_cast<double>(f));
  return buf;
}

bool parse_bool(std::string_view s, std::string_view what) {
  if (s == "true" || s == "1") return true;
  if (s == "false" || s == "0") return false;
  throw UsageError(std::string(what) + ": expected true or false (or 1 or 0), got '" + std::string(s) + "'");
}

std::string parse_backend(std::string_view s) {
  if (s != "cpu" && s != "cuda" && s != "auto")
    throw UsageError("--backend: expected cpu, cuda or auto, got '" + std::string(s) + "'");
  return std::string(s);
}

std::string parse_path(std::string_view s, std::string_view what) {
  if (s.empty()) throw UsageError(std::string(what) + ": expected a file name, got an empty one");
  if (s.find('\0') != std::string_view::npos) throw UsageError(std::string(what) + ": the file name contains a NUL byte");
  return std::string(s);
}

std::string_view ArgReader::flag() {
  const std::string_view a = args_[i_++];
  if (a == "-h") {  // the one short flag: -h is --help for every command
    has_inline_ = false;
    flag_ = "--help";
    if (!seen_.insert(flag_).second) throw UsageError("--help given twice");
    return flag_;
  }
  if (a.size() < 3 || a.substr(0, 2) != "--") throw UsageError("unexpected argument '" + std::string(a) + "'");
  const auto eq = a.find('=');
  has_inline_ = eq != std::string_view::npos;
  flag_ = has_inline_ ? a.substr(0, eq) : a;
  inline_value_ = has_inline_ ? a.substr(eq + 1) : std::string_view();
  if (!seen_.insert(flag_).second) throw UsageError(std::string(flag_) + " given twice");
  if (flag_ == "--help" && has_inline_)  // --help=false printed the help: a value here is a mistake
    throw UsageError("--help takes no value, got '" + std::string(inline_value_) + "'");
  return flag_;
}

bool ArgReader::bool_value() {
  if (!has_inline_) return true;
  has_inline_ = false;
  return parse_bool(inline_value_, flag_);
}

std::string_view ArgReader::value() {
  if (has_inline_) {
    has_inline_ = false;
    return inline_value_;
  }
  if (i_ >= args_.size()) throw UsageError(std::string(flag_) + " needs a value");
  return args_[i_++];
}

std::vector<std::string> split_list(std::string_view v, std::string_view flag) {
  if (v.empty()) throw UsageError(std::string(flag) + ": expected a comma-separated list, got an empty one");
  std::vector<std::string> out;
  for (std::size_t pos = 0;;) {
    const std::size_t comma = v.find(',', pos);
    out.emplace_back(v.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos));
    if (out.back().empty())
      throw UsageError(std::string(flag) + ": an empty entry in '" + std::string(v) + "' (a comma too many?)");
    if (comma == std::string_view::npos) return out;
    pos = comma + 1;
  }
}

void refuse_repeats(const std::vector<std::string>& names, std::string_view flag) {
  std::unordered_set<std::string_view> seen;  // the first entry given before: O(n), a list can be 128 KiB long
  for (const std::string& name : names)
    if (!seen.insert(name).second) throw UsageError(std::string(flag) + ": " + name + " appears twice");
}

std::vector<std::size_t> parse_list(std::string_view v, const char* flag, std::size_t lo, std::size_t hi,
                                    std::string_view out_of_range, Repeats repeats) {
  std::vector<std::size_t> out;
  for (const std::string& item : split_list(v, flag)) {
    const auto n = parse_count(item, flag);
    if (n < lo || n > hi)
      throw UsageError(std::string(flag) + ": " +
                       (out_of_range.empty() ? "values must be " + std::to_string(lo) + " to " + std::to_string(hi)
                                             : std::string(out_of_range)));
    out.push_back(static_cast<std::size_t>(n));
  }
  if (repeats == Repeats::refused) {  // by value: 2 and 2^1 are the same run
    std::vector<std::string> values;
    for (const std::size_t n : out) values.push_back(std::to_string(n));
    refuse_repeats(values, flag);
  }
  return out;
}

std::string join(const std::vector<std::size_t>& v, const char* sep) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + std::to_string(v[i]);
  return s;
}

}  // namespace driftlab
