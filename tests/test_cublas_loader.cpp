// cuBLAS loaded on first use (kernels/cuda/cublas_loader.h): the library is found and every function
// driftlab calls is in it; a handle on a machine without a GPU is one exception, not a crash.
#include <gtest/gtest.h>

#include <fstream>
#include <stdexcept>
#include <string>

#include "host/backends/gpu.h"
#include "kernels/cuda/cublas_loader.h"

namespace driftlab {
namespace {

bool mapped(const std::string& name) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line))
    if (line.find(name) != std::string::npos) return true;
  return false;
}

TEST(CublasLoader, FindsTheLibraryAndEveryFunction) {
  EXPECT_EQ(std::string(cuda::cublas_library()), "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR));
  const cuda::CublasApi* api = cuda::cublas_api();
  ASSERT_NE(api, nullptr) << cuda::cublas_load_error();
  EXPECT_TRUE(api->create && api->destroy && api->set_stream && api->set_math_mode && api->sgemm && api->gemm_ex);
  EXPECT_TRUE(mapped(cuda::cublas_library()));
  EXPECT_EQ(cuda::cublas_api(), api);  // loaded once
}

TEST(CublasLoader, AHandleWithoutAGpuIsOneLineNotACrash) {
  if (gpu_status().usable) {
    const cuda::CublasHandle h;
    EXPECT_NE(h.get(), nullptr);
    return;
  }
  try {
    const cuda::CublasHandle h;
    ADD_FAILURE() << "a cuBLAS handle without a usable GPU";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("cublasCreate failed"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace driftlab
