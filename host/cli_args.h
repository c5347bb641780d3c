// Command-line helpers shared by every driftlab command: strict parsing with one-line errors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace driftlab {

// A bad command line: the message is printed as one line, exit code 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Unsigned integer: decimal, or 2^K.  `what` names the flag in the message.
std::uint64_t parse_count(std::string_view s, std::string_view what);

// --backend: cpu, cuda or auto.
std::string parse_backend(std::string_view s);

// Walks argv as "--flag value" pairs (or "--flag=value").
class ArgReader {
 public:
  explicit ArgReader(std::span<const std::string_view> args) : args_(args) {}
  bool done() const { return i_ >= args_.size(); }
  // The next flag; throws UsageError if the next word is not a flag.
  std::string_view flag();
  // The value of the flag just read.
  std::string_view value();

 private:
  std::span<const std::string_view> args_;
  std::size_t i_ = 0;
  std::string_view flag_, inline_value_;
  bool has_inline_ = false;
};

}  // namespace driftlab
