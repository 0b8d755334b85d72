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

#include <type_traits>

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
