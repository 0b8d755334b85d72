// Tests of losses/: gradient checks, known values, the compile-time width check.
#include <typenet/backend/cpu/cpu.hpp>
#include <typenet/losses/binary_cross_entropy.hpp>
#include <typenet/losses/mse.hpp>
#include <typenet/losses/softmax_cross_entropy.hpp>
#include <typenet/testing/gradcheck.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace tn = typenet;
namespace tt = typenet::testing;

static_assert(tn::Loss<tn::SoftmaxCrossEntropy<>> && tn::Loss<tn::BinaryCrossEntropy<10>> &&
              tn::Loss<tn::MeanSquaredError<>>);
static_assert(tn::check_loss_fits<tn::SoftmaxCrossEntropy<10>, tn::Shape<10>>());
static_assert(tn::check_loss_fits<tn::SoftmaxCrossEntropy<>, tn::Shape<7>>());

TEST(GradCheck, SoftmaxCrossEntropy) {
    EXPECT_LT(tt::check_loss_gradients(tn::SoftmaxCrossEntropy{}, 4, 5, -3.0, 3.0), 1e-7);
}
TEST(GradCheck, BinaryCrossEntropy) {
    EXPECT_LT(tt::check_loss_gradients(tn::BinaryCrossEntropy{}, 4, 5, 0.05, 0.95), 1e-7);
}
TEST(GradCheck, MeanSquaredError) {
    EXPECT_LT(tt::check_loss_gradients(tn::MeanSquaredError{}, 4, 5, -2.0, 2.0), 1e-7);
}

namespace {
struct Eval {
    double loss, correct;
    std::vector<double> grad;
};
template <class L>
Eval run(const L& loss, const std::vector<double>& out, const std::vector<std::int32_t>& labels, std::size_t cols,
         double scale = 1.0) {
    tn::Cpu be(1);
    Eval e{0, 0, std::vector<double>(out.size())};
    double acc[2] = {0, 0};
    loss(be, labels.size(), cols, out.data(), labels.data(), e.grad.data(), scale, acc);
    e.loss = acc[0];
    e.correct = acc[1];
    return e;
}
}  // namespace

TEST(SoftmaxCrossEntropy, UniformLogitsGiveLogK) {
    const auto e = run(tn::SoftmaxCrossEntropy{}, {0, 0, 0, 0, 5, 5, 5, 5}, {1, 3}, 4);
    EXPECT_NEAR(e.loss, 2 * std::log(4.0), 1e-12);
    // grad = softmax - onehot = 0.25 everywhere except -0.75 at the label
    EXPECT_NEAR(e.grad[1], -0.75, 1e-12);
    EXPECT_NEAR(e.grad[0], 0.25, 1e-12);
}

TEST(SoftmaxCrossEntropy, StableForHugeLogitsAndCountsCorrect) {
    const auto e = run(tn::SoftmaxCrossEntropy{}, {1000, 0, -1000, 0, 1000, 0}, {0, 0}, 3, 0.5);
    EXPECT_TRUE(std::isfinite(e.loss));
    EXPECT_NEAR(e.loss, 1000.0, 1e-9);  // first row ~0, second row ~1000
    EXPECT_EQ(e.correct, 1.0);
    EXPECT_NEAR(e.grad[3], -0.5, 1e-12);  // scaled by 0.5
    for (double g : e.grad) EXPECT_TRUE(std::isfinite(g));
}

TEST(BinaryCrossEntropy, KnownValueAndClipping) {
    // one sample, p = (0.8, 0.3), label 0: -(log 0.8 + log 0.7) / 2
    const auto e = run(tn::BinaryCrossEntropy{}, {0.8, 0.3}, {0}, 2);
    EXPECT_NEAR(e.loss, -(std::log(0.8) + std::log(0.7)) / 2, 1e-12);
    EXPECT_EQ(e.correct, 1.0);
    const auto z = run(tn::BinaryCrossEntropy{}, {0.0, 1.0}, {0}, 2);
    EXPECT_TRUE(std::isfinite(z.loss));
    EXPECT_TRUE(std::isfinite(z.grad[0]) && std::isfinite(z.grad[1]));
}

TEST(MeanSquaredError, KnownValue) {
    const auto e = run(tn::MeanSquaredError{}, {0.5, 0.5, 1.0}, {2}, 3);
    EXPECT_NEAR(e.loss, (0.25 + 0.25 + 0.0) / 3, 1e-15);
    EXPECT_NEAR(e.grad[0], 2 * 0.5 / 3, 1e-15);
    EXPECT_EQ(e.correct, 1.0);
}
