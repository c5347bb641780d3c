// cuBLAS, loaded when first used: dlopen of libcublas.so.<major> (and, through it, the 540 MB
// libcublasLt), not linked.  Linked, the loader mapped both into every driftlab process before
// main: 226 MB resident for `driftlab --help`, for each predict child and MPI rank, and under
// `ulimit -v` of 600-745 MB every command died before main (a loader error, exit 127, or cuBLAS's
// constructor crashed).  Now only the vendor baseline (`cublas`) on a GPU needs the library, and its
// absence there is one line naming it.
//
// Only the functions driftlab calls are looked up; the names are the ones cublas_v2.h maps to.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <string>

namespace driftlab::cuda {

struct CublasApi {
  decltype(&cublasCreate_v2) create;
  decltype(&cublasDestroy_v2) destroy;
  decltype(&cublasSetStream_v2) set_stream;
  decltype(&cublasSetMathMode) set_math_mode;
  decltype(&cublasSgemm_v2) sgemm;
  // cublasGemmEx has a C++ overload in cublas_api.h (a cudaDataType compute type): the C one is named.
  cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*,
                            const void*, cudaDataType, int, const void*, cudaDataType, int, const void*, void*,
                            cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);
};

// The library's file name: "libcublas.so.13" for the toolkit driftlab was built with.
const char* cublas_library();
// The functions, loaded on the first call (thread-safe, once per process); nullptr when the library
// or one of its functions cannot be loaded, and then cublas_load_error() says why in one line.
const CublasApi* cublas_api();
std::string cublas_load_error();

// A cuBLAS handle: made with the loaded cublasCreate, destroyed with the handle.  Throws
// std::runtime_error with one line when the library cannot be loaded or cublasCreate fails.
class CublasHandle {
 public:
  CublasHandle();
  ~CublasHandle();
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;
  cublasHandle_t get() const { return handle_; }

 private:
  cublasHandle_t handle_{};
};

}  // namespace driftlab::cuda
