// Whole networks on Cuda against Cpu: the reference MLP and CNN over several
// training steps from the same weights, fit / evaluate / predict on a small
// synthetic dataset, and weights moved between the backends in one call.
#include "cuda_test.hpp"

#include <limits>

using cuda_test::expect_parity;
using CudaTraining = cuda_test::Gpu;  // tests that skip without a GPU
using cuda_test::gpu;

namespace {
const tn::Cpu cpu{1};
using Mlp = tn::Sequential<tn::Input<784>, tn::Dense<70>, tn::Sigmoid, tn::Dense<30>, tn::Sigmoid, tn::Dense<10>>;
using WideMlp = tn::Sequential<tn::Input<784>, tn::Dense<512>, tn::ReLU, tn::Dense<10>>;
// The reference articles' CNN (examples/reference_cnn.hpp), 96,844 parameters.
using Cnn = tn::Sequential<tn::Input<1, 28, 28>, tn::Conv2D<32, 3>, tn::ReLU, tn::MaxPool2D<2>, tn::Conv2D<64, 3>,
                           tn::ReLU, tn::MaxPool2D<2>, tn::Conv2D<64, 3>, tn::ReLU, tn::Flatten, tn::Dense<70>,
                           tn::ReLU, tn::Dense<10>>;
static_assert(Cnn::parameter_count == 96'844);

// Ten classes of 28x28 images: class k lights up row block k, plus noise.
tn::Dataset synthetic(std::size_t n, std::uint64_t seed) {
    tn::Dataset d;
    d.name = "synthetic digits";
    d.classes = 10;
    d.images.resize(tn::Dims{n, 1, 28, 28});
    d.labels.resize(n);
    tn::Rng rng(seed);
    for (std::size_t i = 0; i < n; ++i) {
        const auto k = std::int32_t(rng.below(10));
        d.labels[i] = k;
        for (std::size_t p = 0; p < 784; ++p)
            d.images[i * 784 + p] = float(rng.uniform(0.0, 0.3) + ((p / 28) / 3 == std::size_t(k) ? 0.7 : 0.0));
    }
    return d;
}
}  // namespace

// SGD with momentum: every difference stays proportional to round-off. With
// ReLU a pre-activation within round-off of 0 may switch sides between the
// backends and move one sample's term of a gradient, hence 2e-3 there.
TEST_F(CudaTraining, ReferenceMlpTrainsLikeOnTheCpuOverSeveralSteps) {
    const tt::ParityOptions o{.batch = 64, .input_lo = 0, .input_hi = 1, .steps = 5};
    expect_parity(tt::check_training_parity<Mlp>(cpu, gpu(), tn::SGD{{.learning_rate = 0.1, .momentum = 0.9}},
                                                 tn::SoftmaxCrossEntropy<10>{}, o),
                  1e-4);
    expect_parity(tt::check_training_parity<WideMlp>(cpu, gpu(), tn::SGD{{.learning_rate = 0.05, .momentum = 0.9}},
                                                     tn::SoftmaxCrossEntropy<10>{}, o),
                  2e-3);
}

TEST_F(CudaTraining, ReferenceCnnTrainsLikeOnTheCpuOverSeveralSteps) {
    const tt::ParityOptions o{.batch = 32, .input_lo = 0, .input_hi = 1, .steps = 4};
    expect_parity(tt::check_training_parity<Cnn>(cpu, gpu(), tn::SGD{{.learning_rate = 0.05, .momentum = 0.9}},
                                                 tn::SoftmaxCrossEntropy<10>{}, o),
                  2e-3);
}

// RMSprop divides by the gradient's running size, so a gradient near zero
// moves its weight by up to ~3 lr whatever its round-off: looser tolerance.
TEST_F(CudaTraining, ReferenceNetworksWithRmspropStayClose) {
    const tt::ParityOptions o{.batch = 64, .input_lo = 0, .input_hi = 1, .steps = 5};
    expect_parity(tt::check_training_parity<Mlp>(cpu, gpu(), tn::RMSprop{}, tn::SoftmaxCrossEntropy<10>{}, o), 1e-2);
    expect_parity(tt::check_training_parity<Cnn>(cpu, gpu(), tn::RMSprop{}, tn::SoftmaxCrossEntropy<10>{},
                                                 {.batch = 32, .input_lo = 0, .input_hi = 1, .steps = 3}),
                  1e-2);
}

TEST_F(CudaTraining, FitEvaluateAndPredictAgreeWithTheCpu) {
    const auto train = synthetic(300, 1), test = synthetic(100, 2);
    tn::Model<Cnn> mc{7, cpu};
    tn::Model<Cnn, tn::Cuda> mg{7, gpu()};
    tn::SGD oc{{.learning_rate = 0.05, .momentum = 0.9}}, og = oc;
    // 300 = 4 batches of 64 and one of 44: the smaller last batch is planned on the fly.
    const tn::FitOptions opts{.epochs = 2, .batch_size = 64, .validation = &test, .verbose = tn::Verbosity::silent};
    const auto hc = tn::fit(mc, oc, tn::SoftmaxCrossEntropy<10>{}, train, opts);
    const auto hg = tn::fit(mg, og, tn::SoftmaxCrossEntropy<10>{}, train, opts);
    ASSERT_EQ(hg.epochs.size(), 2u);
    for (std::size_t e = 0; e < 2; ++e) {
        EXPECT_NEAR(hg.epochs[e].loss, hc.epochs[e].loss, 1e-3 * hc.epochs[e].loss) << "epoch " << e + 1;
        EXPECT_NEAR(hg.epochs[e].val_loss, hc.epochs[e].val_loss, 1e-3 * hc.epochs[e].val_loss) << "epoch " << e + 1;
    }
    EXPECT_GT(hg.last().accuracy, 0.5);  // it learns
    const auto ec = tn::evaluate(mc, test, tn::SoftmaxCrossEntropy<10>{});
    const auto eg = tn::evaluate(mg, test, tn::SoftmaxCrossEntropy<10>{});
    EXPECT_NEAR(eg.loss, ec.loss, 1e-3 * ec.loss);
    EXPECT_NEAR(eg.accuracy, ec.accuracy, 0.02);
    const auto pc = tn::predict(mc, test.images.span());
    const auto pg = tn::predict(mg, test.images.span());
    const auto host = [](const tn::Tensor<float>& t) { return std::vector<float>(t.span().begin(), t.span().end()); };
    cuda_test::expect_close("probabilities", host(pc.probabilities), host(pg.probabilities), 1e-2);
}

// With augmentation both backends draw the same transforms from the model's
// Rng and warp the batch on their own device: the runs stay as close as
// without it.
TEST_F(CudaTraining, FitWithAugmentationAgreesWithTheCpu) {
    const auto train = synthetic(300, 1);
    tn::Model<Cnn> mc{7, cpu};
    tn::Model<Cnn, tn::Cuda> mg{7, gpu()};
    tn::SGD oc{{.learning_rate = 0.05, .momentum = 0.9}}, og = oc;
    const tn::FitOptions opts{.epochs = 2, .batch_size = 64, .verbose = tn::Verbosity::silent,
                              .augment = {.max_shift = 2, .max_rotation = 10, .min_scale = 0.9f, .max_scale = 1.1f,
                                          .cutout = 6}};
    const auto hc = tn::fit(mc, oc, tn::SoftmaxCrossEntropy<10>{}, train, opts);
    const auto hg = tn::fit(mg, og, tn::SoftmaxCrossEntropy<10>{}, train, opts);
    ASSERT_EQ(hg.epochs.size(), 2u);
    for (std::size_t e = 0; e < 2; ++e)
        EXPECT_NEAR(hg.epochs[e].loss, hc.epochs[e].loss, 1e-3 * hc.epochs[e].loss) << "epoch " << e + 1;
}

TEST_F(CudaTraining, WeightsMoveBetweenBackendsInOneCall) {
    using Net =
        tn::Sequential<tn::Input<3, 8, 8>, tn::Conv2D<4, 3>, tn::BatchNorm, tn::ReLU, tn::Flatten, tn::Dense<5>>;
    tn::Model<Net> a{1, cpu};
    tn::Model<Net, tn::Cuda> g{2, gpu()};
    tn::Model<Net, tn::Cpu, double> back{3, cpu};
    std::vector<float> x(2 * 3 * 8 * 8, 0.5f);
    a.forward(x.data(), 2, true);  // running statistics away from their defaults
    tn::copy_weights(g, a);
    tn::copy_weights(back, g);
    for (std::size_t i = 0; i < a.parameters().size(); ++i)
        ASSERT_EQ(back.parameters()[i], double(a.parameters()[i])) << "parameter " << i;
    for (std::size_t i = 0; i < a.buffers().size(); ++i)
        ASSERT_EQ(back.buffers()[i], double(a.buffers()[i])) << "buffer " << i;
}

TEST_F(CudaTraining, TrainingSurvivesTf32AndStaysFinite) {
    const auto train = synthetic(256, 3);
    tn::Model<Cnn, tn::Cuda> m{5, tn::Cuda{{.tf32 = true}}};
    tn::RMSprop opt;
    const auto h = tn::fit(m, opt, tn::SoftmaxCrossEntropy<10>{}, train,
                           {.epochs = 2, .batch_size = 32, .verbose = tn::Verbosity::silent});
    EXPECT_TRUE(tn::all_finite(m.backend(), m.parameters().size(), m.parameters().data()));
    EXPECT_LT(h.last().loss, h.epochs.front().loss);
}

// Issue 7's numerical faults on the GPU: an exploding learning rate stops fit
// with a NumericalError naming the epoch and a layer (found when metrics are
// read, as the GPU checks no value per batch in stop mode); skip_batch checks
// every batch and leaves a poisoned one out, as on the CPU.
TEST_F(CudaTraining, ExplodingLearningRateStopsWithTheLayerNamed) {
    const auto train = synthetic(256, 4);
    tn::Model<Mlp, tn::Cuda> m{5, gpu()};
    tn::SGD opt{{.learning_rate = 1e30}};
    try {
        tn::fit(m, opt, tn::SoftmaxCrossEntropy<10>{}, train, {.epochs = 2, .batch_size = 32, .verbose = tn::Verbosity::silent});
        FAIL() << "expected a NumericalError";
    } catch (const tn::NumericalError& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("in epoch 1, batch "), std::string::npos) << msg;
        EXPECT_NE(msg.find("layer "), std::string::npos) << msg;
    }
}

TEST_F(CudaTraining, SkipBatchLeavesAPoisonedBatchOut) {
    auto train = synthetic(256, 5);
    train.images[100 * 784 + 5] = std::numeric_limits<float>::quiet_NaN();
    tn::Model<Mlp, tn::Cuda> m{5, gpu()};
    tn::RMSprop opt;
    const auto h = tn::fit(m, opt, tn::SoftmaxCrossEntropy<10>{}, train,
                           {.epochs = 2, .batch_size = 32, .verbose = tn::Verbosity::silent,
                            .on_non_finite = tn::OnNonFinite::skip_batch});
    for (const auto& e : h.epochs) EXPECT_EQ(e.skipped_batches, 1u);
    EXPECT_TRUE(tn::all_finite(m.backend(), m.parameters().size(), m.parameters().data()));
}
