// Tests of the convolutional layers: gradient checks (stride, padding,
// rectangular kernels, pooling, dropout, batch norm), shapes and behaviour.
#include <typenet/backend/cpu/cpu.hpp>
#include <typenet/layers/activation.hpp>
#include <typenet/layers/batchnorm.hpp>
#include <typenet/layers/conv2d.hpp>
#include <typenet/layers/dense.hpp>
#include <typenet/layers/dropout.hpp>
#include <typenet/layers/flatten.hpp>
#include <typenet/layers/pool2d.hpp>
#include <typenet/model/model.hpp>
#include <typenet/testing/gradcheck.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <type_traits>
#include <utility>
#include <vector>

namespace tn = typenet;
namespace tt = typenet::testing;

// The reference articles' CNN (Keras default padding "valid").
using Cnn = tn::Sequential<tn::Input<1, 28, 28>,                        //
                           tn::Conv2D<32, 3>, tn::ReLU, tn::MaxPool2D<2>,  //
                           tn::Conv2D<64, 3>, tn::ReLU, tn::MaxPool2D<2>,  //
                           tn::Conv2D<64, 3>, tn::ReLU,                    //
                           tn::Flatten, tn::Dense<70>, tn::ReLU, tn::Dense<10>>;
static_assert(Cnn::parameter_count == 96'844);
static_assert(std::is_same_v<Cnn::layer<6>::output_shape, tn::Shape<64, 3, 3>>);
static_assert(std::is_same_v<Cnn::layer<8>::output_shape, tn::Shape<576>>);

// Shape inference for the other options.
static_assert(std::is_same_v<tn::Conv2D<8, 3, 2, tn::Same>::bind<tn::Shape<3, 7, 7>>::output_shape, tn::Shape<8, 4, 4>>);
static_assert(std::is_same_v<tn::Conv2D<8, 3, 1, tn::Same>::bind<tn::Shape<3, 7, 5>>::output_shape, tn::Shape<8, 7, 5>>);
static_assert(std::is_same_v<tn::Conv2DRect<4, 3, 2>::bind<tn::Shape<1, 6, 5>>::output_shape, tn::Shape<4, 4, 4>>);
static_assert(std::is_same_v<tn::MaxPool2D<3, 2>::bind<tn::Shape<2, 7, 7>>::output_shape, tn::Shape<2, 3, 3>>);
static_assert(std::is_same_v<tn::GlobalAvgPool2D::bind<tn::Shape<5, 4, 3>>::output_shape, tn::Shape<5>>);
static_assert(tn::Conv2D<32, 3>::bind<tn::Shape<1, 28, 28>>::parameter_count == 320);
static_assert(tn::BatchNorm::bind<tn::Shape<6, 4, 4>>::parameter_count == 12);

namespace {
constexpr double kTol = 1e-6;
template <class Net>
void expect_network_gradients(tt::GradCheckOptions o = {}) {
    const auto r = tt::check_network_gradients<Net>(o);
    EXPECT_GT(r.checked, 0u);
    EXPECT_LT(r.max_error(), kTol) << r.worst;
}
template <class L, class S>
void expect_layer_gradients(tt::GradCheckOptions o = {}) {
    expect_network_gradients<tn::Sequential<typename tt::gc_detail::input_of<S>::type, L>>(o);
}
}  // namespace

TEST(GradCheck, Conv2DValid) { expect_layer_gradients<tn::Conv2D<3, 3>, tn::Shape<2, 6, 5>>(); }
TEST(GradCheck, Conv2DOneChannelOneFilter) { expect_layer_gradients<tn::Conv2D<1, 2>, tn::Shape<1, 4, 4>>(); }
TEST(GradCheck, Conv2DStride2) { expect_layer_gradients<tn::Conv2D<2, 3, 2>, tn::Shape<2, 7, 7>>(); }
TEST(GradCheck, Conv2DSame) { expect_layer_gradients<tn::Conv2D<2, 3, 1, tn::Same>, tn::Shape<2, 5, 4>>(); }
TEST(GradCheck, Conv2DSameStride2) { expect_layer_gradients<tn::Conv2D<2, 3, 2, tn::Same>, tn::Shape<1, 6, 5>>(); }
TEST(GradCheck, Conv2DRectangular) { expect_layer_gradients<tn::Conv2DRect<2, 3, 2>, tn::Shape<2, 5, 6>>(); }
TEST(GradCheck, MaxPool) { expect_layer_gradients<tn::MaxPool2D<2>, tn::Shape<2, 6, 5>>(); }
TEST(GradCheck, MaxPoolOverlapping) { expect_layer_gradients<tn::MaxPool2D<3, 2>, tn::Shape<2, 7, 7>>(); }
TEST(GradCheck, AvgPool) { expect_layer_gradients<tn::AvgPool2D<2>, tn::Shape<2, 4, 5>>(); }
TEST(GradCheck, AvgPoolOverlapping) { expect_layer_gradients<tn::AvgPool2D<3, 2>, tn::Shape<1, 7, 6>>(); }
TEST(GradCheck, GlobalAvgPool) { expect_layer_gradients<tn::GlobalAvgPool2D, tn::Shape<3, 4, 3>>(); }
TEST(GradCheck, Flatten) { expect_layer_gradients<tn::Flatten, tn::Shape<2, 3, 2>>(); }
TEST(GradCheck, Dropout) { expect_layer_gradients<tn::Dropout<0.4>, tn::Shape<3, 4>>(); }
TEST(GradCheck, BatchNorm2D) { expect_layer_gradients<tn::BatchNorm, tn::Shape<3, 3, 2>>({.batch = 4}); }
TEST(GradCheck, BatchNorm1D) { expect_layer_gradients<tn::BatchNorm, tn::Shape<5>>({.batch = 6}); }

TEST(GradCheck, SmallCnnEndToEnd) {
    using Net = tn::Sequential<tn::Input<1, 8, 8>, tn::Conv2D<3, 3>, tn::ReLU, tn::MaxPool2D<2>, tn::Conv2D<4, 2>,
                               tn::Tanh, tn::Flatten, tn::Dense<5>, tn::Sigmoid, tn::Dense<3>>;
    expect_network_gradients<Net>({.batch = 2, .max_checks = 150});
}

// The same network through the fused path (Conv2D + ReLU as one op, the
// default in training) on Same padding and strides (im2col in double).
TEST(GradCheck, FusedConvReluSameStride) {
    using Net = tn::Sequential<tn::Input<2, 7, 6>, tn::Conv2D<3, 3, 2, tn::Same>, tn::ReLU, tn::Conv2D<2, 2>, tn::ReLU,
                               tn::Flatten, tn::Dense<3>>;
    expect_network_gradients<Net>({.batch = 3, .max_checks = 150});
}

// Two Conv2D, ReLU, MaxPool2D blocks: in training the second runs its whole
// backward as one op from the pooling's gradient (conv2d_relu_maxpool_backward;
// double: the three ops), the first its backward-filter alone.
TEST(GradCheck, FusedConvReluPoolTwice) {
    using Net = tn::Sequential<tn::Input<2, 12, 11>, tn::Conv2D<3, 3>, tn::ReLU, tn::MaxPool2D<2>, tn::Conv2D<4, 2>,
                               tn::ReLU, tn::MaxPool2D<2>, tn::Flatten, tn::Dense<3>>;
    expect_network_gradients<Net>({.batch = 2, .max_checks = 150});
}

namespace {
// Fused and layer-by-layer training passes of one model (Conv2D or Dense + ReLU): outputs, input and
// parameter gradients must be bit-identical (a ReLU in the store is the same
// max(0, y) as a ReLU layer; one exception below). Float takes the direct kernels on AVX2 /
// AVX-512 (the isa_* ctest variants run this under each path); double, im2col.
// approx_params: the leading parameters that, with the input gradient, the
// float direct kernels give only up to rounding (a later Conv2D, ReLU,
// MaxPool2D with many taps runs its backward over the argmax positions).
template <class Net, class T>
void expect_fused_equals_unfused(std::size_t n, std::size_t approx_params = 0) {
    tn::Model<Net, tn::Cpu, T> m{5, tn::Cpu{2}};
    using M = decltype(m);
    tn::Rng rng(9);
    std::vector<T> x(n * M::input_size), dout(n * M::output_size), dx_fused(x.size()), dx_plain(x.size());
    for (auto& v : x) v = T(rng.uniform(-1.0, 1.0));
    for (auto& v : dout) v = T(rng.uniform(-1.0, 1.0));
    auto pass = [&](bool fuse, std::vector<T>& dx) {
        m.set_fusion(fuse);
        const T* y = m.forward(x.data(), n, true);
        std::vector<T> out(y, y + n * M::output_size);
        // With fusion, ReLU (layer 1) hands on Conv2D's (layer 0) buffer.
        EXPECT_EQ(m.layer_output(1).data == m.layer_output(0).data, fuse);
        m.backward(dout.data(), dx.data());
        return std::pair{out, m.gradients().to_host()};
    };
    const auto [y_fused, g_fused] = pass(true, dx_fused);
    // The Conv2D's output, which the fused pooling may not have stored, is
    // recomputed on request; a const Model cannot, and says so.
    m.set_fusion(true);
    m.forward(x.data(), n, true);
    const std::size_t conv_size = n * Net::template layer<0>::output_shape::size;
    constexpr bool pooled = tn::is_max_pool_layer<typename Net::template layer<2>>;  // Conv2D, ReLU, MaxPool2D
    if (pooled && std::is_same_v<T, float> && m.backend().isa() != tn::CpuIsa::portable) {  // direct: not stored
        EXPECT_THROW(std::as_const(m).layer_output(0), tn::ArgumentError);
        EXPECT_THROW(std::as_const(m).layer_output(1), tn::ArgumentError);  // the ReLU hands on that buffer
    }
    const auto conv_fused = m.layer_output(0);
    const std::vector<T> c_fused(conv_fused.data, conv_fused.data + conv_size);
    EXPECT_NO_THROW(std::as_const(m).layer_output(1));
    // Asking for the ReLU's output restores the same values.
    m.forward(x.data(), n, true);
    const auto relu_fused = m.layer_output(1);
    EXPECT_NO_THROW(std::as_const(m).layer_output(0));
    for (std::size_t i = 0; i < conv_size; ++i) ASSERT_EQ(relu_fused.data[i], c_fused[i]) << "ReLU output " << i;
    m.set_fusion(false);
    m.forward(x.data(), n, true);
    const auto relu_plain = m.layer_output(1);
    for (std::size_t i = 0; i < conv_size; ++i) ASSERT_EQ(c_fused[i], relu_plain.data[i]) << "conv output " << i;
    m.set_fusion(true);
    m.forward(x.data(), n, true);
    // backward_from layer 1 (a ReLU; with the next layer a MaxPool2D, it is
    // the one whose backward fusion folds into the pooling's): it must run.
    using L1 = typename Net::template layer<1>;
    std::vector<T> d1(n * L1::output_shape::size), dx1_fused(x.size()), dx1_plain(x.size());
    for (auto& v : d1) v = T(rng.uniform(-1.0, 1.0));
    m.backward_from(1, d1.data(), dx1_fused.data());
    const auto [y_plain, g_plain] = pass(false, dx_plain);
    m.backward_from(1, d1.data(), dx1_plain.data());
    for (std::size_t i = 0; i < x.size(); ++i) ASSERT_EQ(dx1_fused[i], dx1_plain[i]) << "backward_from(1) " << i;
    for (std::size_t i = 0; i < y_fused.size(); ++i) ASSERT_EQ(y_fused[i], y_plain[i]) << "output " << i;
    const bool direct = std::is_same_v<T, float> && m.backend().isa() != tn::CpuIsa::portable;
    const auto near = [](T got, T want) {
        return std::abs(double(got) - double(want)) <= 1e-4 * std::max(1.0, std::abs(double(want)));
    };
    for (std::size_t i = 0; i < dx_fused.size(); ++i)
        if (direct && approx_params > 0)
            ASSERT_PRED2(near, dx_fused[i], dx_plain[i]) << "input gradient " << i;
        else
            ASSERT_EQ(dx_fused[i], dx_plain[i]) << "input gradient " << i;
    for (std::size_t i = 0; i < M::parameter_count; ++i)
        if (direct && i < approx_params)
            ASSERT_PRED2(near, g_fused[i], g_plain[i]) << "parameter gradient " << i;
        else
            ASSERT_EQ(g_fused[i], g_plain[i]) << "parameter gradient " << i;
    // Without an input gradient (training's case) a first Conv2D, ReLU,
    // MaxPool2D runs its backward-filter from the pooling's gradient: the
    // same parameter gradients, from the output and from inside (layer 2).
    using L2 = typename Net::template layer<2>;
    std::vector<T> d2(n * L2::output_shape::size);
    for (auto& v : d2) v = T(rng.uniform(-1.0, 1.0));
    auto params_only = [&](bool fuse, std::size_t from, const T* d) {
        m.set_fusion(fuse);
        m.forward(x.data(), n, true);
        m.backward_from(from, d);
        return m.gradients().to_host();
    };
    // With at most 16 taps (float, direct kernels) that backward-filter sums
    // only each window's argmax position, in another order: the first
    // Conv2D's gradients are the same up to rounding there.
    using L0 = typename Net::template layer<0>;
    constexpr std::size_t taps = L0::parameter_count / tn::channels_of<typename L0::output_shape> - 1;
    const bool argmax_only = pooled && direct && taps <= 16;
    const std::size_t approx = direct ? std::max(approx_params, argmax_only ? L0::parameter_count : 0) : 0;
    const auto same_parameters = [&](const std::vector<T>& got, const std::vector<T>& want, const char* what) {
        for (std::size_t i = 0; i < M::parameter_count; ++i)
            if (i < approx)
                ASSERT_PRED2(near, got[i], want[i]) << what << " " << i;
            else
                ASSERT_EQ(got[i], want[i]) << what << " " << i;
    };
    same_parameters(params_only(true, M::layer_count - 1, dout.data()), g_plain, "parameter gradient without dx");
    same_parameters(params_only(true, 2, d2.data()), params_only(false, 2, d2.data()),
                    "backward_from(2) parameter gradient");
    // Inference never fuses: layer 0's output is the convolution's own (some negative).
    m.set_fusion(true);
    m.forward(x.data(), n, false);
    const auto conv = m.layer_output(0);
    std::vector<T> c(conv.data, conv.data + n * Net::template layer<0>::output_shape::size);
    EXPECT_TRUE(std::any_of(c.begin(), c.end(), [](T v) { return v < 0; }));
}
using FusionNet = tn::Sequential<tn::Input<3, 13, 11>, tn::Conv2D<17, 3>, tn::ReLU, tn::MaxPool2D<2>, tn::Conv2D<33, 3>,
                                 tn::ReLU, tn::Flatten, tn::Dense<7>>;
}  // namespace

TEST(Fusion, ConvReluFusedEqualsLayerByLayerFloat) {
    expect_fused_equals_unfused<FusionNet, float>(1);
    expect_fused_equals_unfused<FusionNet, float>(65);
}
TEST(Fusion, ConvReluFusedEqualsLayerByLayerDouble) { expect_fused_equals_unfused<FusionNet, double>(3); }
TEST(Fusion, ReferenceCnnFusedEqualsLayerByLayer) {
    // conv2 (layer 3: 288 taps, then ReLU and a 2x2 pooling) runs its backward over the argmax positions.
    expect_fused_equals_unfused<Cnn, float>(63, Cnn::layer<0>::parameter_count + Cnn::layer<3>::parameter_count);
}
TEST(Fusion, DenseReluFusedEqualsLayerByLayer) {
    using Mlp = tn::Sequential<tn::Input<784>, tn::Dense<512>, tn::ReLU, tn::Dense<10>>;
    expect_fused_equals_unfused<Mlp, float>(128);
    expect_fused_equals_unfused<Mlp, double>(5);
}

namespace {
// Model::infer, the inference forward through the fused ops: the same
// outputs as forward(x, n, false), bit for bit, with fusion on and off;
// afterwards the layer outputs are a fused training forward's (layer 0, a
// Conv2D with ReLU and MaxPool2D after it, shows the ReLU's output,
// recomputed on request). A training forward first moves BatchNorm's
// running statistics off their defaults.
template <class Net, class T>
void expect_infer_equals_unfused(std::size_t n) {
    tn::Model<Net, tn::Cpu, T> m{7, tn::Cpu{2}};
    using M = decltype(m);
    tn::Rng rng(11);
    std::vector<T> x(n * M::input_size);
    for (auto& v : x) v = T(rng.uniform(-1.0, 1.0));
    m.forward(x.data(), n, true);
    const auto copy = [&](std::size_t layer) {
        const auto v = m.layer_output(layer);
        return std::vector<T>(v.data, v.data + v.dims.size());
    };
    const T* y = m.forward(x.data(), n, false);
    const std::vector<T> out(y, y + n * M::output_size), conv = copy(0), relu = copy(1), pooled = copy(2);
    ASSERT_NE(conv, relu);  // some negative convolution outputs
    for (const bool fuse : {true, false}) {
        m.set_fusion(fuse);
        y = m.infer(x.data(), n);
        for (std::size_t i = 0; i < out.size(); ++i) ASSERT_EQ(y[i], out[i]) << "output " << i << " fusion " << fuse;
        ASSERT_EQ(copy(2), pooled) << "fusion " << fuse;
        ASSERT_EQ(copy(0), fuse ? relu : conv) << "fusion " << fuse;
        EXPECT_EQ(m.layer_output(1).data == m.layer_output(0).data, fuse);
    }
    m.set_fusion(true);
    EXPECT_THROW(m.infer(x.data(), 0), tn::ArgumentError);
}
using InferNet = tn::Sequential<tn::Input<3, 13, 11>, tn::Conv2D<17, 3>, tn::ReLU, tn::MaxPool2D<2>, tn::Conv2D<8, 3>,
                                tn::BatchNorm, tn::ReLU, tn::Dropout<0.5>, tn::Flatten, tn::Dense<16>, tn::ReLU,
                                tn::Dense<7>>;
}  // namespace

TEST(Fusion, InferEqualsUnfusedInference) {
    expect_infer_equals_unfused<Cnn, float>(1);
    expect_infer_equals_unfused<Cnn, float>(65);
    expect_infer_equals_unfused<InferNet, float>(3);
    expect_infer_equals_unfused<InferNet, double>(2);
}

TEST(MaxPool, TiesSendTheGradientToTheFirstMaximum) {
    using Net = tn::Sequential<tn::Input<1, 4, 4>, tn::MaxPool2D<2>>;
    tn::Model<Net, tn::Cpu, double> m{1};
    std::vector<double> x(16, 0.5), dy(4, 1.0), dx(16, -1.0);
    m.forward(x.data(), 1, true);
    m.backward(dy.data(), dx.data());
    for (std::size_t r = 0; r < 4; ++r)
        for (std::size_t c = 0; c < 4; ++c)
            EXPECT_EQ(dx[r * 4 + c], (r % 2 == 0 && c % 2 == 0) ? 1.0 : 0.0) << "at (" << r << "," << c << ")";
}

TEST(Dropout, DropsAboutRateAndScalesTheRestAndIsIdentityInEvaluation) {
    using Net = tn::Sequential<tn::Input<10000>, tn::Dropout<0.3>>;
    tn::Model<Net, tn::Cpu, double> m{1};
    std::vector<double> x(10000, 1.0);
    const double* y = m.forward(x.data(), 1, true);
    std::size_t zeros = 0;
    for (std::size_t i = 0; i < 10000; ++i) {
        if (y[i] == 0.0) ++zeros;
        else EXPECT_NEAR(y[i], 1.0 / 0.7, 1e-12);
    }
    EXPECT_NEAR(double(zeros) / 10000, 0.3, 0.02);  // 4.6 standard errors
    y = m.forward(x.data(), 1, false);
    for (std::size_t i = 0; i < 10000; ++i) ASSERT_EQ(y[i], 1.0);
}

TEST(BatchNorm, NormalisesInTrainingAndUsesRunningStatsInEvaluation) {
    using Net = tn::Sequential<tn::Input<2, 1, 2>, tn::BatchNorm>;
    tn::Model<Net, tn::Cpu, double> m{1};
    // channel 0 values {1,3,5,7}, channel 1 values {2,2,2,2}
    const std::vector<double> x{1, 3, 2, 2, 5, 7, 2, 2};
    const double* y = m.forward(x.data(), 2, true);
    const double inv = 1 / std::sqrt(5.0 + 1e-5);  // biased variance of {1,3,5,7} = 5
    EXPECT_NEAR(y[0], (1 - 4) * inv, 1e-12);
    EXPECT_NEAR(y[5], (7 - 4) * inv, 1e-12);
    EXPECT_NEAR(y[2], 0.0, 1e-12);
    const auto b = m.buffers().to_host();  // running_mean (2), running_var (2)
    EXPECT_NEAR(b[0], 0.1 * 4, 1e-12);
    EXPECT_NEAR(b[2], 0.9 * 1 + 0.1 * (20.0 / 3), 1e-12);  // unbiased variance 20/3
    y = m.forward(x.data(), 2, false);
    EXPECT_NEAR(y[0], (1 - b[0]) / std::sqrt(b[2] + 1e-5), 1e-12);
    EXPECT_EQ(m.buffer_segments()[0].name, "0.running_mean");
}

TEST(Summary, NamesConvolutionalLayers) {
    EXPECT_EQ((tn::Conv2D<8, 3, 2, tn::Same>::bind<tn::Shape<3, 7, 7>>::name()), "Conv2D<8, 3, s2, Same>");
    EXPECT_EQ((tn::MaxPool2D<3, 2>::bind<tn::Shape<2, 7, 7>>::name()), "MaxPool2D<3, 2>");
    EXPECT_EQ((tn::Dropout<0.25>::bind<tn::Shape<4>>::name()), "Dropout<0.25>");
}
