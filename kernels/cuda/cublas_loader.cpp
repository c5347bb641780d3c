#include "kernels/cuda/cublas_loader.h"

#include <dlfcn.h>

#include <mutex>
#include <string>
#include <type_traits>
#include <stdexcept>

namespace driftlab::cuda {
namespace {

#define DRIFTLAB_STR2(x) #x
#define DRIFTLAB_STR(x) DRIFTLAB_STR2(x)
constexpr const char* kLibrary = "libcublas.so." DRIFTLAB_STR(CUBLAS_VER_MAJOR);

struct Loaded {
  CublasApi api{};
  bool ok = false;
  std::string error;
};

std::string first_line(const char* s) {
  std::string out = s ? s : "unknown error";
  if (const auto nl = out.find('\n'); nl != std::string::npos) out.resize(nl);
  return out;
}

const Loaded& loaded() {
  static Loaded l;
  static std::once_flag once;
  std::call_once(once, [] {
    // Never closed: the handles made from it live until the process ends.
    void* lib = ::dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      l.error = std::string("cuBLAS (the cublas baseline) cannot be loaded: ") + first_line(::dlerror());
      return;
    }
    bool all = true;
    const auto find = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(lib, name));
      if (!fn && all) {
        all = false;
        l.error = std::string("cuBLAS: ") + kLibrary + " has no " + name + " (a different cuBLAS than driftlab was built with?)";
      }
    };
    find(l.api.create, "cublasCreate_v2");
    find(l.api.destroy, "cublasDestroy_v2");
    find(l.api.set_stream, "cublasSetStream_v2");
    find(l.api.set_math_mode, "cublasSetMathMode");
    find(l.api.sgemm, "cublasSgemm_v2");
    find(l.api.gemm_ex, "cublasGemmEx");
    l.ok = all;
  });
  return l;
}

}  // namespace

const char* cublas_library() { return kLibrary; }
const CublasApi* cublas_api() { return loaded().ok ? &loaded().api : nullptr; }
std::string cublas_load_error() { return loaded().error; }

CublasHandle::CublasHandle() {
  const CublasApi* api = cublas_api();
  if (!api) throw std::runtime_error(cublas_load_error());
  const cublasStatus_t st = api->create(&handle_);
  if (st != CUBLAS_STATUS_SUCCESS) {
    handle_ = nullptr;
    throw std::runtime_error("cublasCreate failed (status " + std::to_string(static_cast<int>(st)) + ")");
  }
}

CublasHandle::~CublasHandle() {
  if (handle_) cublas_api()->destroy(handle_);
}

}  // namespace driftlab::cuda
