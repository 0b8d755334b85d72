// Parity of the CUDA backend's convolution (cuDNN) and pooling (typenet's
// kernels) with the CPU backend's. Convolutions agree within 1e-3 of the
// output scale: cuDNN may pick FFT or Winograd algorithms, whose round-off
// differs from im2col + GEMM. Pooling agrees exactly, argmax included.
#include "cuda_test.hpp"

#include <algorithm>

using cuda_test::device;
using cuda_test::expect_close;
using CudaConv = cuda_test::Gpu;  // tests that skip without a GPU
using cuda_test::gpu;
using cuda_test::uniform;

namespace {
const tn::Cpu cpu{1};
constexpr double kConv = 1e-3;

struct ConvCase {
    const char* name;
    tn::Conv2dGeometry g;
};
std::vector<ConvCase> conv_cases(std::size_t n) {
    using tn::make_conv2d_geometry;
    using P = tn::Padding;
    return {
        {"reference layer 1: 1x28x28, 32 3x3 filters", make_conv2d_geometry(n, 1, 28, 28, 32, 3, 3, 1, 1, P::valid)},
        {"reference layer 2: 32x13x13, 64 3x3 filters", make_conv2d_geometry(n, 32, 13, 13, 64, 3, 3, 1, 1, P::valid)},
        {"same padding, stride 1 (symmetric)", make_conv2d_geometry(n, 3, 7, 5, 4, 3, 3, 1, 1, P::same)},
        {"same padding, stride 2, even input (one more zero bottom/right)",
         make_conv2d_geometry(n, 2, 6, 8, 5, 3, 3, 2, 2, P::same)},
        {"same padding, 2x2 kernel (odd total padding)", make_conv2d_geometry(n, 2, 5, 5, 3, 2, 2, 1, 1, P::same)},
        {"rectangular 3x2 kernel, strides 2x1", make_conv2d_geometry(n, 2, 9, 6, 4, 3, 2, 2, 1, P::valid)},
        {"1x1 kernel", make_conv2d_geometry(n, 8, 4, 4, 6, 1, 1, 1, 1, P::valid)},
        {"valid stride 3 leaving trailing rows unread", make_conv2d_geometry(n, 1, 11, 10, 2, 3, 3, 3, 3, P::valid)},
    };
}

// Runs forward, backward-data and backward-filter on both backends for g;
// the GPU workspace is sized for `planned` (a larger batch, or g itself).
void expect_conv_parity(const tn::Conv2dGeometry& g, const tn::Conv2dGeometry& planned) {
    const auto x = uniform(g.input_size(), 1), w = uniform(g.weight_size(), 2), bias = uniform(g.c_out, 3);
    const auto dy = uniform(g.output_size(), 4);
    std::vector<float> y(g.output_size()), dx(g.input_size(), 9.0f), dw(g.weight_size(), 9.0f), db(g.c_out, 9.0f);
    std::vector<float> ws(tn::conv2d_workspace(cpu, g) + 1);
    tn::Tensor<float, tn::CudaDevice> gws(tn::Dims{tn::conv2d_workspace(gpu(), planned) + 1});
    auto gx = device(x), gw = device(w), gbias = device(bias), gdy = device(dy), gy = device(y), gdx = device(dx),
         gdw = device(dw), gdb = device(db);

    tn::conv2d_forward(cpu, g, x.data(), w.data(), bias.data(), y.data(), ws.data());
    tn::conv2d_forward(gpu(), g, gx.data(), gw.data(), gbias.data(), gy.data(), gws.data());
    expect_close("y", y, gy.to_host(), kConv);
    tn::conv2d_backward_data(cpu, g, dy.data(), w.data(), dx.data(), ws.data());
    tn::conv2d_backward_data(gpu(), g, gdy.data(), gw.data(), gdx.data(), gws.data());
    expect_close("dx", dx, gdx.to_host(), kConv);
    tn::conv2d_backward_filter(cpu, g, x.data(), dy.data(), dw.data(), db.data(), ws.data());
    tn::conv2d_backward_filter(gpu(), g, gx.data(), gdy.data(), gdw.data(), gdb.data(), gws.data());
    expect_close("dw", dw, gdw.to_host(), kConv);
    expect_close("db", db, gdb.to_host(), 1e-5);
    // Without bias and without db.
    tn::conv2d_forward(cpu, g, x.data(), w.data(), static_cast<const float*>(nullptr), y.data(), ws.data());
    tn::conv2d_forward(gpu(), g, gx.data(), gw.data(), static_cast<const float*>(nullptr), gy.data(), gws.data());
    expect_close("y without bias", y, gy.to_host(), kConv);
    // With the ReLU that Model fuses in.
    tn::conv2d_forward(cpu, g, x.data(), w.data(), bias.data(), y.data(), ws.data(), true);
    tn::conv2d_forward(gpu(), g, gx.data(), gw.data(), gbias.data(), gy.data(), gws.data(), true);
    expect_close("y with relu", y, gy.to_host(), kConv);
    EXPECT_TRUE(std::all_of(y.begin(), y.end(), [](float v) { return v >= 0.0f; }));
    tn::conv2d_backward_filter(gpu(), g, gx.data(), gdy.data(), gdw.data(), static_cast<float*>(nullptr), gws.data());
    expect_close("dw without db", dw, gdw.to_host(), kConv);
}
}  // namespace

TEST_F(CudaConv, ConvolutionMatchesTheCpuForEveryGeometry) {
    for (const auto& c : conv_cases(4)) {
        SCOPED_TRACE(c.name);
        expect_conv_parity(c.g, c.g);
    }
}

TEST_F(CudaConv, ASmallerBatchUsesTheWorkspacePlannedForTheLargerOne) {
    // As in fit: reserve() plans the capacity, the last batch is smaller.
    for (const auto& c : conv_cases(3)) {
        SCOPED_TRACE(c.name);
        tn::Conv2dGeometry planned = c.g;
        planned.n = 64;
        expect_conv_parity(c.g, planned);
    }
}

TEST_F(CudaConv, ConvolutionInTf32StaysWithinTf32Rounding) {
    tn::Cuda be{{.tf32 = true}};
    const auto g = conv_cases(16)[1].g;
    const auto x = uniform(g.input_size(), 5), w = uniform(g.weight_size(), 6);
    std::vector<float> y(g.output_size()), ws(tn::conv2d_workspace(cpu, g) + 1);
    tn::Tensor<float, tn::CudaDevice> gws(tn::Dims{tn::conv2d_workspace(be, g) + 1});
    auto gx = device(x), gw = device(w), gy = device(y);
    tn::conv2d_forward(cpu, g, x.data(), w.data(), static_cast<const float*>(nullptr), y.data(), ws.data());
    tn::conv2d_forward(be, g, gx.data(), gw.data(), static_cast<const float*>(nullptr), gy.data(), gws.data());
    expect_close("y (TF32)", y, gy.to_host(), 5e-3);
}

namespace {
void expect_pool_parity(const tn::Pool2dGeometry& g, bool ties) {
    auto x = uniform(g.input_size(), 7, -2.0, 2.0);
    if (ties)
        for (auto& v : x) v = std::round(v);  // many equal maxima: the first must win on both
    const auto dy = uniform(g.output_size(), 8);
    std::vector<float> y(g.output_size()), dx(g.input_size(), 5.0f);
    std::vector<std::int32_t> arg(g.output_size());
    auto gx = device(x), gdy = device(dy), gy = device(y), gdx = device(dx);
    auto garg = device(arg);
    tn::maxpool2d_forward(cpu, g, x.data(), y.data(), arg.data());
    tn::maxpool2d_forward(gpu(), g, gx.data(), gy.data(), garg.data());
    EXPECT_EQ(gy.to_host(), y);
    EXPECT_EQ(garg.to_host(), arg);
    tn::maxpool2d_backward(cpu, g, dy.data(), arg.data(), dx.data());
    tn::maxpool2d_backward(gpu(), g, gdy.data(), garg.data(), gdx.data());
    EXPECT_EQ(gdx.to_host(), dx);
    // With a ReLU's backward folded in (x as the ReLU's output, y given).
    tn::maxpool2d_backward(cpu, g, dy.data(), arg.data(), dx.data(), y.data());
    tn::maxpool2d_backward(gpu(), g, gdy.data(), garg.data(), gdx.data(), gy.data());
    EXPECT_EQ(gdx.to_host(), dx);
    tn::avgpool2d_forward(cpu, g, x.data(), y.data());
    tn::avgpool2d_forward(gpu(), g, gx.data(), gy.data());
    EXPECT_EQ(gy.to_host(), y);
    tn::avgpool2d_backward(cpu, g, dy.data(), dx.data());
    tn::avgpool2d_backward(gpu(), g, gdy.data(), gdx.data());
    EXPECT_EQ(gdx.to_host(), dx);
}
}  // namespace

TEST_F(CudaConv, PoolingMatchesTheCpuExactlyIncludingTiesAndOverlaps) {
    using tn::make_pool2d_geometry;
    struct Case { const char* name; tn::Pool2dGeometry g; };
    for (const Case& c : {Case{"2x2 stride 2 (the reference CNN)", make_pool2d_geometry(8, 32, 26, 26, 2, 2, 2, 2)},
                         Case{"2x2 stride 2, odd input", make_pool2d_geometry(3, 4, 11, 11, 2, 2, 2, 2)},
                         Case{"3x3 stride 2 (overlapping)", make_pool2d_geometry(2, 3, 7, 9, 3, 3, 2, 2)},
                         Case{"3x2 window, strides 1x2", make_pool2d_geometry(2, 2, 6, 7, 3, 2, 1, 2)},
                         Case{"global 5x4", make_pool2d_geometry(4, 6, 5, 4, 5, 4, 5, 4)}})
        for (bool ties : {false, true}) {
            SCOPED_TRACE(std::string(c.name) + (ties ? ", with ties" : ""));
            expect_pool_parity(c.g, ties);
        }
}
