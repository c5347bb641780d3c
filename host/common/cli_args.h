// Command-line helpers shared by every driftlab command: strict parsing with one-line errors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace driftlab {

// A bad command line: the message is printed as one line, exit code 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Unsigned integer: decimal, or 2^K.  `what` names the flag in the message.
std::uint64_t parse_count(std::string_view s, std::string_view what);

// --threads: 0 (every hardware thread) to kMaxThreads, the same bound for every command.
inline constexpr int kMaxThreads = 4096;
int parse_threads(std::string_view s, std::string_view what = "--threads");  // `what` names the flag in errors

// A rate in [0, 1) that stays below 1 as a float (0.99999999 rounds to 1.0f and is refused), and
// above 0 when it was written above 0 (1e-50 would silently turn dropout off).
// Decimal or hex-float text (what a parent passes to its children, so the bits round-trip).
float parse_rate(std::string_view s, std::string_view what);
// Hex-float text of f ("0x1.555556p-2"): parse_rate reads it back to the same bits.
std::string float_text(float f);

// A boolean flag: "--flag" alone is true; "--flag=true|false|1|0" sets it; anything else is refused.
bool parse_bool(std::string_view s, std::string_view what);

// A file or folder name (--json, --input, --keras, --out, ...): refuses an empty one, naming the flag.
std::string parse_path(std::string_view s, std::string_view what);

// --backend: cpu, cuda or auto.
std::string parse_backend(std::string_view s);

// The one rule for every comma-separated list flag: no empty entry ("", "1,", ",1" and "1,,2" are
// refused, naming `flag`), no blanks (an entry is read as it is: " 2" is not a number).
std::vector<std::string> split_list(std::string_view v, std::string_view flag);

// Lists whose entries each choose a run (--tp, --ranks, --channels, --fusion, --batch-sweep,
// --other-kv-lens, --variant and --tp-variant lists, --mpi-algorithm) refuse an entry given twice
// ("--tp: 2 appears twice"): it would run the same thing again, or be dropped silently.  Lists that
// describe one model or batch entry by entry (--layers, --act, --kv-lens) repeat freely.
enum class Repeats { refused, allowed };
// Throws "<flag>: <name> appears twice" for the first entry of `names` that repeats an earlier one.
void refuse_repeats(const std::vector<std::string>& names, std::string_view flag);

// A comma-separated list of counts, each in [lo, hi] (split_list's rule).  Errors name `flag`; a value
// out of range says "<flag>: <out_of_range>", by default "values must be <lo> to <hi>"; a value given
// twice (2 and 2^1 too) is refused unless `repeats` allows it.
std::vector<std::size_t> parse_list(std::string_view v, const char* flag, std::size_t lo, std::size_t hi,
                                    std::string_view out_of_range = {}, Repeats repeats = Repeats::refused);

// "1,7,64" from {1, 7, 64}; `sep` between the numbers.
std::string join(const std::vector<std::size_t>& v, const char* sep = ",");

// Walks argv as "--flag value" pairs (or "--flag=value").  A flag given twice is refused ("--runs
// given twice"): which one counts would be a guess (-h and --help are one flag).
class ArgReader {
 public:
  explicit ArgReader(std::span<const std::string_view> args) : args_(args) {}
  bool done() const { return i_ >= args_.size(); }
  // The next flag; throws UsageError if the next word is not a flag.  "-h" reads as "--help".
  std::string_view flag();
  // The value of the flag just read.
  std::string_view value();
  // For a boolean flag: true for "--flag", or the value of "--flag=VALUE" (parse_bool).
  bool bool_value();

 private:
  std::span<const std::string_view> args_;
  std::size_t i_ = 0;
  std::string_view flag_, inline_value_;
  bool has_inline_ = false;
  std::unordered_set<std::string_view> seen_;
};

}  // namespace driftlab
