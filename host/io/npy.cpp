// NumPy .npy reader and writer (see npy.h).  Over 500 lines on purpose: one file format, and every
// check a hostile header needs stands beside the parse step it guards.  Format reference:
// https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
//
// Layout: "\x93NUMPY", major, minor, header length (uint16 LE in 1.0, uint32 LE in 2.0/3.0),
// then a Python dict literal padded with spaces and ending in '\n', then the raw data.
// Every input byte is untrusted: each read is bounds-checked and the data size is checked
// against the shape (with overflow checks) before anything is allocated.
#include "host/io/npy.h"

#include "host/io/atomic_file.h"
#include "host/io/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace driftlab::npy {
namespace {

constexpr std::string_view kMagic{"\x93NUMPY", 6};
constexpr std::size_t kAlign = 64;  // NumPy pads the header so the data starts 64-byte aligned
constexpr int kMaxNesting = 32;     // bounds the recursive parser on input like "((((((((...."
constexpr const char* kAccepted =
    "accepted: '<f2', '>f2', '<f4', '>f4', '<f8', '>f8'; '=' and '|' count as '<'; '<V2' as bfloat16 when asked";

[[noreturn]] void fail(const std::string& message) { throw NpyError(message); }

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }


// Python's repr of a tuple of ints: (), (5,), (2, 3).
std::string python_tuple(const std::vector<std::size_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) s += ',';
  return s + ")";
}

// Product of the dimensions times `item_size`, or nullopt when it overflows size_t.  Like NumPy,
// zero-length axes are skipped in the overflow check, so (huge, 0) is a valid empty shape.
std::optional<std::size_t> byte_count(const std::vector<std::size_t>& shape, std::size_t item_size) {
  if (std::find(shape.begin(), shape.end(), std::size_t{0}) != shape.end()) return 0;  // (2^62, 0) too
  std::size_t bytes = item_size;
  bool empty = false;
  for (std::size_t d : shape) {
    if (d == 0) {
      empty = true;
    } else if (bytes > std::numeric_limits<std::size_t>::max() / d) {
      return std::nullopt;
    } else {
      bytes *= d;
    }
  }
  return empty ? 0 : bytes;
}

// ------------------------------------------------------------------------------------------------
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

// What the header dict says, checked.
struct Header {
  DType dtype = DType::f32;
  bool big_endian = false;
  bool fortran_order = false;
  std::vector<std::size_t> shape;
  std::string descr;
  bool void2 = false;  // 2-byte void records ('<V2', '|V2'): bfloat16 only when the caller says so
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

// ------------------------------------------------------------------------------------------------
// The data.

// For each element in file order, its offset in the row-major result.  Fortran order stores the
// first axis fastest, so we count a multi-index that way and keep the row-major offset in step
// with it: one pass, no divisions.  C order is the same walk over a single axis.
class RowMajorOffsets {
 public:
  explicit RowMajorOffsets(std::vector<std::size_t> shape)
      : shape_(std::move(shape)), index_(shape_.size(), 0), stride_(shape_.size(), 1) {
    for (std::size_t k = shape_.size(); k-- > 1;) stride_[k - 1] = stride_[k] * shape_[k];
  }
  std::size_t offset() const { return offset_; }
  void advance() {
    for (std::size_t k = 0; k < shape_.size(); ++k) {
      offset_ += stride_[k];
      if (++index_[k] < shape_[k]) return;
      offset_ -= stride_[k] * shape_[k];
      index_[k] = 0;
    }
  }

 private:
  std::vector<std::size_t> shape_, index_, stride_;
  std::size_t offset_ = 0;
};

// Elements are moved as bytes (memcpy), never loaded as floats, so NaN payloads survive bitwise.
template <class T>
std::vector<T> decode(std::span<const std::byte> data, const Header& h) {
  const std::size_t n = data.size() / sizeof(T);
  std::vector<T> out(n);
  const bool swap = h.big_endian != (std::endian::native == std::endian::big);
  if (!swap && !h.fortran_order) {
    if (n) std::memcpy(out.data(), data.data(), n * sizeof(T));
    return out;
  }
  RowMajorOffsets dst(h.fortran_order ? h.shape : std::vector<std::size_t>{n});
  for (std::size_t i = 0; i < n; ++i, dst.advance()) {
    std::array<std::byte, sizeof(T)> element;
    std::memcpy(element.data(), data.data() + i * sizeof(T), sizeof(T));
    if (swap) std::reverse(element.begin(), element.end());
    std::memcpy(&out[dst.offset()], element.data(), sizeof(T));
  }
  return out;
}

std::uint32_t read_le(std::span<const std::byte> bytes, std::size_t offset, std::size_t width) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < width; ++i) v |= std::to_integer<std::uint32_t>(bytes[offset + i]) << (8 * i);
  return v;
}

HostArray parse_image(std::span<const std::byte> bytes, const ReadOptions& opts) {
  if (bytes.size() < kMagic.size() || std::memcmp(bytes.data(), kMagic.data(), kMagic.size()) != 0) {
    fail("not a .npy file (it does not start with the magic string \\x93NUMPY)");
  }
  if (bytes.size() < kMagic.size() + 2) fail("truncated .npy file: the format version is missing");
  const auto major = std::to_integer<unsigned>(bytes[6]);
  const auto minor = std::to_integer<unsigned>(bytes[7]);
  if (major < 1 || major > 3 || minor != 0) {
    fail("unsupported .npy format version " + std::to_string(major) + "." + std::to_string(minor) +
         " (supported: 1.0, 2.0, 3.0)");
  }
  const std::size_t length_width = major == 1 ? 2 : 4;
  const std::size_t header_start = kMagic.size() + 2 + length_width;
  if (bytes.size() < header_start) fail("truncated .npy file: the header length is incomplete");
  const std::size_t header_length = read_le(bytes, kMagic.size() + 2, length_width);
  if (header_length > bytes.size() - header_start) {
    fail("header length " + std::to_string(header_length) + " runs past the end of the file (only " +
         std::to_string(bytes.size() - header_start) + " bytes follow)");
  }
  // Version 3.0 headers are UTF-8, earlier ones latin-1; either way the parser only needs ASCII
  // outside string literals, so the bytes are read as they are.
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()) + header_start, header_length);
  const Header h = interpret(LiteralParser(text).parse());
  if (h.void2 && !opts.void2_as_bf16) {
    fail("2-byte void records ('" + h.descr +
         "'): ml_dtypes saves bfloat16 arrays this way, but any 2-byte record type looks the same, so "
         "they are read as bfloat16 only with --dtype bf16");
  }

  const std::span<const std::byte> data = bytes.subspan(header_start + header_length);
  const std::optional<std::size_t> expected = byte_count(h.shape, dtype_size(h.dtype));
  const std::string what = "shape " + python_tuple(h.shape) + " of '" + h.descr + "'";
  if (!expected) fail(what + " is too large: its byte count overflows size_t");
  if (data.size() != *expected) {
    fail((data.size() < *expected ? "truncated data: " : "trailing bytes after the data: ") + what +
         " needs " + std::to_string(*expected) + " data bytes, found " + std::to_string(data.size()));
  }

  HostArray a;
  a.dtype = h.dtype;
  a.shape = h.shape;
  if (h.dtype == DType::f32) a.f32 = decode<float>(data, h);
  else if (h.dtype == DType::f64) a.f64 = decode<double>(data, h);
  else a.u16 = decode<std::uint16_t>(data, h);  // bit patterns, byte order fixed
  return a;
}

// ------------------------------------------------------------------------------------------------
// Files.

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

std::string errno_text(int err) { return err ? std::strerror(err) : "unknown error"; }

// Only a regular file is read, and only as far as its size: a FIFO would block in open() and a
// device such as /dev/zero never ends.  The magic string is checked before the rest is read.
std::vector<std::byte> read_all(const std::string& path) {
  // The one input-file check (input_file.h).
  std::uint64_t file_size = 0;
  int fd = -1;
  try {
    fd = open_regular_file(path, &file_size);
  } catch (const InputFileError& e) {
    fail(std::string(e.what()) + "; give a .npy file");
  }
  File f(::fdopen(fd, "rb"));
  if (!f) {
    ::close(fd);
    fail("cannot open for reading: " + errno_text(errno));
  }
  const std::uint64_t size = file_size;
  std::vector<std::byte> bytes(static_cast<std::size_t>(std::min<std::uint64_t>(size, kMagic.size())));
  if (std::fread(bytes.data(), 1, bytes.size(), f.get()) != bytes.size())
    fail("cannot read: " + errno_text(errno));
  if (bytes.size() < kMagic.size() || std::memcmp(bytes.data(), kMagic.data(), kMagic.size()) != 0)
    fail("not a .npy file (it does not start with the magic string \\x93NUMPY)");
  if (size > bytes.max_size()) fail("too large to read (" + std::to_string(size) + " bytes)");
  bytes.resize(static_cast<std::size_t>(size));
  std::size_t have = kMagic.size();
  while (have < bytes.size()) {
    const std::size_t got = std::fread(bytes.data() + have, 1, bytes.size() - have, f.get());
    if (got == 0) break;
    have += got;
  }
  if (std::ferror(f.get())) fail("cannot read: " + errno_text(errno));
  bytes.resize(have);  // the file shrank while we read it: parse what is there
  return bytes;
}

// Magic, version, length, dict, space padding and '\n', with the total a multiple of 64 bytes.
// NumPy writes version 1.0 unless the header outgrows its 16-bit length; then 2.0.
std::string file_header(const std::string& dict) {
  std::size_t length_width = 2;
  auto padded_length = [&] {
    const std::size_t unpadded = kMagic.size() + 2 + length_width + dict.size() + 1;
    return dict.size() + (kAlign - unpadded % kAlign) % kAlign + 1;
  };
  if (padded_length() > 0xffff) length_width = 4;
  const std::size_t length = padded_length();
  if (length > 0xffffffff) fail("the .npy header would be too long (" + std::to_string(length) + " bytes)");

  std::string out(kMagic);
  out += static_cast<char>(length_width == 2 ? 1 : 2);
  out += '\0';
  for (std::size_t i = 0; i < length_width; ++i) out += static_cast<char>((length >> (8 * i)) & 0xff);
  out += dict;
  out.append(length - dict.size() - 1, ' ');
  out += '\n';
  return out;
}

template <class T>
void append_little_endian(std::string& out, const std::vector<T>& values) {
  if (values.empty()) return;  // data() may be null, which memcpy must not get
  const std::size_t start = out.size();
  out.resize(start + values.size() * sizeof(T));
  std::memcpy(out.data() + start, values.data(), values.size() * sizeof(T));
  if constexpr (std::endian::native != std::endian::little)
    for (std::size_t i = start; i < out.size(); i += sizeof(T)) std::reverse(out.begin() + i, out.begin() + i + sizeof(T));
}

}  // namespace

HostArray parse(std::span<const std::byte> bytes, const ReadOptions& opts) {
  try {
    return parse_image(bytes, opts);
  } catch (const std::bad_alloc&) {
    fail("out of memory while reading the array");
  }
}

HostArray read(const std::string& path, const ReadOptions& opts) {
  const std::string where = printable(path, 4096) + ": ";
  try {
    return parse(read_all(path), opts);
  } catch (const NpyError& e) {
    fail(where + e.what());
  } catch (const std::bad_alloc&) {
    fail(where + "out of memory while reading the file");
  }
}

void write(const std::string& path, const HostArray& a) {
  const std::string where = printable(path, 4096) + ": ";
  const std::vector<std::size_t> shape = a.shape.empty() ? std::vector<std::size_t>{a.size()} : a.shape;
  const std::optional<std::size_t> bytes = byte_count(shape, dtype_size(a.dtype));
  if (!bytes || *bytes / dtype_size(a.dtype) != a.size()) {
    fail(where + "shape " + python_tuple(shape) + " does not match the " + std::to_string(a.size()) +
         " elements of the array");
  }
  // bf16 as ml_dtypes writes it ('<V2'); np.load returns void records: .view(ml_dtypes.bfloat16).
  const std::string descr = a.dtype == DType::f32   ? "<f4"
                            : a.dtype == DType::f64 ? "<f8"
                            : a.dtype == DType::f16 ? "<f2"
                                                    : "<V2";
  const std::string header =
      file_header("{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + python_tuple(shape) + ", }");

  // Replaced atomically (atomic_file.h): a failed write leaves the old file as it was.
  try {
    std::string image = header;
    image.reserve(header.size() + *bytes);
    if (a.dtype == DType::f32) append_little_endian(image, a.f32);
    else if (a.dtype == DType::f64) append_little_endian(image, a.f64);
    else append_little_endian(image, a.u16);
    write_file_atomic(path, image, "");
  } catch (const FileWriteError& e) {
    fail(e.what());
  } catch (const std::bad_alloc&) {
    fail(where + "out of memory while writing the file");
  }
}

std::string printable(std::string_view s, std::size_t max_len) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < max_len; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned>(c));
      out += hex;
    }
  }
  if (s.size() > max_len) out += "...";
  return out;
}

}  // namespace driftlab::npy
