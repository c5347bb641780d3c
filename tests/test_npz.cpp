// Tests of the .npz reader and writer: round trips, archives numpy itself wrote, and broken
// archives, which must always give a one-line NpzError that names the file.
#include "host/io/npz.h"

#include <gtest/gtest.h>
#include <zip.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "host/io/npy.h"

#ifndef DRIFTLAB_TEST_TMP
#define DRIFTLAB_TEST_TMP "/tmp"
#endif

namespace {

using driftlab::DType;
using driftlab::HostArray;
namespace npz = driftlab::npz;
namespace npy = driftlab::npy;
using Arrays = std::map<std::string, HostArray>;

// numpy 2.4 numpy.savez('s.npz', W0=np.arange(6, dtype=np.float32).reshape(2, 3),
// b0=np.array([1.5, -0.0, np.nan])): stored members with zip64 local headers.
constexpr std::string_view kNumpySavez{
    "\x50\x4b\x03\x04\x2d\x00\x00\x00\x00\x00\x00\x00\x21\x00\x4f\xe9\x00\x2a\xff\xff\xff\xff\xff\xff"
    "\xff\xff\x06\x00\x14\x00\x57\x30\x2e\x6e\x70\x79\x01\x00\x10\x00\x98\x00\x00\x00\x00\x00\x00\x00"
    "\x98\x00\x00\x00\x00\x00\x00\x00\x93\x4e\x55\x4d\x50\x59\x01\x00\x76\x00\x7b\x27\x64\x65\x73\x63"
    "\x72\x27\x3a\x20\x27\x3c\x66\x34\x27\x2c\x20\x27\x66\x6f\x72\x74\x72\x61\x6e\x5f\x6f\x72\x64\x65"
    "\x72\x27\x3a\x20\x46\x61\x6c\x73\x65\x2c\x20\x27\x73\x68\x61\x70\x65\x27\x3a\x20\x28\x32\x2c\x20"
    "\x33\x29\x2c\x20\x7d\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x0a\x00\x00\x00\x00\x00\x00\x80\x3f"
    "\x00\x00\x00\x40\x00\x00\x40\x40\x00\x00\x80\x40\x00\x00\xa0\x40\x50\x4b\x03\x04\x2d\x00\x00\x00"
    "\x00\x00\x00\x00\x21\x00\xee\xa0\x51\x49\xff\xff\xff\xff\xff\xff\xff\xff\x06\x00\x14\x00\x62\x30"
    "\x2e\x6e\x70\x79\x01\x00\x10\x00\x98\x00\x00\x00\x00\x00\x00\x00\x98\x00\x00\x00\x00\x00\x00\x00"
    "\x93\x4e\x55\x4d\x50\x59\x01\x00\x76\x00\x7b\x27\x64\x65\x73\x63\x72\x27\x3a\x20\x27\x3c\x66\x38"
    "\x27\x2c\x20\x27\x66\x6f\x72\x74\x72\x61\x6e\x5f\x6f\x72\x64\x65\x72\x27\x3a\x20\x46\x61\x6c\x73"
    "\x65\x2c\x20\x27\x73\x68\x61\x70\x65\x27\x3a\x20\x28\x33\x2c\x29\x2c\x20\x7d\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20\x20"
    "\x20\x20\x20\x20\x20\x20\x20\x0a\x00\x00\x00\x00\x00\x00\xf8\x3f\x00\x00\x00\x00\x00\x00\x00\x80"
    "\x00\x00\x00\x00\x00\x00\xf8\x7f\x50\x4b\x01\x02\x2d\x03\x2d\x00\x00\x00\x00\x00\x00\x00\x21\x00"
    "\x4f\xe9\x00\x2a\x98\x00\x00\x00\x98\x00\x00\x00\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    "\x80\x01\x00\x00\x00\x00\x57\x30\x2e\x6e\x70\x79\x50\x4b\x01\x02\x2d\x03\x2d\x00\x00\x00\x00\x00"
    "\x00\x00\x21\x00\xee\xa0\x51\x49\x98\x00\x00\x00\x98\x00\x00\x00\x06\x00\x00\x00\x00\x00\x00\x00"
    "\x00\x00\x00\x00\x80\x01\xd0\x00\x00\x00\x62\x30\x2e\x6e\x70\x79\x50\x4b\x05\x06\x00\x00\x00\x00"
    "\x02\x00\x02\x00\x68\x00\x00\x00\xa0\x01\x00\x00\x00\x00",
    542};

// The same arrays through numpy.savez_compressed: deflated members.
constexpr std::string_view kNumpySavezCompressed{
    "\x50\x4b\x03\x04\x2d\x00\x00\x00\x08\x00\x00\x00\x21\x00\x4f\xe9\x00\x2a\xff\xff\xff\xff\xff\xff"
    "\xff\xff\x06\x00\x14\x00\x57\x30\x2e\x6e\x70\x79\x01\x00\x10\x00\x98\x00\x00\x00\x00\x00\x00\x00"
    "\x55\x00\x00\x00\x00\x00\x00\x00\x9b\xec\x17\xea\x1b\x10\xc9\xc8\x50\xc6\x50\xad\x9e\x92\x5a\x9c"
    "\x5c\xa4\x6e\xa5\xa0\x6e\x93\x66\xa2\xae\xa3\xa0\x9e\x96\x5f\x54\x52\x94\x98\x17\x9f\x5f\x94\x92"
    "\x0a\x12\x77\x4b\xcc\x29\x4e\x05\x8a\x17\x67\x24\x16\xa4\x02\xf9\x1a\x46\x3a\x0a\xc6\x9a\x3a\x0a"
    "\xb5\x0a\x64\x03\x2e\x06\x30\x68\xb0\x07\x12\x0e\x40\x04\xc4\x0d\x40\xbc\xc0\x01\x00\x50\x4b\x03"
    "\x04\x2d\x00\x00\x00\x08\x00\x00\x00\x21\x00\xee\xa0\x51\x49\xff\xff\xff\xff\xff\xff\xff\xff\x06"
    "\x00\x14\x00\x62\x30\x2e\x6e\x70\x79\x01\x00\x10\x00\x98\x00\x00\x00\x00\x00\x00\x00\x4f\x00\x00"
    "\x00\x00\x00\x00\x00\x9b\xec\x17\xea\x1b\x10\xc9\xc8\x50\xc6\x50\xad\x9e\x92\x5a\x9c\x5c\xa4\x6e"
    "\xa5\xa0\x6e\x93\x66\xa1\xae\xa3\xa0\x9e\x96\x5f\x54\x52\x94\x98\x17\x9f\x5f\x94\x92\x0a\x12\x77"
    "\x4b\xcc\x29\x4e\x05\x8a\x17\x67\x24\x16\xa4\x02\xf9\x1a\xc6\x3a\x9a\x3a\x0a\xb5\x0a\x14\x00\x2e"
    "\x06\x30\xf8\x61\x0f\xa1\x19\x1a\xa0\xfc\x7a\x00\x50\x4b\x01\x02\x2d\x03\x2d\x00\x00\x00\x08\x00"
    "\x00\x00\x21\x00\x4f\xe9\x00\x2a\x55\x00\x00\x00\x98\x00\x00\x00\x06\x00\x00\x00\x00\x00\x00\x00"
    "\x00\x00\x00\x00\x80\x01\x00\x00\x00\x00\x57\x30\x2e\x6e\x70\x79\x50\x4b\x01\x02\x2d\x03\x2d\x00"
    "\x00\x00\x08\x00\x00\x00\x21\x00\xee\xa0\x51\x49\x4f\x00\x00\x00\x98\x00\x00\x00\x06\x00\x00\x00"
    "\x00\x00\x00\x00\x00\x00\x00\x00\x80\x01\x8d\x00\x00\x00\x62\x30\x2e\x6e\x70\x79\x50\x4b\x05\x06"
    "\x00\x00\x00\x00\x02\x00\x02\x00\x68\x00\x00\x00\x14\x01\x00\x00\x00\x00",
    402};

// ---- Helpers ------------------------------------------------------------------------------------

// A path under DRIFTLAB_TEST_TMP unique to the running test, removed when the object goes.
class TempPath {
 public:
  explicit TempPath(const std::string& suffix = ".npz") {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::string(DRIFTLAB_TEST_TMP) + "/npz_test_" + info->name() + suffix;
    std::remove(path_.c_str());
  }
  ~TempPath() { std::remove(path_.c_str()); }
  TempPath(const TempPath&) = delete;
  TempPath& operator=(const TempPath&) = delete;
  const std::string& str() const { return path_; }

 private:
  std::string path_;
};

std::string file_contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::string& path, std::string_view contents) {
  std::ofstream(path, std::ios::binary).write(contents.data(), static_cast<std::streamsize>(contents.size()));
}

// Files in the directory of `path` whose names start with its file name: the archive itself and
// any temporary file write() failed to remove.
std::vector<std::string> files_starting_with(const std::string& path) {
  const std::filesystem::path p(path);
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::directory_iterator(p.parent_path())) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with(p.filename().string())) found.push_back(name);
  }
  return found;
}

template <class T>
HostArray make_array(std::vector<T> values, std::vector<std::size_t> shape) {
  HostArray a;
  a.dtype = sizeof(T) == 4 ? DType::f32 : DType::f64;
  a.shape = std::move(shape);
  a.values<T>() = std::move(values);
  return a;
}

// n values with varied bits, including NaN with a payload, -0.0, infinities and a subnormal.
template <class T>
std::vector<T> sample(std::size_t n, unsigned seed) {
  using L = std::numeric_limits<T>;
  using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  const std::vector<T> special{std::bit_cast<T>(~Bits(0) >> 1), T(-0.0), L::infinity(), -L::infinity(),
                               L::denorm_min(), L::max()};
  std::vector<T> v(n);
  for (std::size_t i = 0; i < n; ++i) {
    v[i] = i < special.size() ? special[i] : static_cast<T>(std::sin(double(i * 7919 + seed)) * 1e3);
  }
  return v;
}

bool same_bits(const HostArray& a, const HostArray& b) {
  if (a.dtype != b.dtype || a.shape != b.shape || a.size() != b.size()) return false;
  return a.size() == 0 || std::memcmp(a.data(), b.data(), a.size() * driftlab::dtype_size(a.dtype)) == 0;
}

// A model-shaped set of arrays: two layers, f32 and f64, 1-D and 2-D.
Arrays model_arrays() {
  Arrays m;
  m["W0"] = make_array(sample<float>(3 * 4, 1), {3, 4});
  m["b0"] = make_array(sample<float>(4, 2), {4});
  m["W1"] = make_array(sample<double>(4 * 2, 3), {4, 2});
  m["b1"] = make_array(sample<double>(2, 4), {2});
  return m;
}

// The .npy image npy::write makes for `a`.
std::string npy_image(const HostArray& a) {
  const TempPath tmp("_image.npy");
  npy::write(tmp.str(), a);
  return file_contents(tmp.str());
}

// A zip made with libzip directly, for archives write() would never make.
void write_zip(const std::string& path, const std::vector<std::pair<std::string, std::string>>& members,
               zip_int32_t method = ZIP_CM_STORE) {
  int code = 0;
  zip_t* za = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
  ASSERT_NE(za, nullptr) << "zip_open error " << code;
  for (const auto& [name, data] : members) {  // the buffers outlive zip_close
    zip_source_t* src = zip_source_buffer(za, data.data(), data.size(), 0);
    ASSERT_NE(src, nullptr) << zip_strerror(za);
    const zip_int64_t index = zip_file_add(za, name.c_str(), src, ZIP_FL_ENC_UTF_8);
    if (index < 0) zip_source_free(src);
    ASSERT_GE(index, 0) << zip_strerror(za);
    ASSERT_EQ(zip_set_file_compression(za, static_cast<zip_uint64_t>(index), method, 0), 0) << zip_strerror(za);
  }
  const int closed = zip_close(za);
  if (closed != 0) zip_discard(za);
  ASSERT_EQ(closed, 0);
}

// The compression method of each member, read with libzip.
std::vector<zip_int32_t> member_methods(const std::string& path) {
  std::vector<zip_int32_t> methods;
  int code = 0;
  zip_t* za = zip_open(path.c_str(), ZIP_RDONLY, &code);
  if (!za) return methods;
  for (zip_int64_t i = 0; i < zip_get_num_entries(za, 0); ++i) {
    zip_stat_t st;
    if (zip_stat_index(za, static_cast<zip_uint64_t>(i), 0, &st) == 0) methods.push_back(st.comp_method);
  }
  zip_discard(za);
  return methods;
}

std::uint32_t le32(const std::string& s, std::size_t at) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v |= std::uint32_t(static_cast<unsigned char>(s.at(at + i))) << (8 * i);
  return v;
}
std::uint16_t le16(const std::string& s, std::size_t at) {
  return static_cast<std::uint16_t>(static_cast<unsigned char>(s.at(at)) | static_cast<unsigned char>(s.at(at + 1)) << 8);
}
void put_le32(std::string& s, std::size_t at, std::uint32_t v) {
  for (std::size_t i = 0; i < 4; ++i) s.at(at + i) = static_cast<char>((v >> (8 * i)) & 0xff);
}

// Where the first member's data starts in an archive whose first local header is at offset 0.
std::size_t first_member_data(const std::string& zip) {
  EXPECT_EQ(zip.substr(0, 4), std::string("PK\x03\x04", 4));
  return 30 + le16(zip, 26) + le16(zip, 28);
}

// The message of the NpzError that `f` throws; a test failure when it throws nothing or another type.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const npz::NpzError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected NpzError, got another exception: " << e.what();
    return {};
  }
  ADD_FAILURE() << "expected NpzError, nothing was thrown";
  return {};
}

// One line, starting with the path, containing `needle`.
::testing::AssertionResult one_line_error(const std::string& message, const std::string& path,
                                          std::string_view needle = {}) {
  if (message.empty()) return ::testing::AssertionFailure() << "empty message";
  if (message.find('\n') != std::string::npos) return ::testing::AssertionFailure() << "multi-line: " << message;
  if (!message.starts_with(path + ": ")) return ::testing::AssertionFailure() << "does not name " << path << ": " << message;
  if (message.find(needle) == std::string::npos) {
    return ::testing::AssertionFailure() << "'" << needle << "' not in: " << message;
  }
  return ::testing::AssertionSuccess() << message;
}

#define EXPECT_READ_ERROR(path, needle) \
  EXPECT_TRUE(one_line_error(error_of([&] { npz::read(path); }), (path), (needle)))

}  // namespace

// ---- Round trips -------------------------------------------------------------------------------

TEST(Npz, RoundTripStoredAndDeflated) {
  const Arrays arrays = model_arrays();
  for (const bool compress : {false, true}) {
    const TempPath path;
    npz::write(path.str(), arrays, compress);
    const zip_int32_t method = compress ? ZIP_CM_DEFLATE : ZIP_CM_STORE;
    EXPECT_EQ(member_methods(path.str()), std::vector<zip_int32_t>(arrays.size(), method));
    const Arrays back = npz::read(path.str());
    ASSERT_EQ(back.size(), arrays.size());
    for (const auto& [name, a] : arrays) {
      ASSERT_TRUE(back.contains(name)) << name;
      EXPECT_TRUE(same_bits(back.at(name), a)) << name << (compress ? " deflated" : " stored");
    }
  }
}

TEST(Npz, RoundTripLargerDeflatedMember) {
  Arrays arrays;
  arrays["W0"] = make_array(sample<double>(300 * 200, 5), {300, 200});
  arrays["b0"] = make_array(std::vector<float>(200, 0.25f), {200});  // compresses well
  const TempPath path;
  npz::write(path.str(), arrays, true);
  const Arrays back = npz::read(path.str());
  ASSERT_EQ(back.size(), 2u);
  EXPECT_TRUE(same_bits(back.at("W0"), arrays.at("W0")));
  EXPECT_TRUE(same_bits(back.at("b0"), arrays.at("b0")));
}

TEST(Npz, RoundTripEmptyArchiveAndEmptyArray) {
  const TempPath path;
  npz::write(path.str(), {}, true);
  EXPECT_EQ(file_contents(path.str()).size(), 22u);  // what numpy.savez() with no arrays writes
  EXPECT_TRUE(npz::read(path.str()).empty());

  Arrays arrays;
  arrays["empty"] = make_array(std::vector<double>{}, {0});
  arrays["flat"] = make_array(std::vector<float>{}, {2, 0});
  npz::write(path.str(), arrays, false);
  const Arrays back = npz::read(path.str());
  ASSERT_EQ(back.size(), 2u);
  EXPECT_TRUE(same_bits(back.at("empty"), arrays.at("empty")));
  EXPECT_TRUE(same_bits(back.at("flat"), arrays.at("flat")));
}

TEST(Npz, WriteWithoutShapeGivesOneDimensional) {
  Arrays arrays;
  arrays["v"] = make_array(std::vector<float>{1, 2, 3}, {});
  const TempPath path;
  npz::write(path.str(), arrays, false);
  EXPECT_EQ(npz::read(path.str()).at("v").shape, std::vector<std::size_t>{3});
}

TEST(Npz, WriteIsReproducibleAndReplacesTheFile) {
  const TempPath path;
  write_file(path.str(), "old contents, not a zip");
  npz::write(path.str(), model_arrays(), true);
  const std::string first = file_contents(path.str());
  npz::write(path.str(), model_arrays(), true);
  EXPECT_EQ(file_contents(path.str()), first);
  EXPECT_EQ(files_starting_with(path.str()).size(), 1u);  // no temporary file left behind
}

TEST(Npz, MembersAreTheNpyImagesNpyWriteMakes) {
  const Arrays arrays = model_arrays();
  const TempPath path;
  npz::write(path.str(), arrays, false);
  const std::string zip = file_contents(path.str());
  const std::string image = npy_image(arrays.at("W0"));  // "W0.npy" sorts first
  EXPECT_EQ(zip.substr(26, 2), std::string("\x06\x00", 2));
  EXPECT_EQ(zip.substr(30, 6), "W0.npy");
  EXPECT_EQ(zip.substr(first_member_data(zip), image.size()), image);
}

// ---- Archives numpy wrote ----------------------------------------------------------------------

TEST(Npz, ReadsNumpySavezAndSavezCompressed) {
  const float w0[] = {0, 1, 2, 3, 4, 5};
  const std::uint64_t b0_bits[] = {0x3ff8000000000000, 0x8000000000000000, 0x7ff8000000000000};
  for (const std::string_view bytes : {kNumpySavez, kNumpySavezCompressed}) {
    const TempPath path;
    write_file(path.str(), bytes);
    const Arrays arrays = npz::read(path.str());
    ASSERT_EQ(arrays.size(), 2u);
    const HostArray& w = arrays.at("W0");
    EXPECT_EQ(w.dtype, DType::f32);
    EXPECT_EQ(w.shape, (std::vector<std::size_t>{2, 3}));
    ASSERT_EQ(w.f32.size(), 6u);
    EXPECT_EQ(std::memcmp(w.f32.data(), w0, sizeof w0), 0);
    const HostArray& b = arrays.at("b0");
    EXPECT_EQ(b.dtype, DType::f64);
    EXPECT_EQ(b.shape, std::vector<std::size_t>{3});
    ASSERT_EQ(b.f64.size(), 3u);
    EXPECT_EQ(std::memcmp(b.f64.data(), b0_bits, sizeof b0_bits), 0);
  }
}

// ---- Files that are not good archives ----------------------------------------------------------

TEST(Npz, MissingFile) {
  const TempPath path;
  EXPECT_READ_ERROR(path.str(), "no such file");
}

TEST(Npz, EmptyFile) {
  const TempPath path;
  write_file(path.str(), "");
  EXPECT_READ_ERROR(path.str(), "empty file");
}

TEST(Npz, Directory) {
  const std::string dir = DRIFTLAB_TEST_TMP;
  EXPECT_READ_ERROR(dir, "directory");
}

TEST(Npz, PlainNpyFile) {
  const TempPath path;
  npy::write(path.str(), make_array(std::vector<float>{1, 2}, {2}));
  EXPECT_READ_ERROR(path.str(), ".npy");
  write_file(path.str(), "just some text, long enough to look for an end of central directory record");
  EXPECT_READ_ERROR(path.str(), "zip");
}

TEST(Npz, TruncatedArchive) {
  for (const bool compress : {false, true}) {
    const TempPath whole("_whole.npz");
    npz::write(whole.str(), model_arrays(), compress);
    const std::string zip = file_contents(whole.str());
    const TempPath path;
    for (std::size_t length = 0; length < zip.size(); ++length) {  // every cut, from empty to one byte short
      write_file(path.str(), std::string_view(zip).substr(0, length));
      EXPECT_READ_ERROR(path.str(), "") << "cut at " << length << " of " << zip.size();
    }
  }
}

// Bytes cut out of the middle leave the end record in place but every offset after the cut wrong.
TEST(Npz, BytesMissingFromTheMiddle) {
  const TempPath whole("_whole.npz");
  npz::write(whole.str(), model_arrays(), true);
  const std::string zip = file_contents(whole.str());
  const TempPath path;
  for (std::size_t at = 0; at + 8 < zip.size(); at += 7) {
    for (const std::size_t cut : {1, 8}) {
      write_file(path.str(), zip.substr(0, at) + zip.substr(at + cut));
      EXPECT_READ_ERROR(path.str(), "") << cut << " bytes cut at " << at << " of " << zip.size();
    }
  }
}

// Any single damaged byte anywhere: read() returns (a flip in a field nothing checks) or throws
// NpzError, and never anything else (the sanitizer builds also catch bad memory accesses).
TEST(Npz, AnyDamagedByteIsSafe) {
  for (const bool compress : {false, true}) {
    const TempPath whole("_whole.npz");
    npz::write(whole.str(), {{"W0", make_array(sample<float>(6, 8), {2, 3})}, {"b0", make_array(sample<double>(3, 9), {3})}},
               compress);
    const std::string zip = file_contents(whole.str());
    const TempPath path;
    for (std::size_t at = 0; at < zip.size(); ++at) {
      for (const unsigned char mask : {0x01, 0xff}) {
        std::string bad = zip;
        bad[at] = static_cast<char>(bad[at] ^ mask);
        write_file(path.str(), bad);
        try {
          npz::read(path.str());
        } catch (const npz::NpzError& e) {
          EXPECT_TRUE(one_line_error(e.what(), path.str()));
        } catch (const std::exception& e) {
          ADD_FAILURE() << "byte " << at << ": not an NpzError: " << e.what();
        }
      }
    }
  }
}

TEST(Npz, CorruptedDeflateStream) {
  Arrays arrays;
  arrays["W0"] = make_array(sample<float>(2000, 7), {40, 50});
  const TempPath whole("_whole.npz");
  npz::write(whole.str(), arrays, true);
  const std::string zip = file_contents(whole.str());
  const std::size_t start = first_member_data(zip);
  const std::size_t compressed = le32(zip, 18);
  ASSERT_GT(compressed, 1000u);
  const TempPath path;
  for (std::size_t at = start + compressed / 4; at < start + compressed * 3 / 4; at += compressed / 16) {
    std::string bad = zip;
    bad[at] = static_cast<char>(bad[at] ^ 0x5a);
    write_file(path.str(), bad);
    EXPECT_READ_ERROR(path.str(), "member 'W0.npy': cannot read") << "byte " << at;
  }
}

TEST(Npz, CorruptedStoredMember) {
  const TempPath path;
  npz::write(path.str(), model_arrays(), false);
  std::string zip = file_contents(path.str());
  const std::size_t last = first_member_data(zip) + le32(zip, 18) - 1;  // W0.npy's last data byte
  zip[last] = static_cast<char>(zip[last] ^ 1);
  write_file(path.str(), zip);
  EXPECT_READ_ERROR(path.str(), "member 'W0.npy': cannot read: CRC error");
}

TEST(Npz, NonNpyMember) {
  const std::string image = npy_image(make_array(std::vector<float>{1}, {1}));
  const TempPath path;
  write_zip(path.str(), {{"W0.npy", image}, {"notes.txt", "hello"}});
  EXPECT_READ_ERROR(path.str(), "member 'notes.txt': not a .npy array");
  write_zip(path.str(), {{"dir/", ""}});
  EXPECT_READ_ERROR(path.str(), "member 'dir/'");
}

TEST(Npz, MalformedNpyMember) {
  const TempPath path;
  write_zip(path.str(), {{"W0.npy", "hello"}}, ZIP_CM_DEFLATE);
  EXPECT_READ_ERROR(path.str(), "member 'W0.npy': not a .npy file");
  std::string image = npy_image(make_array(std::vector<float>{1, 2}, {2}));
  image.replace(image.find("<f4"), 3, "<i4");
  write_zip(path.str(), {{"b0.npy", image}});
  EXPECT_READ_ERROR(path.str(), "member 'b0.npy': unsupported dtype '<i4'");
  image = npy_image(make_array(std::vector<float>{1, 2}, {2}));
  image.pop_back();
  write_zip(path.str(), {{"b0.npy", image}});
  EXPECT_READ_ERROR(path.str(), "member 'b0.npy': truncated data");
}

TEST(Npz, DuplicateNames) {
  const std::string image = npy_image(make_array(std::vector<float>{1}, {1}));
  const TempPath path;
  write_zip(path.str(), {{"W0.npy", image}, {"W1.npy", image}});
  std::string zip = file_contents(path.str());
  for (std::size_t at; (at = zip.find("W1.npy")) != std::string::npos;) zip.replace(at, 6, "W0.npy");
  write_file(path.str(), zip);
  EXPECT_READ_ERROR(path.str(), "same name");
}

// Sizes patched in both the local header and the central directory, so that only the claim is
// wrong: it must be refused before anything is allocated or read.
TEST(Npz, ImplausibleDeclaredSize) {
  for (const bool compress : {false, true}) {
    const TempPath path;
    npz::write(path.str(), {{"W0", make_array(std::vector<float>(64, 1), {64})}}, compress);
    std::string zip = file_contents(path.str());
    const std::size_t central = zip.find(std::string("PK\x01\x02", 4));
    ASSERT_NE(central, std::string::npos);
    ASSERT_EQ(le32(zip, 22), le32(zip, central + 24));
    put_le32(zip, 22, 0xfffffff0u);
    put_le32(zip, central + 24, 0xfffffff0u);
    write_file(path.str(), zip);
    EXPECT_READ_ERROR(path.str(), "member 'W0.npy': declared size 4294967280 bytes cannot come from");
  }
}

// ---- Writing -----------------------------------------------------------------------------------

TEST(Npz, WriteErrors) {
  const TempPath path;
  const std::string missing_dir = path.str() + "_no_such_dir/model.npz";
  EXPECT_TRUE(one_line_error(error_of([&] { npz::write(missing_dir, model_arrays(), true); }), missing_dir));

  Arrays bad = model_arrays();
  bad["b1"].shape = {3};  // two values
  EXPECT_TRUE(one_line_error(error_of([&] { npz::write(path.str(), bad, true); }), path.str(),
                             "array 'b1': shape (3,) does not match the 2 elements of the array"));
  EXPECT_TRUE(files_starting_with(path.str()).empty());  // neither the archive nor temporary files

  Arrays nul;
  nul[std::string("a\0b", 3)] = make_array(std::vector<float>{1}, {1});
  EXPECT_TRUE(one_line_error(error_of([&] { npz::write(path.str(), nul, false); }), path.str(), "NUL"));
}
