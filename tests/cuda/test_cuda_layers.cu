// Layer-by-layer and optimizer parity of Cuda with Cpu through the public
// checker (testing/parity.hpp): the same initial weights give the same
// forward output, input gradient, parameter gradients and buffers, and the
// same optimizer steps. Tolerances: 0 for layers that only move or select
// values, 1e-5 for elementwise math and reductions, 1e-3 for convolutions
// (cuDNN's algorithms round differently from im2col + GEMM).
#include "cuda_test.hpp"

using cuda_test::expect_parity;
using CudaLayers = cuda_test::Gpu;  // tests that skip without a GPU
using cuda_test::gpu;

namespace {
const tn::Cpu cpu{1};
constexpr double kExact = 0.0, kSum = 1e-5, kConv = 1e-3;

template <class L, class S>
void expect_layer(double tolerance, tt::ParityOptions o = {}) {
    for (bool training : {true, false}) {
        SCOPED_TRACE(training ? "training" : "evaluation");
        o.training = training;
        expect_parity(tt::check_layer_parity<L, S>(cpu, gpu(), o), tolerance);
    }
}
}  // namespace

TEST_F(CudaLayers, DenseLayersMatchTheCpu) {
    expect_layer<tn::Dense<70>, tn::Shape<784>>(kSum, {.batch = 64});
    expect_layer<tn::Dense<10>, tn::Shape<70>>(kSum, {.batch = 3});
    expect_layer<tn::Dense<1>, tn::Shape<5>>(kSum, {.batch = 1});
}

TEST_F(CudaLayers, Conv2DLayersMatchTheCpu) {
    expect_layer<tn::Conv2D<32, 3>, tn::Shape<1, 28, 28>>(kConv, {.batch = 8});
    expect_layer<tn::Conv2D<4, 3, 2>, tn::Shape<2, 9, 9>>(kConv);
    expect_layer<tn::Conv2D<3, 3, 1, tn::Same>, tn::Shape<2, 6, 5>>(kConv);
    expect_layer<tn::Conv2D<3, 3, 2, tn::Same>, tn::Shape<2, 6, 8>>(kConv);
    expect_layer<tn::Conv2DRect<2, 3, 2, 1, 2>, tn::Shape<3, 7, 8>>(kConv);
}

TEST_F(CudaLayers, PoolingLayersMatchTheCpuExactly) {
    expect_layer<tn::MaxPool2D<2>, tn::Shape<4, 10, 11>>(kExact);
    expect_layer<tn::MaxPool2D<3, 2>, tn::Shape<2, 7, 7>>(kExact);
    expect_layer<tn::AvgPool2D<2>, tn::Shape<3, 8, 6>>(kExact);
    expect_layer<tn::AvgPool2D<3, 2>, tn::Shape<2, 7, 9>>(kExact);
    expect_layer<tn::GlobalAvgPool2D, tn::Shape<5, 4, 3>>(kExact);
}

TEST_F(CudaLayers, FlattenAndDropoutMatchTheCpuExactly) {
    expect_layer<tn::Flatten, tn::Shape<3, 4, 5>>(kExact);
    // Same seed, same mask: hash_uniform is the same function on both.
    expect_layer<tn::Dropout<0.5>, tn::Shape<300>>(kExact, {.batch = 7});
    expect_layer<tn::Dropout<0.2>, tn::Shape<4, 6, 6>>(kExact);
}

TEST_F(CudaLayers, BatchNormMatchesTheCpuIncludingRunningStatistics) {
    expect_layer<tn::BatchNorm, tn::Shape<6, 5, 5>>(kSum, {.batch = 8});
    expect_layer<tn::BatchNorm, tn::Shape<12>>(kSum, {.batch = 16});
}

TEST_F(CudaLayers, ActivationsAndSoftmaxMatchTheCpu) {
    expect_layer<tn::ReLU, tn::Shape<3, 5, 5>>(kExact, {.input_lo = -3, .input_hi = 3});
    expect_layer<tn::Identity, tn::Shape<17>>(kExact);
    expect_layer<tn::Sigmoid, tn::Shape<33>>(kSum, {.input_lo = -8, .input_hi = 8});
    expect_layer<tn::Tanh, tn::Shape<33>>(kSum, {.input_lo = -4, .input_hi = 4});
    expect_layer<tn::ELU, tn::Shape<33>>(kSum, {.input_lo = -4, .input_hi = 4});
    expect_layer<tn::SELU, tn::Shape<33>>(kSum, {.input_lo = -4, .input_hi = 4});
    expect_layer<tn::Softmax, tn::Shape<10>>(kSum, {.batch = 9, .input_lo = -6, .input_hi = 6});
}

namespace {
// Dense weights and biases: both penalty paths (regularised weights, plain biases).
using OptNet = tn::Sequential<tn::Input<30>, tn::Dense<20>, tn::ReLU, tn::Dense<7>>;
constexpr tn::Penalty penalty{.l1 = 1e-3, .l2 = 1e-2};
}  // namespace

TEST_F(CudaLayers, EveryOptimizerStepMatchesTheCpu) {
    const tt::ParityOptions o{.steps = 4};
    expect_parity(tt::check_optimizer_parity<OptNet>(cpu, gpu(), tn::SGD{{.learning_rate = 0.1}}, o), kSum);
    expect_parity(tt::check_optimizer_parity<OptNet>(cpu, gpu(), tn::SGD{{.momentum = 0.9}}, o), kSum);
    expect_parity(tt::check_optimizer_parity<OptNet>(
                      cpu, gpu(), tn::SGD{{.momentum = 0.9, .nesterov = true, .decay = 0.01, .penalty = penalty}}, o),
                  kSum);
    expect_parity(tt::check_optimizer_parity<OptNet>(cpu, gpu(), tn::RMSprop{}, o), kSum);
    expect_parity(tt::check_optimizer_parity<OptNet>(cpu, gpu(), tn::RMSprop{{.decay = 0.1, .penalty = penalty}}, o),
                  kSum);
    expect_parity(tt::check_optimizer_parity<OptNet>(cpu, gpu(), tn::Adam{}, o), kSum);
    expect_parity(tt::check_optimizer_parity<OptNet>(cpu, gpu(), tn::Adam{{.beta1 = 0.5, .penalty = penalty}}, o),
                  kSum);
}

TEST_F(CudaLayers, LossesThroughTheLossTypesMatchTheCpu) {
    expect_parity(tt::check_loss_parity(cpu, gpu(), tn::SoftmaxCrossEntropy<10>{}, 64, 10, -5, 5), kSum);
    expect_parity(tt::check_loss_parity(cpu, gpu(), tn::BinaryCrossEntropy<10>{}, 64, 10, 0, 1), kSum);
    expect_parity(tt::check_loss_parity(cpu, gpu(), tn::MeanSquaredError<10>{}, 64, 10, -1, 2), kSum);
}
