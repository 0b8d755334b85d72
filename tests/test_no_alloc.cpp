// The training loop allocates nothing in steady state: activations,
// gradients, workspaces and thread-pool tasks are all sized once. This test
// replaces the global operator new to count allocations during training
// steps, and during whole fit epochs after the first.
#include <typenet/backend/cpu/cpu.hpp>
#include <typenet/layers/activation.hpp>
#include <typenet/layers/conv2d.hpp>
#include <typenet/layers/dense.hpp>
#include <typenet/layers/dropout.hpp>
#include <typenet/layers/flatten.hpp>
#include <typenet/layers/pool2d.hpp>
#include <typenet/losses/softmax_cross_entropy.hpp>
#include <typenet/model/model.hpp>
#include <typenet/optim/adam.hpp>
#include <typenet/optim/rmsprop.hpp>
#include <typenet/train/fit.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <new>
#include <unistd.h>

#include "count_allocations.hpp"

namespace tn = typenet;

namespace {
template <class Net, class Opt>
std::size_t allocations_per_steps(Opt opt, std::size_t batch, int threads) {
    tn::Model<Net> model{1, tn::Cpu{threads}};
    std::vector<float> x(batch * Net::input_shape::size, 0.5f), dout(batch * 10);
    std::vector<std::int32_t> labels(batch, 3);
    double acc[2] = {0, 0};
    tn::SoftmaxCrossEntropy<10> loss;
    auto step = [&](std::size_t n) {
        const float* y = model.forward(x.data(), n, true);
        loss(model.backend(), n, 10, y, labels.data(), dout.data(), 1.0f / float(n), acc);
        model.backward(dout.data());
        opt.step(model);
    };
    step(batch);  // warm-up: buffers and optimizer state are allocated here
    counting = true;
    for (int i = 0; i < 3; ++i) step(batch);
    step(batch / 2);  // a smaller last batch reuses the same buffers
    counting = false;
    return allocations.exchange(0);
}
}  // namespace

TEST(NoAllocation, MlpTrainingSteps) {
    using Mlp = tn::Sequential<tn::Input<784>, tn::Dense<70>, tn::Sigmoid, tn::Dense<30>, tn::Sigmoid, tn::Dense<10>>;
    EXPECT_EQ((allocations_per_steps<Mlp>(tn::RMSprop{}, 500, 2)), 0u);
}

TEST(NoAllocation, CnnTrainingSteps) {
    using Cnn = tn::Sequential<tn::Input<1, 28, 28>, tn::Conv2D<32, 3>, tn::ReLU, tn::MaxPool2D<2>, tn::Conv2D<64, 3>,
                               tn::ReLU, tn::MaxPool2D<2>, tn::Conv2D<64, 3>, tn::ReLU, tn::Flatten, tn::Dropout<0.25>,
                               tn::Dense<70>, tn::ReLU, tn::Dense<10>>;
    EXPECT_EQ((allocations_per_steps<Cnn>(tn::Adam{}, 64, 2)), 0u);
}

namespace {
// The allocations of a fit of `epochs` epochs on random data with validation,
// on a model (and thread pool) that has trained before: one-time buffers,
// such as the GEMM kernel's per-thread packing memory, exist already.
template <class Net, class... Callbacks>
std::size_t allocations_in_fit(tn::Model<Net>& model, const tn::Dataset& train, std::size_t epochs,
                               Callbacks&&... callbacks) {
    tn::RMSprop opt;
    counting = true;
    tn::fit(model, opt, tn::SoftmaxCrossEntropy<10>{}, train,
            {.epochs = epochs, .batch_size = 32, .validation = &train, .verbose = tn::Verbosity::silent}, callbacks...);
    counting = false;
    return allocations.exchange(0);
}

template <class Net>
tn::Dataset random_set() {
    constexpr std::size_t n = 96, classes = 10;
    tn::Rng rng(5);
    tn::Dataset train{tn::Tensor<float>(tn::Dims{n, Net::input_shape::size}), std::vector<std::int32_t>(n), classes,
                      "random"};
    for (std::size_t i = 0; i < train.images.size(); ++i) train.images.data()[i] = float(rng.uniform(0.0, 1.0));
    for (std::size_t i = 0; i < n; ++i) train.labels[i] = std::int32_t(i % classes);
    return train;
}

template <class Net>
void expect_no_allocation_after_the_first_epoch() {
    const tn::Dataset train = random_set<Net>();
    tn::Model<Net> model{1, tn::Cpu{2}};
    allocations_in_fit(model, train, 1);  // warm-up
    const std::size_t one = allocations_in_fit(model, train, 1);
    EXPECT_EQ(allocations_in_fit(model, train, 3), one);
}
}  // namespace

// Everything fit allocates, it allocates before the first epoch: a 3-epoch
// run makes exactly as many allocations as a 1-epoch run.
TEST(NoAllocation, FitEpochsAfterTheFirst) {
    expect_no_allocation_after_the_first_epoch<
        tn::Sequential<tn::Input<784>, tn::Dense<70>, tn::Sigmoid, tn::Dense<30>, tn::Sigmoid, tn::Dense<10>>>();
    expect_no_allocation_after_the_first_epoch<tn::Sequential<tn::Input<1, 12, 12>, tn::Conv2D<4, 3>, tn::ReLU,
                                                              tn::MaxPool2D<2>, tn::Flatten, tn::Dropout<0.25>,
                                                              tn::Dense<10>>>();
}

// The same with callbacks attached, whose set-up (best-weight copies, the CSV
// file) happens before or in the first epoch: a per-batch schedule and lambda,
// early stopping that copies the best weights, plateau reduction, a CSV log.
// (ModelCheckpoint is left out: writing a file allocates.)
TEST(NoAllocation, FitEpochsAfterTheFirstWithCallbacks) {
    using Net = tn::Sequential<tn::Input<784>, tn::Dense<70>, tn::Sigmoid, tn::Dense<30>, tn::Sigmoid, tn::Dense<10>>;
    const tn::Dataset train = random_set<Net>();
    const auto csv = std::filesystem::path(::testing::TempDir()) / ("typenet_no_alloc_" + std::to_string(::getpid()) + ".csv");
    tn::Model<Net> model{1, tn::Cpu{2}};
    std::size_t batches = 0;
    const auto run = [&](std::size_t epochs, auto&& schedule) {
        tn::EarlyStopping early{{.monitor = "val_accuracy", .patience = 100, .restore_best_weights = true}};
        tn::CSVLogger log(csv);
        return allocations_in_fit(model, train, epochs, schedule, early, log,
                                  tn::each_batch([&](auto&) { ++batches; }), tn::each_epoch([](auto&) {}));
    };
    run(1, tn::per_batch(tn::OneCycle{}));  // warm-up
    const std::size_t one = run(1, tn::per_batch(tn::OneCycle{}));
    EXPECT_EQ(run(3, tn::per_batch(tn::OneCycle{})), one);
    EXPECT_EQ(batches, 5u * 3u) << "3 batches per epoch";
    const std::size_t plateau_one = run(1, tn::ReduceLROnPlateau{{.patience = 1, .mode = tn::MonitorMode::max}});
    EXPECT_EQ(run(3, tn::ReduceLROnPlateau{{.patience = 1, .mode = tn::MonitorMode::max}}), plateau_one);
    std::filesystem::remove(csv);
}

// With augmentation, fit gathers into one more buffer, allocated with the
// others before the first epoch; warping a batch allocates nothing.
TEST(NoAllocation, FitEpochsAfterTheFirstWithAugmentation) {
    using Net = tn::Sequential<tn::Input<1, 12, 12>, tn::Conv2D<4, 3>, tn::ReLU, tn::MaxPool2D<2>, tn::Flatten,
                               tn::Dense<10>>;
    const tn::Dataset train = random_set<Net>();
    tn::Model<Net> model{1, tn::Cpu{2}};
    const auto run = [&](std::size_t epochs) {
        counting = true;
        tn::fit(model, tn::RMSprop{}, tn::SoftmaxCrossEntropy<10>{}, train,
                {.epochs = epochs,
                 .batch_size = 32,
                 .validation = &train,
                 .verbose = tn::Verbosity::silent,
                 .augment = {.max_shift = 2, .max_rotation = 10, .min_scale = 0.9f, .max_scale = 1.1f, .cutout = 4,
                             .horizontal_flip = true}});
        counting = false;
        return allocations.exchange(0);
    };
    run(1);  // warm-up
    const std::size_t one = run(1);
    EXPECT_EQ(run(3), one);
}
