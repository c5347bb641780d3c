// The .npy header's dict (npy_header.h): a small recursive parser for the subset of Python literals
// a header can hold, then each key checked.  Every byte is untrusted: each read is bounds-checked,
// nesting is bounded, and integers that overflow size_t are flagged, never wrapped.
#include "host/io/npy_header.h"

#include <algorithm>
#include <array>
#include <limits>
#include <utility>

#include "host/io/npy.h"

namespace driftlab::npy {
namespace {

constexpr int kMaxNesting = 32;     // bounds the recursive parser on input like "((((((((...."
constexpr const char* kAccepted =
    "accepted: '<f2', '>f2', '<f4', '>f4', '<f8', '>f8'; '=' and '|' count as '<'; '<V2' as bfloat16 when asked";

[[noreturn]] void fail(const std::string& message) { throw NpyError(message); }

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// The header: a small parser for the subset of Python literals a .npy header can hold.
struct Value {
  enum class Kind { string, integer, other_number, boolean, none, tuple, list, dict };
  Kind kind = Kind::none;
  std::string_view text;      // the literal as written, for messages
  std::string str;            // string: its contents
  bool negative = false;      // integer: a minus sign was written
  bool overflow = false;      // integer: the magnitude does not fit size_t
  std::size_t magnitude = 0;  // integer
  bool boolean = false;       // boolean
  std::vector<Value> items;   // tuple and list: the elements; dict: the values
  std::vector<Value> keys;    // dict: the keys, keys[i] maps to items[i]
};

class LiteralParser {
 public:
  explicit LiteralParser(std::string_view src) : src_(src) {}

  Value parse() {
    Value v = value(0);
    skip_space();
    if (pos_ != src_.size()) error("unexpected text after the dict");
    return v;
  }

 private:
  std::string_view src_;
  std::size_t pos_ = 0;

  [[noreturn]] void error(const std::string& what) const {
    const std::string near = pos_ < src_.size() ? "near \"" + printable(src_.substr(pos_), 30) + "\""
                                                : "at the end of the header";
    fail("malformed header: " + what + " at offset " + std::to_string(pos_) + ", " + near);
  }

  bool at_end() const { return pos_ >= src_.size(); }
  char peek() const { return at_end() ? '\0' : src_[pos_]; }
  void skip_space() {
    while (!at_end() && is_space(src_[pos_])) ++pos_;
  }
  bool consume(char c) {
    skip_space();
    if (at_end() || src_[pos_] != c) return false;
    ++pos_;
    return true;
  }

  Value value(int depth) {
    if (depth > kMaxNesting) error("nesting deeper than " + std::to_string(kMaxNesting));
    skip_space();
    if (at_end()) error("expected a value");
    const std::size_t start = pos_;
    const char c = peek();
    Value v;
    if (c == '{') v = dict(depth);
    else if (c == '(') v = parenthesized(depth);
    else if (c == '[') v = list(depth);
    else if (c == '\'' || c == '"') v = string();
    else if (c == '-' || c == '+' || is_digit(c)) v = number();
    else if (is_alpha(c)) v = name();
    else error("unexpected character");
    v.text = src_.substr(start, pos_ - start);
    return v;
  }

  Value dict(int depth) {
    ++pos_;  // '{'
    Value d;
    d.kind = Value::Kind::dict;
    while (!consume('}')) {
      d.keys.push_back(value(depth + 1));
      if (!consume(':')) error("expected ':' after a key");
      d.items.push_back(value(depth + 1));
      if (consume('}')) break;
      if (!consume(',')) error("expected ',' or '}'");
    }
    return d;
  }

  // As in Python: "()" is an empty tuple, "(x)" is just x, "(x,)" and "(x, y)" are tuples.
  Value parenthesized(int depth) {
    ++pos_;  // '('
    Value t;
    t.kind = Value::Kind::tuple;
    if (consume(')')) return t;
    Value first = value(depth + 1);
    if (consume(')')) return first;
    if (!consume(',')) error("expected ',' or ')'");
    t.items.push_back(std::move(first));
    elements(t.items, ')', depth);
    return t;
  }

  Value list(int depth) {
    ++pos_;  // '['
    Value l;
    l.kind = Value::Kind::list;
    elements(l.items, ']', depth);
    return l;
  }

  // The rest of a sequence up to and including `close`; a trailing comma is allowed.
  void elements(std::vector<Value>& items, char close, int depth) {
    while (!consume(close)) {
      items.push_back(value(depth + 1));
      if (consume(close)) return;
      if (!consume(',')) error(std::string("expected ',' or '") + close + "'");
    }
  }

  // Only the escapes that can matter here (quotes and backslash) are decoded exactly; any other
  // escaped character is kept as is, which at worst turns an unsupported dtype name into another.
  Value string() {
    const char quote = src_[pos_++];
    Value v;
    v.kind = Value::Kind::string;
    for (;;) {
      if (at_end() || peek() == '\n') error("unterminated string");
      char c = src_[pos_++];
      if (c == quote) break;
      if (c == '\\') {
        if (at_end()) error("unterminated string");
        c = src_[pos_++];
      }
      v.str += c;
    }
    return v;
  }

  Value number() {
    Value v;
    v.kind = Value::Kind::integer;
    if (peek() == '-' || peek() == '+') {
      v.negative = peek() == '-';
      ++pos_;
      skip_space();
    }
    if (!is_digit(peek())) error("expected a digit");
    constexpr std::size_t max = std::numeric_limits<std::size_t>::max();
    while (is_digit(peek())) {
      const auto digit = static_cast<std::size_t>(peek() - '0');
      if (v.magnitude > (max - digit) / 10) v.overflow = true;
      else v.magnitude = v.magnitude * 10 + digit;
      ++pos_;
    }
    if (peek() == 'L' || peek() == 'l') ++pos_;  // Python 2 long suffix, in files from old NumPy
    // Anything glued on (3.5, 1e3, 0x10, 1_000) makes a number we do not take as an integer.
    if (is_alpha(peek()) || is_digit(peek()) || peek() == '.') {
      v.kind = Value::Kind::other_number;
      while (is_alpha(peek()) || is_digit(peek()) || peek() == '.') ++pos_;
    }
    return v;
  }

  Value name() {
    const std::size_t start = pos_;
    while (is_alpha(peek()) || is_digit(peek())) ++pos_;
    const std::string_view word = src_.substr(start, pos_ - start);
    Value v;
    if (word == "True" || word == "False") {
      v.kind = Value::Kind::boolean;
      v.boolean = word == "True";
    } else if (word == "None") {
      v.kind = Value::Kind::none;
    } else {
      pos_ = start;
      error("unexpected name '" + printable(word) + "'");
    }
    return v;
  }
};

void read_descr(const Value& v, Header& h) {
  if (v.kind == Value::Kind::list) {
    fail("unsupported structured dtype " + printable(v.text) + " (" + kAccepted + ")");
  }
  if (v.kind != Value::Kind::string) {
    fail("'descr' must be a dtype string, found " + printable(v.text) + " (" + kAccepted + ")");
  }
  const std::string& s = v.str;
  const bool order_ok = s.size() == 3 && std::string_view("<>=|").find(s[0]) != std::string_view::npos;
  const bool ok = order_ok && ((s[1] == 'f' && (s[2] == '2' || s[2] == '4' || s[2] == '8')) || (s[1] == 'V' && s[2] == '2'));
  if (!ok) fail("unsupported dtype '" + printable(s) + "' (" + kAccepted + ")");
  h.descr = s;
  // '=' (native) and '|' (not applicable) are taken as little-endian.  A void record has no byte
  // order (NumPy reads '>V2' as '|V2': the same bytes), so its order character is not applied.
  h.big_endian = s[0] == '>' && s[1] != 'V';
  h.void2 = s[1] == 'V';
  h.dtype = s[2] == '2' ? (h.void2 ? DType::bf16 : DType::f16) : s[2] == '4' ? DType::f32 : DType::f64;
}

void read_fortran_order(const Value& v, Header& h) {
  if (v.kind != Value::Kind::boolean) {
    fail("'fortran_order' must be True or False, found " + printable(v.text));
  }
  h.fortran_order = v.boolean;
}

void read_shape(const Value& v, Header& h) {
  if (v.kind != Value::Kind::tuple) fail("'shape' must be a tuple of integers, found " + printable(v.text));
  for (const Value& d : v.items) {
    if (d.kind != Value::Kind::integer) fail("shape entry " + printable(d.text) + " is not an integer");
    if (d.negative && d.magnitude != 0) fail("shape entry " + printable(d.text) + " is negative");
    if (d.overflow) fail("shape entry " + printable(d.text) + " is too large");
    h.shape.push_back(d.magnitude);
  }
}

Header interpret(const Value& dict) {
  if (dict.kind != Value::Kind::dict) fail("header is not a dict: " + printable(dict.text));
  constexpr std::array<std::string_view, 3> kKeys{"descr", "fortran_order", "shape"};
  std::array<const Value*, 3> found{};
  for (std::size_t i = 0; i < dict.keys.size(); ++i) {
    const Value& key = dict.keys[i];
    const auto it = key.kind == Value::Kind::string ? std::find(kKeys.begin(), kKeys.end(), key.str)
                                                    : kKeys.end();
    if (it == kKeys.end()) {
      fail("unknown key " + printable(key.text) + " in header (expected 'descr', 'fortran_order', 'shape')");
    }
    const auto k = static_cast<std::size_t>(it - kKeys.begin());
    if (found[k]) fail("duplicate key '" + std::string(kKeys[k]) + "' in header");
    found[k] = &dict.items[i];
  }
  for (std::size_t k = 0; k < kKeys.size(); ++k) {
    if (!found[k]) fail("header is missing the key '" + std::string(kKeys[k]) + "'");
  }
  Header h;
  read_descr(*found[0], h);
  read_fortran_order(*found[1], h);
  read_shape(*found[2], h);
  return h;
}

}  // namespace

Header parse_header(std::string_view text) { return interpret(LiteralParser(text).parse()); }

}  // namespace driftlab::npy
