// Tests of testing/parity.hpp and model/transfer.hpp on the CPU alone: the
// checker finds no difference between two CPU backends (one and two threads,
// which split matrix products differently), finds a real one, and
// copy_weights moves weights between models of different scalar types.
#include <typenet/backend/cpu/cpu.hpp>
#include <typenet/layers/activation.hpp>
#include <typenet/layers/batchnorm.hpp>
#include <typenet/layers/conv2d.hpp>
#include <typenet/layers/dense.hpp>
#include <typenet/layers/dropout.hpp>
#include <typenet/layers/flatten.hpp>
#include <typenet/layers/pool2d.hpp>
#include <typenet/losses/softmax_cross_entropy.hpp>
#include <typenet/model/model.hpp>
#include <typenet/model/transfer.hpp>
#include <typenet/optim/adam.hpp>
#include <typenet/optim/sgd.hpp>
#include <typenet/testing/parity.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace tn = typenet;
namespace tt = typenet::testing;

namespace {
using SmallCnn = tn::Sequential<tn::Input<2, 8, 8>, tn::Conv2D<4, 3>, tn::BatchNorm, tn::ReLU, tn::MaxPool2D<2>,
                                tn::Dropout<0.25>, tn::Flatten, tn::Dense<6>, tn::Tanh, tn::Dense<3>>;
}  // namespace

TEST(Parity, TwoCpuBackendsAgreeOnEveryTensor) {
    const auto r = tt::check_backend_parity<SmallCnn>(tn::Cpu{1}, tn::Cpu{2}, {.batch = 5});
    // Output, input gradient, 8 parameter tensors, 2 BatchNorm buffers, infer's output.
    EXPECT_EQ(r.diffs.size(), 13u) << r.report();
    EXPECT_EQ(r.diffs.back().name, "infer output");
    EXPECT_LT(r.max_error(), 1e-5) << r.worst();
}

TEST(Parity, LayerOptimizerLossAndTrainingChecksRunOnTheCpu) {
    EXPECT_LT((tt::check_layer_parity<tn::Dense<5>, tn::Shape<7>>(tn::Cpu{1}, tn::Cpu{1}).max_error()), 1e-6);
    EXPECT_EQ(tt::check_optimizer_parity<SmallCnn>(tn::Cpu{1}, tn::Cpu{2}, tn::Adam{}).max_error(), 0.0);
    EXPECT_EQ(tt::check_loss_parity(tn::Cpu{1}, tn::Cpu{1}, tn::SoftmaxCrossEntropy{}, 6, 4, -3.0, 3.0).max_error(),
              0.0);
    const auto r = tt::check_training_parity<SmallCnn>(tn::Cpu{1}, tn::Cpu{2}, tn::SGD{{.momentum = 0.9}},
                                                       tn::SoftmaxCrossEntropy{}, {.batch = 6, .steps = 3});
    EXPECT_EQ(r.diffs.size(), 3u + 8u);  // one loss per step, then every parameter tensor
    EXPECT_LT(r.max_error(), 1e-4) << r.worst();
}

TEST(Parity, CompareValuesIsScaleRelativeAndFlagsNaN) {
    const std::vector<float> a{1.0f, -4.0f, 0.5f}, b{1.0f, -4.002f, 0.5f};
    const auto d = tt::compare_values("t", a, b);
    EXPECT_NEAR(d.error, 0.002 / 4.002, 1e-6);
    EXPECT_EQ(d.at, 1u);
    const std::vector<float> nan{1.0f, std::numeric_limits<float>::quiet_NaN(), 0.5f};
    EXPECT_TRUE(std::isinf(tt::compare_values("t", a, nan).error));
    EXPECT_EQ(tt::compare_values("t", std::vector<float>(3, 0.0f), std::vector<float>(3, 0.0f)).error, 0.0);
}

TEST(CopyWeights, MovesParametersAndBuffersAcrossScalarTypes) {
    tn::Model<SmallCnn> a{1};
    tn::Model<SmallCnn, tn::Cpu, double> b{2};
    std::vector<float> x(3 * 2 * 8 * 8, 0.25f);
    a.forward(x.data(), 3, true);  // moves the BatchNorm running statistics away from their defaults
    tn::copy_weights(b, a);
    for (std::size_t i = 0; i < a.parameters().size(); ++i)
        ASSERT_EQ(b.parameters()[i], double(a.parameters()[i])) << "parameter " << i;
    for (std::size_t i = 0; i < a.buffers().size(); ++i)
        ASSERT_EQ(b.buffers()[i], double(a.buffers()[i])) << "buffer " << i;
}
