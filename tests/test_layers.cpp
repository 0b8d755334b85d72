// Tests of layers/: gradient checks for every layer, forward against naive
// references, parameter specs and initialisers.
#include <typenet/backend/cpu/cpu.hpp>
#include <typenet/layers/activation.hpp>
#include <typenet/layers/dense.hpp>
#include <typenet/layers/init.hpp>
#include <typenet/model/model.hpp>
#include <typenet/testing/gradcheck.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace tn = typenet;
namespace tt = typenet::testing;

namespace {
constexpr double kTol = 1e-6;  // central differences in double: error ~1e-9

template <class L, class S>
void expect_gradients_match(tt::GradCheckOptions o = {}) {
    const auto r = tt::check_layer_gradients<L, S>(o);
    EXPECT_GT(r.checked, 0u);
    EXPECT_LT(r.max_error(), kTol) << r.worst;
}
}  // namespace

TEST(GradCheck, Dense) { expect_gradients_match<tn::Dense<4>, tn::Shape<5>>(); }
TEST(GradCheck, DenseWideSampled) { expect_gradients_match<tn::Dense<33>, tn::Shape<70>>({.batch = 2, .max_checks = 200}); }
TEST(GradCheck, DenseOnBatchOfOne) { expect_gradients_match<tn::Dense<3>, tn::Shape<2>>({.batch = 1}); }
TEST(GradCheck, ReLU) { expect_gradients_match<tn::ReLU, tn::Shape<2, 3, 3>>(); }
TEST(GradCheck, Sigmoid) { expect_gradients_match<tn::Sigmoid, tn::Shape<7>>({.input_lo = -4, .input_hi = 4}); }
TEST(GradCheck, Tanh) { expect_gradients_match<tn::Tanh, tn::Shape<7>>({.input_lo = -3, .input_hi = 3}); }
TEST(GradCheck, ELU) { expect_gradients_match<tn::ELU, tn::Shape<7>>({.input_lo = -3, .input_hi = 3}); }
TEST(GradCheck, SELU) { expect_gradients_match<tn::SELU, tn::Shape<7>>({.input_lo = -3, .input_hi = 3}); }
TEST(GradCheck, Identity) { expect_gradients_match<tn::Identity, tn::Shape<4>>(); }
TEST(GradCheck, Softmax) { expect_gradients_match<tn::Softmax, tn::Shape<6>>({.input_lo = -3, .input_hi = 3}); }

namespace {
// A deliberately wrong layer: y = x^2 but backward returns dy * x (not 2x).
struct WrongSquare {
    template <class In>
    struct bind : tn::LayerBase<In, In> {
        static std::string name() { return "WrongSquare"; }
        template <class T, class B>
        static void forward(tn::LayerIo<T, B>& io) {
            for (std::size_t i = 0; i < io.n * In::size; ++i) io.y[i] = io.x[i] * io.x[i];
        }
        template <class T, class B>
        static void backward(tn::LayerIo<T, B>& io) {
            for (std::size_t i = 0; i < io.n * In::size; ++i) io.dx[i] = io.dy[i] * io.x[i];
        }
    };
};
}  // namespace

TEST(GradCheck, DetectsAWrongGradient) {
    // The checker itself must be able to fail.
    const auto r = tt::check_layer_gradients<WrongSquare, tn::Shape<3>>();
    EXPECT_GT(r.max_input_error, 0.1);
}

TEST(Dense, ForwardMatchesNaive) {
    using Net = tn::Sequential<tn::Input<3>, tn::Dense<2>>;
    tn::Model<Net, tn::Cpu, double> m{1};
    // weight (out=2, in=3) then bias (2)
    const std::vector<double> w{1, 2, 3, -1, 0, 2, 0.5, -0.25};
    m.parameters().from_host(w);
    const std::vector<double> x{1, 1, 1, 2, 0, -1};  // batch of 2
    const double* y = m.forward(x.data(), 2, false);
    EXPECT_DOUBLE_EQ(y[0], 1 + 2 + 3 + 0.5);
    EXPECT_DOUBLE_EQ(y[1], -1 + 0 + 2 - 0.25);
    EXPECT_DOUBLE_EQ(y[2], 2 - 3 + 0.5);
    EXPECT_DOUBLE_EQ(y[3], -2 - 2 - 0.25);
}

TEST(Dense, ParamSpecsUsePyTorchLayout) {
    using BL = tn::Dense<70>::bind<tn::Shape<784>>;
    static_assert(BL::parameter_count == 70 * 784 + 70);
    EXPECT_STREQ(BL::params[0].name, "weight");
    EXPECT_TRUE((BL::params[0].dims == tn::Dims{70, 784}));
    EXPECT_TRUE(BL::params[0].regularized);
    EXPECT_STREQ(BL::params[1].name, "bias");
    EXPECT_FALSE(BL::params[1].regularized);
    EXPECT_EQ(BL::name(), "Dense<70>");
}

TEST(Activation, ForwardValues) {
    tn::Cpu be(1);
    const std::vector<double> x{-2.0, 0.5};
    std::vector<double> y(2);
    tn::activation_forward(be, tn::ActivationKind::elu, 2, x.data(), y.data());
    EXPECT_NEAR(y[0], std::exp(-2.0) - 1, 1e-15);
    EXPECT_DOUBLE_EQ(y[1], 0.5);
    tn::activation_forward(be, tn::ActivationKind::selu, 2, x.data(), y.data());
    EXPECT_NEAR(y[0], tn::selu_scale * tn::selu_alpha * (std::exp(-2.0) - 1), 1e-14);
    EXPECT_NEAR(y[1], tn::selu_scale * 0.5, 1e-15);
}

namespace {
template <class Init>
void expect_uniform_within(double limit, std::size_t fan_in, std::size_t fan_out) {
    tn::Rng rng(11);
    std::vector<double> w(20000);
    Init::fill(rng, std::span<double>(w), fan_in, fan_out);
    double mx = 0, sum = 0;
    for (double v : w) mx = std::max(mx, std::abs(v)), sum += v;
    EXPECT_LE(mx, limit);
    EXPECT_GT(mx, 0.95 * limit) << "values should fill the range";
    EXPECT_NEAR(sum / double(w.size()), 0.0, 0.02 * limit);
}
template <class Init>
void expect_normal_std(double stddev, std::size_t fan_in, std::size_t fan_out) {
    tn::Rng rng(12);
    std::vector<double> w(20000);
    Init::fill(rng, std::span<double>(w), fan_in, fan_out);
    double s2 = 0;
    for (double v : w) s2 += v * v;
    EXPECT_NEAR(std::sqrt(s2 / double(w.size())), stddev, 0.03 * stddev);
}
}  // namespace

TEST(Init, UniformRanges) {
    expect_uniform_within<tn::GlorotUniform>(std::sqrt(6.0 / (784 + 70)), 784, 70);
    expect_uniform_within<tn::HeUniform>(std::sqrt(6.0 / 784), 784, 70);
    expect_uniform_within<tn::LeCunUniform>(std::sqrt(3.0 / 784), 784, 70);
    expect_uniform_within<tn::ArticleUniform>(0.5 * std::sqrt(1.0 / 784), 784, 70);
}

TEST(Init, NormalDeviations) {
    expect_normal_std<tn::GlorotNormal>(std::sqrt(2.0 / (100 + 50)), 100, 50);
    expect_normal_std<tn::HeNormal>(std::sqrt(2.0 / 100), 100, 50);
    expect_normal_std<tn::LeCunNormal>(std::sqrt(1.0 / 100), 100, 50);
}

TEST(Init, BiasesStartAtZeroAndInitIsChosenByTheLayer) {
    using Net = tn::Sequential<tn::Input<50>, tn::Dense<40, tn::ArticleUniform>>;
    tn::Model<Net, tn::Cpu, double> m{4};
    const auto p = m.parameters().to_host();
    const double limit = 0.5 * std::sqrt(1.0 / 50);
    for (std::size_t i = 0; i < 40 * 50; ++i) EXPECT_LE(std::abs(p[i]), limit);
    for (std::size_t i = 40 * 50; i < p.size(); ++i) EXPECT_EQ(p[i], 0.0);
}
