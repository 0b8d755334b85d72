// typenet/backend/cuda/cuda.cuh - the CUDA backend object and its operation set.
//
// Cuda owns one CUDA stream, one cuBLAS and one cuDNN handle bound to it, and
// the cache of convolution plans; copies of a Cuda share them (shared_ptr),
// so a Model's backend and the caller's are the same stream. Every op of the
// Backend concept is enqueued on that stream and returns at once; the host
// waits only in synchronize(), read_accumulator() and all_finite().
//
// The stream is a *blocking* stream: CudaDevice's copies run on the legacy
// default stream, which orders them against it (see device.cuh).
//
// Header-only, compiled by nvcc: matrix products go to cuBLAS, convolutions
// to cuDNN, everything else to typenet's kernels in the op headers below.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../../core/backend.hpp"
#include "../../core/conv_geometry.hpp"
#include "check.cuh"
#include "conv_plan.cuh"
#include "device.cuh"

namespace typenet {

/// Settings of a Cuda backend. TF32 rounds the inputs of float matrix
/// products and convolutions to 10-bit mantissas on tensor cores (Ampere and
/// later): several times faster, about 1e-3 relative error; off by default.
struct CudaOptions {
    int device = 0;
    bool tf32 = false;
};

namespace cuda_detail {

struct State {
    int device = 0;
    bool tf32 = false;
    cudaStream_t stream = nullptr;
    cublasHandle_t blas = nullptr;
    cudnnHandle_t dnn = nullptr;
    int* flag = nullptr;  // one device int for all_finite
    std::vector<std::unique_ptr<ConvPlan>> plans;
    std::vector<std::pair<Conv2dGeometry, std::size_t>> reserved;  // conv2d_workspace's answers, in values

    State() = default;
    State(const State&) = delete;
    State& operator=(const State&) = delete;
    ~State() {
        // Teardown errors are ignored: nothing useful can be done in a destructor.
        if (stream) cudaStreamSynchronize(stream);
        plans.clear();
        if (flag) cudaFree(flag);
        if (dnn) cudnnDestroy(dnn);
        if (blas) cublasDestroy(blas);
        if (stream) cudaStreamDestroy(stream);
        (void)cudaGetLastError();
    }
};

}  // namespace cuda_detail

/// The CUDA backend. `Cuda{}` uses device 0; without a usable GPU it throws
/// BackendError at construction, saying why.
class Cuda {
public:
    using device = CudaDevice;
    static constexpr const char* name = "cuda";

    explicit Cuda(CudaOptions o = {}) : s_(std::make_shared<cuda_detail::State>()) {
        const std::string why = unavailable_reason();
        if (!why.empty())
            throw BackendError("typenet::Cuda: no CUDA device: " + why +
                               "; run on a machine with an NVIDIA GPU and its driver, or use tn::Cpu");
        int count = 0;
        TYPENET_CUDA_CHECK(cudaGetDeviceCount(&count));
        detail::require<BackendError>(o.device >= 0 && o.device < count,
                                      "typenet::Cuda: device " + std::to_string(o.device) + " does not exist (" +
                                          std::to_string(count) + " CUDA device(s), numbered from 0)");
        s_->device = o.device;
        TYPENET_CUDA_CHECK(cudaSetDevice(o.device));
        TYPENET_CUDA_CHECK(cudaStreamCreateWithFlags(&s_->stream, cudaStreamDefault));
        TYPENET_CUBLAS_CHECK(cublasCreate(&s_->blas));
        TYPENET_CUBLAS_CHECK(cublasSetStream(s_->blas, s_->stream));
        TYPENET_CUDNN_CHECK(cudnnCreate(&s_->dnn));
        TYPENET_CUDNN_CHECK(cudnnSetStream(s_->dnn, s_->stream));
        TYPENET_CUDA_CHECK(cudaMalloc(&s_->flag, sizeof(int)));
        set_tf32(o.tf32);
    }

    /// Why no CUDA device can be used ("" when one can): the CUDA runtime's
    /// error (no driver, no device) or a device count of 0. Never throws.
    static std::string unavailable_reason() {
        int count = 0;
        const cudaError_t e = cudaGetDeviceCount(&count);
        if (e != cudaSuccess) {
            (void)cudaGetLastError();
            return std::string("cudaGetDeviceCount failed with ") + cudaGetErrorName(e) + " (" +
                   cudaGetErrorString(e) + ")";
        }
        if (count == 0) return "cudaGetDeviceCount reports 0 devices";
        return {};
    }

    int device_id() const { return s_->device; }
    /// "NVIDIA H100 80GB HBM3 (sm_90)", for logs and benchmark records.
    std::string device_name() const {
        cudaDeviceProp p{};
        TYPENET_CUDA_CHECK(cudaGetDeviceProperties(&p, s_->device));
        return std::string(p.name) + " (sm_" + std::to_string(p.major) + std::to_string(p.minor) + ")";
    }
    cudaStream_t stream() const { return s_->stream; }
    cublasHandle_t cublas() const { return s_->blas; }
    cudnnHandle_t cudnn() const { return s_->dnn; }

    bool tf32() const { return s_->tf32; }
    /// Turns TF32 tensor-core math on or off for later matrix products and
    /// for convolution plans made afterwards (plans are cached per setting).
    void set_tf32(bool on) {
        s_->tf32 = on;
        TYPENET_CUBLAS_CHECK(cublasSetMathMode(s_->blas, on ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    }

    /// Waits for every op enqueued so far.
    void synchronize() const { TYPENET_CUDA_CHECK(cudaStreamSynchronize(s_->stream)); }

    cuda_detail::State& state() const { return *s_; }

private:
    std::shared_ptr<cuda_detail::State> s_;
};

}  // namespace typenet

#include "augment.cuh"
#include "batch.cuh"
#include "batchnorm.cuh"
#include "conv.cuh"
#include "dropout.cuh"
#include "elementwise.cuh"
#include "gemm.cuh"
#include "losses.cuh"
#include "optimizers.cuh"
#include "pool.cuh"

static_assert(typenet::Backend<typenet::Cuda>,
              "typenet::Cuda must provide every op of the Backend concept (core/backend.hpp)");
static_assert(typenet::AugmentOps<typenet::Cuda>, "typenet::Cuda must provide augment_images (core/backend.hpp)");
