// Split-KV attention decode on CUDA: split_count, atomic, fixed_split and single (kernels in
// attention.cu).  Host-callable from plain C++.  Order: kernels/common/attention_order.h;
// fixed_split and single return bitwise the CPU twin's result (kernels/cpu/attention.cpp).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

#include "kernels/common/attention_order.h"
#include "kernels/common/attention_variant.h"

namespace driftlab::cuda {

// Device views of one decode step (layout: attention_order.h).
struct AttentionDeviceArgs {
  const float* d_q = nullptr;
  const float* d_K = nullptr;
  const float* d_V = nullptr;
  const unsigned long long* d_kv_len = nullptr;  // [B], each >= 1
  const unsigned long long* d_kv_off = nullptr;  // [B], token offset of each sequence
  std::size_t B = 0, H = 0, d = 0;
  std::size_t chunk = 0;       // C for the batch (0: single, each sequence its own length)
  std::size_t max_chunks = 1;  // the largest n_b in the batch
};

// Scratch bytes `attention` needs (partials, atomic's L).  Query outside the timed region.
std::size_t attention_temp_bytes(AttentionVariant v, std::size_t B, std::size_t H, std::size_t d, std::size_t max_chunks);

// d_out [B][H][d], asynchronously on `stream`.
cudaError_t attention(AttentionVariant v, const AttentionDeviceArgs& a, float* d_out, void* d_temp, std::size_t temp_bytes,
                      cudaStream_t stream);

}  // namespace driftlab::cuda
