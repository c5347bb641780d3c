// A minimal JSON writer for result rows: objects, arrays, strings, numbers.  Non-finite numbers
// are written as the strings "inf", "-inf" and "nan" (JSON has no literal for them).
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <ostream>
#include <string>
#include <optional>
#include <string_view>
#include <vector>

#include "host/io/atomic_file.h"

namespace driftlab {

class JsonWriter {
 public:
  explicit JsonWriter(std::ostream& out) : out_(out) {}
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view k);
  JsonWriter& value(std::string_view s);
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(double v);
  JsonWriter& value(std::uint64_t v);
  JsonWriter& value(std::int64_t v);
  JsonWriter& value(int v) { return value(static_cast<std::int64_t>(v)); }
  JsonWriter& value(bool v);
  JsonWriter& null();
  template <class V> JsonWriter& field(std::string_view k, const V& v) { return key(k).value(v); }
  // null for an empty optional, else its value.
  template <class V> JsonWriter& value_or_null(const std::optional<V>& v) { return v ? value(*v) : null(); }
  // null when v equals the sentinel `null_when` (e.g. kUnorderedUlp), else v.
  template <class V, class N> JsonWriter& value_or_null(const V& v, const N& null_when) {
    return v == null_when ? null() : value(v);
  }

 private:
  void separator();
  void newline();
  std::ostream& out_;
  std::vector<bool> first_;  // per open container: no element written yet
  bool after_key_ = false;
};

std::string json_escape(std::string_view s);

// Writes a --json file through `write(stream)`; errors name the flag and the path.
template <class Write> void write_json_file(const std::string& path, Write&& write);

// The file is replaced atomically (atomic_file.h): a failed write leaves the old file as it was.
template <class Write> void write_json_file(const std::string& path, Write&& write) {
  std::ostringstream s;
  write(s);
  if (!s) throw std::runtime_error("--json: cannot format the results");
  write_file_atomic(path, s.view(), "--json");
}

}  // namespace driftlab
