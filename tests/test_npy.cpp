// Tests of the .npy reader and writer: round trips, hand-built images of every accepted variant,
// and malformed input, which must always give a one-line NpyError.
#include "host/io/npy.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#ifndef DRIFTLAB_TEST_TMP
#error "DRIFTLAB_TEST_TMP must name a writable directory (a string literal)"
#endif

namespace {

using driftlab::DType;
using driftlab::HostArray;
namespace npy = driftlab::npy;

std::span<const std::byte> bytes_of(const std::string& s) { return std::as_bytes(std::span(s)); }

// A .npy image: magic, version, header length (2 bytes for 1.x, else 4), `dict` padded with
// spaces to a 64-byte boundary (unless pad is false), '\n', then `data`.
std::string image(std::string_view dict, const std::string& data = {}, int major = 1, int minor = 0,
                  bool pad = true) {
  const std::size_t width = major == 1 ? 2 : 4;
  std::string header(dict);
  if (pad) {
    while ((6 + 2 + width + header.size() + 1) % 64 != 0) header += ' ';
  }
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += static_cast<char>(minor);
  for (std::size_t i = 0; i < width; ++i) out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

// The bytes of `values` in the given byte order, independent of the host's.
template <class T>
std::string encode(const std::vector<T>& values, bool big_endian = false) {
  using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  std::string out;
  for (T v : values) {
    const auto bits = std::bit_cast<Bits>(v);
    for (std::size_t i = 0; i < sizeof(T); ++i) {
      const std::size_t byte = big_endian ? sizeof(T) - 1 - i : i;
      out += static_cast<char>((bits >> (8 * byte)) & 0xff);
    }
  }
  return out;
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

// Values that must survive bitwise: NaNs (with payload and sign), signed zero, infinities, subnormals.
template <class T>
std::vector<T> special_values() {
  using L = std::numeric_limits<T>;
  using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  const T payload_nan = sizeof(T) == 4 ? std::bit_cast<T>(Bits(0x7fc12345u)) : std::bit_cast<T>(Bits(0x7ff8000000abcdefull));
  const T negative_nan = sizeof(T) == 4 ? std::bit_cast<T>(Bits(0xffc00001u)) : std::bit_cast<T>(Bits(0xfff8000000000001ull));
  return {T(1), T(-2.5), T(1) / T(3), L::quiet_NaN(), payload_nan, negative_nan, T(-0.0), T(0),
          L::infinity(), -L::infinity(), L::denorm_min(), -L::denorm_min(), L::min() / T(16),
          L::max(), L::lowest(), L::epsilon()};
}

std::string temp_path(const std::string& suffix = "") {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string(DRIFTLAB_TEST_TMP) + "/npy_test_" + info->name() + suffix + ".npy";
}

std::string file_contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::string& path, const std::string& contents) {
  std::ofstream(path, std::ios::binary) << contents;
}

// The message of the NpyError that `f` throws; a test failure when it throws nothing or another type.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const npy::NpyError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected NpyError, got another exception: " << e.what();
    return {};
  }
  ADD_FAILURE() << "expected NpyError, nothing was thrown";
  return {};
}

::testing::AssertionResult one_line_containing(const std::string& message, std::string_view needle) {
  if (message.empty()) return ::testing::AssertionFailure() << "empty message";
  if (message.find('\n') != std::string::npos) return ::testing::AssertionFailure() << "multi-line: " << message;
  if (message.find(needle) == std::string::npos) {
    return ::testing::AssertionFailure() << "'" << needle << "' not in: " << message;
  }
  return ::testing::AssertionSuccess() << message;
}

// parse(image) throws an NpyError whose one-line message contains `needle`.
#define EXPECT_PARSE_ERROR(image_text, needle)                                                         \
  do {                                                                                                 \
    const std::string image_copy = (image_text);                                                       \
    EXPECT_THROW(npy::parse(bytes_of(image_copy)), npy::NpyError);                                     \
    EXPECT_TRUE(one_line_containing(error_of([&] { npy::parse(bytes_of(image_copy)); }), (needle))); \
  } while (0)

template <class T>
HostArray make_array(std::vector<T> values, std::vector<std::size_t> shape) {
  HostArray a;
  a.dtype = sizeof(T) == 4 ? DType::f32 : DType::f64;
  a.shape = std::move(shape);
  a.values<T>() = std::move(values);
  return a;
}

template <class T>
void expect_round_trip(const std::vector<T>& values, const std::vector<std::size_t>& shape) {
  const std::string path = temp_path();
  const HostArray a = make_array(values, shape);
  npy::write(path, a);
  const HostArray b = npy::read(path);
  std::remove(path.c_str());
  EXPECT_EQ(b.dtype, a.dtype);
  EXPECT_EQ(b.shape, shape.empty() ? std::vector<std::size_t>{values.size()} : shape);
  EXPECT_TRUE(same_bits(b.values<T>(), values));
  EXPECT_TRUE(sizeof(T) == 4 ? b.f64.empty() : b.f32.empty());  // the other dtype's vector stays unused
}
}  // namespace

// ---- Round trips -------------------------------------------------------------------------------

TEST(Npy, RoundTripF32OneDimensional) {
  const auto v = special_values<float>();
  expect_round_trip(v, {v.size()});
}

TEST(Npy, RoundTripF64OneDimensional) {
  const auto v = special_values<double>();
  expect_round_trip(v, {v.size()});
}

TEST(Npy, RoundTripF32TwoDimensional) {
  const auto v = special_values<float>();  // 16 values
  expect_round_trip(v, {4, 4});
  expect_round_trip(v, {2, 8});
}

TEST(Npy, RoundTripF64TwoDimensional) {
  const auto v = special_values<double>();
  expect_round_trip(v, {8, 2});
  expect_round_trip(v, {1, 16});
}

TEST(Npy, RoundTripWithoutShapeWritesOneDimensional) {
  expect_round_trip(special_values<double>(), {});
  expect_round_trip(std::vector<float>{}, {});
}

TEST(Npy, RoundTripEmptyAndHigherRank) {
  expect_round_trip(std::vector<double>{}, {0});
  expect_round_trip(std::vector<float>{}, {3, 0, 2});
  std::vector<float> v(2 * 3 * 4);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i) * 0.5f;
  expect_round_trip(v, {2, 3, 4});
}

TEST(Npy, WriteProducesNumPyLayout) {
  const std::string path = temp_path();
  npy::write(path, make_array(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3}));
  const std::string file = file_contents(path);
  std::remove(path.c_str());
  ASSERT_GE(file.size(), 10u);
  EXPECT_EQ(file.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const std::size_t header_length = static_cast<unsigned char>(file[8]) | static_cast<unsigned char>(file[9]) << 8;
  EXPECT_EQ((10 + header_length) % 64, 0u);
  ASSERT_EQ(file.size(), 10 + header_length + 6 * 8);
  const std::string header = file.substr(10, header_length);
  EXPECT_EQ(header.rfind("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", 0), 0u) << header;
  EXPECT_EQ(header.back(), '\n');
  EXPECT_EQ(file.substr(10 + header_length), encode<double>({1, 2, 3, 4, 5, 6}));

  npy::write(path, make_array(std::vector<float>{7}, {}));
  const std::string one = file_contents(path);
  std::remove(path.c_str());
  EXPECT_NE(one.find("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }"), std::string::npos);
}

TEST(Npy, WriteFallsBackToVersion2WhenHeaderExceeds64KiB) {
  // 30000 axes of length 1 make a header too long for the 16-bit length of version 1.0.
  const std::vector<std::size_t> shape(30000, 1);
  const std::string path = temp_path();
  npy::write(path, make_array(std::vector<double>{42.0}, shape));
  const std::string file = file_contents(path);
  ASSERT_GE(file.size(), 8u);
  EXPECT_EQ(file[6], '\x02');
  const HostArray b = npy::read(path);
  std::remove(path.c_str());
  EXPECT_EQ(b.shape, shape);
  EXPECT_EQ(b.f64, std::vector<double>{42.0});
}

TEST(Npy, WriteRejectsShapeThatDoesNotMatchData) {
  const std::string path = temp_path();
  const HostArray a = make_array(std::vector<float>{1, 2, 3}, {2, 2});
  EXPECT_THROW(npy::write(path, a), npy::NpyError);
  EXPECT_TRUE(one_line_containing(error_of([&] { npy::write(path, a); }), "(2, 2)"));
  std::remove(path.c_str());
}

TEST(Npy, WriteToMissingDirectoryThrows) {
  const std::string path = std::string(DRIFTLAB_TEST_TMP) + "/no_such_dir_for_npy/x.npy";
  const HostArray a = make_array(std::vector<float>{1}, {1});
  EXPECT_THROW(npy::write(path, a), npy::NpyError);
  EXPECT_TRUE(one_line_containing(error_of([&] { npy::write(path, a); }), path));
}

// ---- Hand-built images -------------------------------------------------------------------------

TEST(Npy, ParsesVersion1) {
  const std::vector<float> v{1.5f, -0.0f, 3.25f, std::numeric_limits<float>::denorm_min()};
  const HostArray a = npy::parse(bytes_of(image("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", encode(v))));
  EXPECT_EQ(a.dtype, DType::f32);
  EXPECT_EQ(a.shape, (std::vector<std::size_t>{4}));
  EXPECT_TRUE(same_bits(a.f32, v));
  EXPECT_TRUE(a.f64.empty());
}

TEST(Npy, ParsesVersion2And3Headers) {
  const std::vector<double> v{1, 2, 3, 4, 5, 6};
  const std::string dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }";
  for (int major : {2, 3}) {
    const HostArray a = npy::parse(bytes_of(image(dict, encode(v), major)));
    EXPECT_EQ(a.dtype, DType::f64);
    EXPECT_EQ(a.shape, (std::vector<std::size_t>{2, 3}));
    EXPECT_TRUE(same_bits(a.f64, v));
  }
}

TEST(Npy, ParsesBigEndianF8) {
  const std::vector<double> v{1.5, -2.25, 1e300, -0.0, std::numeric_limits<double>::denorm_min(),
                              -std::numeric_limits<double>::infinity()};
  const HostArray a =
      npy::parse(bytes_of(image("{'descr': '>f8', 'fortran_order': False, 'shape': (6,), }", encode(v, true))));
  EXPECT_EQ(a.dtype, DType::f64);
  EXPECT_EQ(a.f64[0], 1.5);
  EXPECT_EQ(a.f64[1], -2.25);
  EXPECT_EQ(a.f64[2], 1e300);
  EXPECT_TRUE(same_bits(a.f64, v));
}

TEST(Npy, ParsesBigEndianF4) {
  const auto v = special_values<float>();
  const HostArray a =
      npy::parse(bytes_of(image("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 8), }", encode(v, true))));
  EXPECT_EQ(a.shape, (std::vector<std::size_t>{2, 8}));
  EXPECT_TRUE(same_bits(a.f32, v));
}

TEST(Npy, ParsesFortranOrderAsCOrder) {
  // [[1, 2, 3], [4, 5, 6]] stored column by column.
  const HostArray a = npy::parse(bytes_of(
      image("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }", encode<double>({1, 4, 2, 5, 3, 6}))));
  EXPECT_EQ(a.shape, (std::vector<std::size_t>{2, 3}));
  EXPECT_EQ(a.f64, (std::vector<double>{1, 2, 3, 4, 5, 6}));

  // Big-endian, three axes: element (i, j, k) is stored at i + 2*j + 6*k and holds 100i + 10j + k.
  std::vector<float> stored(2 * 3 * 4);
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t j = 0; j < 3; ++j)
      for (std::size_t k = 0; k < 4; ++k) stored[i + 2 * j + 6 * k] = static_cast<float>(100 * i + 10 * j + k);
  const HostArray b = npy::parse(
      bytes_of(image("{'descr': '>f4', 'fortran_order': True, 'shape': (2, 3, 4), }", encode(stored, true))));
  ASSERT_EQ(b.f32.size(), 24u);
  for (std::size_t i = 0; i < 2; ++i)
    for (std::size_t j = 0; j < 3; ++j)
      for (std::size_t k = 0; k < 4; ++k) EXPECT_EQ(b.f32[(i * 3 + j) * 4 + k], static_cast<float>(100 * i + 10 * j + k));
}

TEST(Npy, ParsesScalarShape) {
  const HostArray a =
      npy::parse(bytes_of(image("{'descr': '<f8', 'fortran_order': False, 'shape': (), }", encode<double>({2.5}))));
  EXPECT_TRUE(a.shape.empty());
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a.f64[0], 2.5);
}

TEST(Npy, ParsesEmptyArrays) {
  const HostArray a = npy::parse(bytes_of(image("{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }")));
  EXPECT_EQ(a.shape, (std::vector<std::size_t>{0}));
  EXPECT_EQ(a.size(), 0u);
  const HostArray b = npy::parse(bytes_of(image("{'descr': '<f8', 'fortran_order': True, 'shape': (5, 0, 3), }")));
  EXPECT_EQ(b.shape, (std::vector<std::size_t>{5, 0, 3}));
  EXPECT_EQ(b.size(), 0u);
}

TEST(Npy, ParsesAnyKeyOrderQuotesAndSpacing) {
  const std::string data = encode<double>({1, 2});
  for (const char* dict : {
           "{\"shape\": (2,), \"fortran_order\": False, \"descr\": \"<f8\"}",
           "{ 'fortran_order' :False,'shape':( 2 , ),'descr':'<f8' , }",
           "{'descr':\t'<f8',\n 'fortran_order': False,\r\n 'shape': (2L,)}",  // old Python 2 long
           "{'shape': (+2,), 'descr': '<f8', 'fortran_order': False}",
       }) {
    SCOPED_TRACE(dict);
    const HostArray a = npy::parse(bytes_of(image(dict, data)));
    EXPECT_EQ(a.shape, (std::vector<std::size_t>{2}));
    EXPECT_EQ(a.f64, (std::vector<double>{1, 2}));
  }
  // No padding, no alignment: not what NumPy writes, but valid.
  const HostArray b = npy::parse(
      bytes_of(image("{'descr': '<f8', 'fortran_order': False, 'shape': (2,)}", data, 1, 0, false)));
  EXPECT_EQ(b.f64, (std::vector<double>{1, 2}));
}

TEST(Npy, ParsesNativeAndNotApplicableByteOrderAsLittleEndian) {
  const HostArray a =
      npy::parse(bytes_of(image("{'descr': '=f8', 'fortran_order': False, 'shape': (1,), }", encode<double>({0.1}))));
  EXPECT_EQ(a.f64, std::vector<double>{0.1});
  const HostArray b =
      npy::parse(bytes_of(image("{'descr': '|f4', 'fortran_order': False, 'shape': (1,), }", encode<float>({0.1f}))));
  EXPECT_EQ(b.f32, std::vector<float>{0.1f});
}

// ---- Malformed input ---------------------------------------------------------------------------

namespace {
std::string f4_image(std::string_view shape, const std::string& data) {
  return image("{'descr': '<f4', 'fortran_order': False, 'shape': " + std::string(shape) + ", }", data);
}
std::string dtype_image(std::string_view descr) {
  return image("{'descr': " + std::string(descr) + ", 'fortran_order': False, 'shape': (1,), }", "12345678");
}
}  // namespace

TEST(Npy, RejectsBadMagic) {
  EXPECT_PARSE_ERROR("", "not a .npy file");
  EXPECT_PARSE_ERROR("\x93NUMP", "not a .npy file");
  EXPECT_PARSE_ERROR("PK\x03\x04 this is a zip", "not a .npy file");
  std::string wrong = f4_image("(1,)", encode<float>({1}));
  wrong[1] = 'n';
  EXPECT_PARSE_ERROR(wrong, "not a .npy file");
}

TEST(Npy, RejectsUnsupportedVersion) {
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }";
  EXPECT_PARSE_ERROR(image(dict, encode<float>({1}), 9, 0), "version 9.0");
  EXPECT_PARSE_ERROR(image(dict, encode<float>({1}), 1, 1), "version 1.1");
  EXPECT_PARSE_ERROR(image(dict, encode<float>({1}), 0, 0), "version 0.0");
  EXPECT_PARSE_ERROR(std::string("\x93NUMPY\x01", 7), "version");
}

TEST(Npy, RejectsHeaderLengthPastEnd) {
  std::string v1 = f4_image("(1,)", encode<float>({1}));
  v1[8] = '\xff';
  v1[9] = '\x7f';
  EXPECT_PARSE_ERROR(v1, "runs past the end");
  std::string v2 = image("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", encode<float>({1}), 2);
  v2[11] = '\xff';  // high byte of the 32-bit length
  EXPECT_PARSE_ERROR(v2, "runs past the end");
  EXPECT_PARSE_ERROR(std::string("\x93NUMPY\x02\x00\x10", 9), "header length");
}

TEST(Npy, RejectsTruncatedData) {
  EXPECT_PARSE_ERROR(f4_image("(2, 3)", encode<float>({1, 2, 3, 4, 5})), "truncated data");
  EXPECT_TRUE(one_line_containing(
      error_of([] { npy::parse(bytes_of(f4_image("(2, 3)", encode<float>({1, 2, 3, 4, 5})))); }),
      "needs 24 data bytes, found 20"));
  EXPECT_PARSE_ERROR(f4_image("()", ""), "needs 4 data bytes, found 0");
}

TEST(Npy, RejectsTrailingBytes) {
  EXPECT_PARSE_ERROR(f4_image("(2,)", encode<float>({1, 2}) + "x"), "trailing bytes");
  EXPECT_PARSE_ERROR(f4_image("(0,)", encode<float>({1})), "needs 0 data bytes, found 4");
}

TEST(Npy, RejectsUnsupportedDtypes) {
  EXPECT_PARSE_ERROR(dtype_image("'<i4'"), "unsupported dtype '<i4'");
  EXPECT_PARSE_ERROR(dtype_image("'<i2'"), "unsupported dtype '<i2'");  // '<f2' is float16: read (test_half_sum.cpp)
  EXPECT_PARSE_ERROR(dtype_image("'<V2'"), "read as bfloat16 only with --dtype bf16");  // ml_dtypes' bf16, unless told
  EXPECT_PARSE_ERROR(dtype_image("'<V4'"), "unsupported dtype '<V4'");
  EXPECT_PARSE_ERROR(dtype_image("'|O'"), "unsupported dtype '|O'");
  EXPECT_PARSE_ERROR(dtype_image("'|b1'"), "'<f4', '>f4', '<f8', '>f8'");
  EXPECT_PARSE_ERROR(dtype_image("'<c8'"), "'<c8'");
  EXPECT_PARSE_ERROR(dtype_image("'<f16'"), "'<f16'");
  EXPECT_PARSE_ERROR(dtype_image("'f8'"), "'f8'");
  EXPECT_PARSE_ERROR(dtype_image("[('x', '<f4'), ('y', '<f4')]"), "structured dtype");
  EXPECT_PARSE_ERROR(dtype_image("8"), "'descr' must be a dtype string");
}

TEST(Npy, RejectsMalformedDict) {
  const std::string data = encode<float>({1});
  EXPECT_PARSE_ERROR(image("", data), "malformed header");
  EXPECT_PARSE_ERROR(image("[1, 2]", data), "header is not a dict");
  EXPECT_PARSE_ERROR(image("{'descr' '<f4', 'fortran_order': False, 'shape': (1,)}", data), "expected ':'");
  EXPECT_PARSE_ERROR(image("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", data), "malformed header");
  EXPECT_PARSE_ERROR(image("{'descr': '<f4',, 'fortran_order': False, 'shape': (1,)}", data), "malformed header");
  EXPECT_PARSE_ERROR(image("{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}", data), "malformed header");
  EXPECT_PARSE_ERROR(image("{'descr': '<f4', 'fortran_order': false, 'shape': (1,)}", data), "'false'");
  EXPECT_PARSE_ERROR(image("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} junk", data), "after the dict");
  EXPECT_PARSE_ERROR(image("{'descr': '<f4', 'fortran_order': False, 'shape': (1,,)}", data), "malformed header");
  EXPECT_PARSE_ERROR(image("{'descr': '<f4', 'fortran_order': False, 'shape': (1 2)}", data), "malformed header");
  EXPECT_PARSE_ERROR(image(std::string("{'descr\n': \x00\xff}", 14), data), "malformed header");
  EXPECT_PARSE_ERROR(image("{'shape': " + std::string(100000, '(') + "}", data, 2), "nesting");
  EXPECT_PARSE_ERROR(image("{5: '<f4'}", data), "unknown key 5");
  EXPECT_PARSE_ERROR(image("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", data),
                     "unknown key 'extra'");
  EXPECT_PARSE_ERROR(image("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", data),
                     "duplicate key 'descr'");
  EXPECT_PARSE_ERROR(image("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", data), "fortran_order");
}

TEST(Npy, RejectsMissingKeys) {
  const std::string data = encode<float>({1});
  EXPECT_PARSE_ERROR(image("{'descr': '<f4', 'fortran_order': False}", data), "missing the key 'shape'");
  EXPECT_PARSE_ERROR(image("{'fortran_order': False, 'shape': (1,)}", data), "missing the key 'descr'");
  EXPECT_PARSE_ERROR(image("{'descr': '<f4', 'shape': (1,)}", data), "missing the key 'fortran_order'");
  EXPECT_PARSE_ERROR(image("{}", data), "missing the key");
}

TEST(Npy, RejectsBadShapes) {
  EXPECT_PARSE_ERROR(f4_image("(-1,)", ""), "shape entry -1 is negative");
  EXPECT_PARSE_ERROR(f4_image("(2, -3)", ""), "is negative");
  EXPECT_PARSE_ERROR(f4_image("(3.5,)", ""), "shape entry 3.5 is not an integer");
  EXPECT_PARSE_ERROR(f4_image("(1e3,)", ""), "not an integer");
  EXPECT_PARSE_ERROR(f4_image("('3',)", ""), "not an integer");
  EXPECT_PARSE_ERROR(f4_image("(True,)", ""), "not an integer");
  EXPECT_PARSE_ERROR(f4_image("(None,)", ""), "not an integer");
  EXPECT_PARSE_ERROR(f4_image("[3]", ""), "'shape' must be a tuple");
  EXPECT_PARSE_ERROR(f4_image("3", ""), "'shape' must be a tuple");
  EXPECT_PARSE_ERROR(f4_image("(3)", ""), "'shape' must be a tuple");  // Python: (3) is just 3
  EXPECT_PARSE_ERROR(f4_image("(99999999999999999999999,)", ""), "too large");
  EXPECT_PARSE_ERROR(f4_image("(4294967296, 4294967296)", ""), "overflows");
  EXPECT_PARSE_ERROR(f4_image("(4611686018427387904,)", ""), "overflows");  // 2^62 elements * 4 bytes
}

TEST(Npy, AnyTruncationOrByteChangeGivesNpyErrorOrArray) {
  const std::string good = image("{'descr': '>f8', 'fortran_order': True, 'shape': (2, 2), }",
                                 encode<double>({1, 2, 3, 4}, true));
  for (std::size_t n = 0; n < good.size(); ++n) {
    EXPECT_THROW(npy::parse(bytes_of(good.substr(0, n))), npy::NpyError) << "length " << n;
  }
  for (std::size_t i = 0; i < good.size(); ++i) {
    for (int b : {0x00, 0x0a, 0x20, 0x27, 0x28, 0x29, 0x2c, 0x2d, 0x31, 0x39, 0x7b, 0x7d, 0x80, 0xff}) {
      std::string mutated = good;
      mutated[i] = static_cast<char>(b);
      try {
        npy::parse(bytes_of(mutated));
      } catch (const npy::NpyError& e) {
        EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
      } catch (...) {
        ADD_FAILURE() << "byte " << i << " set to " << b << ": exception other than NpyError";
      }
    }
  }
}

// ---- Files -------------------------------------------------------------------------------------

TEST(Npy, ReadMissingFileNamesThePath) {
  const std::string path = std::string(DRIFTLAB_TEST_TMP) + "/npy_test_does_not_exist.npy";
  EXPECT_THROW(npy::read(path), npy::NpyError);
  const std::string message = error_of([&] { npy::read(path); });
  EXPECT_TRUE(one_line_containing(message, path + ": cannot open"));
}

TEST(Npy, ReadDirectoryIsAnError) {
  EXPECT_THROW(npy::read(DRIFTLAB_TEST_TMP), npy::NpyError);
  EXPECT_TRUE(one_line_containing(error_of([] { npy::read(DRIFTLAB_TEST_TMP); }), DRIFTLAB_TEST_TMP));
}

TEST(Npy, ReadPrefixesParseErrorsWithThePath) {
  const std::string path = temp_path();
  write_file(path, f4_image("(3,)", encode<float>({1, 2})));
  EXPECT_THROW(npy::read(path), npy::NpyError);
  EXPECT_TRUE(one_line_containing(error_of([&] { npy::read(path); }), path + ": truncated data"));
  std::remove(path.c_str());
}
