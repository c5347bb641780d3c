// A minimal JSON reader for the files driftlab reads back (scripts/keras_check.py's output, test
// fixtures): objects, arrays, strings, numbers, true/false/null.  Errors are JsonError with the
// byte offset, so a bad file gives one line a user can act on.
#pragma once

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace driftlab {

struct JsonError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct JsonValue {
  enum class Kind { null, boolean, number, string, array, object } kind = Kind::null;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<JsonValue> items;                 // array
  std::map<std::string, JsonValue> members;     // object (a repeated key keeps the last value)

  bool is(Kind k) const { return kind == k; }
  // Member `k` of an object, or nullptr when this is not an object or has no such member.
  const JsonValue* find(std::string_view k) const;
};

JsonValue parse_json(std::string_view text);  // throws JsonError

}  // namespace driftlab
