// Error paths of the CUDA backend. The first three tests run on any machine:
// without a GPU, Cuda{} (and a Model on it) must throw a BackendError that
// says so and names the fix; the check macros must name the call, file, line
// and the library's error string. The rest need a GPU.
#include "cuda_test.hpp"

#include <type_traits>

using CudaErrorsOnGpu = cuda_test::Gpu;  // tests that skip without a GPU

namespace {
using Net = tn::Sequential<tn::Input<4>, tn::Dense<3>>;

template <class F>
std::string message_of(F&& f) {
    try {
        f();
    } catch (const tn::BackendError& e) {
        return e.what();
    }
    return "(nothing thrown)";
}
}  // namespace

static_assert(tn::Backend<tn::Cuda>);
static_assert(std::is_copy_constructible_v<tn::Cuda>, "copies of a Cuda share its stream and handles");

TEST(CudaErrors, WithoutAGpuConstructionThrowsAndSaysWhatToUse) {
    const std::string why = tn::Cuda::unavailable_reason();
    if (why.empty()) GTEST_SKIP() << "a CUDA device is present; this test covers machines without one";
    const std::string m = message_of([] { tn::Cuda be; });
    EXPECT_NE(m.find("typenet::Cuda: no CUDA device: "), std::string::npos) << m;
    EXPECT_NE(m.find(why), std::string::npos) << m;
    EXPECT_NE(m.find("use tn::Cpu"), std::string::npos) << m;
    // At model construction too, which is where a user meets it.
    const std::string mm = message_of([] { tn::Model<Net, tn::Cuda> model{1}; });
    EXPECT_EQ(mm, m);
}

TEST(CudaErrors, CheckMacrosNameTheCallFileLineAndLibraryError) {
    const int line = __LINE__ + 1;
    const std::string cuda = message_of([] { TYPENET_CUDA_CHECK(cudaErrorMemoryAllocation); });
    EXPECT_NE(cuda.find("CUDA call cudaErrorMemoryAllocation"), std::string::npos) << cuda;
    EXPECT_NE(cuda.find("test_cuda_errors.cu:" + std::to_string(line)), std::string::npos) << cuda;
    EXPECT_NE(cuda.find(cudaGetErrorString(cudaErrorMemoryAllocation)), std::string::npos) << cuda;

    const std::string blas = message_of([] { TYPENET_CUBLAS_CHECK(CUBLAS_STATUS_NOT_INITIALIZED); });
    EXPECT_NE(blas.find("cuBLAS call CUBLAS_STATUS_NOT_INITIALIZED"), std::string::npos) << blas;
    EXPECT_NE(blas.find(cublasGetStatusString(CUBLAS_STATUS_NOT_INITIALIZED)), std::string::npos) << blas;

    const std::string dnn = message_of([] { TYPENET_CUDNN_CHECK(CUDNN_STATUS_BAD_PARAM); });
    EXPECT_NE(dnn.find("cuDNN call CUDNN_STATUS_BAD_PARAM"), std::string::npos) << dnn;
    EXPECT_NE(dnn.find(cudnnGetErrorString(CUDNN_STATUS_BAD_PARAM)), std::string::npos) << dnn;
}

TEST(CudaErrors, SuccessIsSilent) {
    EXPECT_NO_THROW(TYPENET_CUDA_CHECK(cudaSuccess));
    EXPECT_NO_THROW(TYPENET_CUBLAS_CHECK(CUBLAS_STATUS_SUCCESS));
    EXPECT_NO_THROW(TYPENET_CUDNN_CHECK(CUDNN_STATUS_SUCCESS));
}

TEST_F(CudaErrorsOnGpu, FailedAllocationSaysHowMuchWasAskedAndWhatIsFree) {
    const std::size_t huge = std::size_t{1} << 50;  // 1 PiB
    const std::string m = message_of([&] { tn::CudaDevice::allocate(huge); });
    EXPECT_NE(m.find("cudaMalloc of " + std::to_string(huge) + " bytes"), std::string::npos) << m;
    EXPECT_NE(m.find("free of"), std::string::npos) << m;
    EXPECT_NE(m.find("reduce the batch size"), std::string::npos) << m;
    // The backend still works afterwards: the error was not left behind.
    tn::Tensor<float, tn::CudaDevice> t(tn::Dims{16});
    EXPECT_NO_THROW(copy_values(cuda_test::gpu(), 16, t.data(), t.data()));
    EXPECT_NO_THROW(cuda_test::gpu().synchronize());
}

TEST_F(CudaErrorsOnGpu, AMissingDeviceIndexIsNamed) {
    int count = 0;
    ASSERT_EQ(cudaGetDeviceCount(&count), cudaSuccess);
    const std::string m = message_of([&] { tn::Cuda be{{.device = count}}; });
    EXPECT_NE(m.find("device " + std::to_string(count) + " does not exist"), std::string::npos) << m;
}

TEST_F(CudaErrorsOnGpu, DescribesItsDevice) {
    const std::string name = cuda_test::gpu().device_name();
    EXPECT_NE(name.find("(sm_"), std::string::npos) << name;
    std::cout << "CUDA device: " << name << "\n";
}

TEST_F(CudaErrorsOnGpu, CopiesShareTheStreamAndSettings) {
    tn::Cuda a;
    tn::Cuda b = a;
    EXPECT_EQ(a.stream(), b.stream());
    b.set_tf32(true);
    EXPECT_TRUE(a.tf32());
}
