// The result file of one MPI execution: what rank 0 hands back to the launching process.
#include <cstring>
#include <stdexcept>

#include "host/distributed/allreduce_mpi.h"
#include "host/distributed/result_bytes.h"

namespace driftlab::allreduce {

namespace {
constexpr char kMagic[8] = {'D', 'L', 'A', 'R', '1', '\n', 0, 0};
using result_bytes::put;
}  // namespace

std::string encode_worker_file(const WorkerFile& f) {
  std::string s(kMagic, sizeof kMagic);
  put<std::uint64_t>(s, f.ranks);
  put<std::uint64_t>(s, f.n);
  put<std::uint64_t>(s, f.results.size());
  for (const auto& r : f.results) {
    put<std::uint32_t>(s, static_cast<std::uint32_t>(r.variant));
    put<std::uint64_t>(s, r.runs_non_equal);
    put<double>(s, r.median_ms);
    put<std::uint64_t>(s, r.payload_bytes);
    s.append(reinterpret_cast<const char*>(r.out.data()), r.out.size() * sizeof(float));
  }
  return s;
}

WorkerFile decode_worker_file(const std::string& bytes) {
  result_bytes::Reader rd{bytes, "allreduce"};
  char magic[sizeof kMagic];
  rd.take(magic, sizeof magic);
  if (std::memcmp(magic, kMagic, sizeof kMagic) != 0) throw std::runtime_error("allreduce: not an MPI result file");
  WorkerFile f;
  f.ranks = rd.get<std::uint64_t>();
  f.n = rd.get<std::uint64_t>();
  const auto count = rd.get<std::uint64_t>();
  if (count > std::size(kVariants)) throw std::runtime_error("allreduce: bad MPI result file");
  for (std::uint64_t k = 0; k < count; ++k) {
    WorkerResult r;
    const auto v = rd.get<std::uint32_t>();
    if (v >= std::size(kVariants)) throw std::runtime_error("allreduce: bad variant in the MPI result file");
    r.variant = static_cast<Variant>(v);
    r.runs_non_equal = rd.get<std::uint64_t>();
    r.median_ms = rd.get<double>();
    r.payload_bytes = rd.get<std::uint64_t>();
    if (f.n > (bytes.size() - rd.pos) / sizeof(float)) throw std::runtime_error("allreduce: the MPI result file is truncated");
    r.out.resize(f.n);
    rd.take(r.out.data(), f.n * sizeof(float));
    f.results.push_back(std::move(r));
  }
  if (rd.pos != bytes.size()) throw std::runtime_error("allreduce: trailing bytes in the MPI result file");
  return f;
}

}  // namespace driftlab::allreduce
