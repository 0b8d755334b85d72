// mnist_fast - the least wall time to 99.0% MNIST test accuracy on two CPU cores.
//
// What: a small CNN with batch normalisation, trained with Adam under a
// one-cycle learning rate (set before every batch), evaluated on the 10,000
// test digits after each epoch. Training stops at the first epoch whose test
// accuracy is >= 99.0%, and the example prints the wall time from the first
// batch to the end of that epoch (its test evaluation included):
//
//   using FastCnn = tn::Sequential<tn::Input<1, 28, 28>,
//       tn::Conv2D<24, 3>, tn::MaxPool2D<2>, tn::BatchNorm, tn::ReLU,   // (24,13,13)
//       tn::Conv2D<48, 3>, tn::MaxPool2D<2>, tn::BatchNorm, tn::ReLU,   // (48,5,5)
//       tn::Flatten, tn::Dense<128>, tn::BatchNorm, tn::ReLU,            // (128)
//       tn::Dense<10>>;                                                  // 166,074 parameters
//
// The recipe, and why:
// - One epoch: the one-cycle spans a single pass over the 60,000 digits
//   (--epochs N spreads it over N).
// - Few multiply-adds: 1.6 M per image forward, 56% of the reference CNN's
//   (examples/reference_cnn.hpp). Also tried (seed 1 unless said): 16 and 32
//   filters without the Dense<128> (0.65 M) stayed below 99% (98.98% after a
//   3-epoch cycle); 24 and 48 filters without it needed two epochs (99.10-
//   99.21%, seeds 1-3), a 1-epoch cycle ending at 98.96-98.97% (batch 64 or
//   128, peak 0.005 or 0.01), and 32 and 64 filters at 98.83%. The batch-
//   normalised Dense<128> costs 10% more per image and makes one epoch enough.
// - Pool before normalising: max-pooling commutes with ReLU, and with a
//   per-channel affine map of positive scale, so Conv -> MaxPool -> BatchNorm
//   -> ReLU computes nearly what Conv -> BatchNorm -> ReLU -> MaxPool does,
//   but normalises and rectifies a quarter of the values.
// - BatchNorm lets the rate be high from the start; one-cycle (PyTorch's
//   OneCycleLR: warm up for 30% of the steps, then anneal to almost zero)
//   over the planned epochs ends each run on a low rate, where the test
//   accuracy settles.
// - Batch 64: ~940 steps in the one epoch; at batch 128, seed 2 ended at
//   98.95%, at 64 at 99.04%, and the epoch took no longer.
// Measured (2-vCPU Xeon, AVX-512, shared with other builds that left it
// about one core, so upper bounds): seeds 1, 2, 3 reached 99.13, 99.04 and
// 99.17% after the one epoch, in 9.7, 9.2 and 9.3 s from the first batch;
// seeds 4 and 5 ended at 99.17 and 99.14%.
// Why: the measure users of a fast library care about is the wall time to a
// target accuracy; the reference articles' Keras CNN needed ~20 s on a GPU.
// The same recipe runs on an NVIDIA GPU with --device cuda (a build with
// TYPENET_CUDA). --require 0.99 makes the exit status say whether the target
// was reached (for scripts); otherwise the exit status is 0 either way.
// Data: the IDX files fetched by cmake/fetch_data.sh into data/mnist (or
// $TYPENET_DATA/mnist); pixels scaled to [0, 1].
#include <typenet/typenet.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "example_args.hpp"
#include "example_device.hpp"

namespace tn = typenet;

using FastCnn = tn::Sequential<tn::Input<1, 28, 28>,                                    //
                               tn::Conv2D<24, 3>, tn::MaxPool2D<2>, tn::BatchNorm, tn::ReLU,  // (24,26,26) -> (24,13,13)
                               tn::Conv2D<48, 3>, tn::MaxPool2D<2>, tn::BatchNorm, tn::ReLU,  // (48,11,11) -> (48,5,5)
                               tn::Flatten, tn::Dense<128>, tn::BatchNorm, tn::ReLU,         // 1200 -> 128
                               tn::Dense<10>>;
static_assert(FastCnn::parameter_count == 166'074);

namespace {

const std::string usage =
    std::string("usage: mnist_fast [--device cpu|cuda] [--epochs N] [--batch N] [--lr X] [--target X] [--stop yes|no] "
                "[--require X] [--threads N] [--seed N] [--data DIR]\n") +
    example::device_usage +
    "  --epochs   epochs the one-cycle schedule spans, the most that are trained (default 1)\n"
    "  --batch    mini-batch size (default 64)\n"
    "  --lr       Adam's peak learning rate (default 0.01)\n"
    "  --target   test accuracy to reach (default 0.99)\n"
    "  --stop     yes: stop at the first epoch that reaches the target (default); no: train every epoch\n"
    "  --require  exit with status 3 unless an epoch's test accuracy reached this (default: exit 0 either way)\n"
    "  --seed     seed of weight init and shuffling (default 42)\n"
    "  --data     directory holding mnist/ (default $TYPENET_DATA, else the source tree's data/)\n";

/// A fit callback: starts a clock before the first batch, and after each
/// epoch (its test evaluation included) checks the test accuracy against the
/// target; the first epoch that reaches it records the time and, with `stop`,
/// ends training. No batch hooks, so it costs nothing per batch.
struct TimeToAccuracy {
    double target;
    bool stop;
    std::chrono::steady_clock::time_point start{};
    std::size_t reached_epoch = 0;  // 0: not reached
    double seconds = 0.0;           // first batch -> end of reached_epoch
    double best = 0.0;

    template <class C>
    void on_epoch_begin(C& c) {
        if (c.epoch == c.first_epoch) start = std::chrono::steady_clock::now();
    }
    template <class C>
    void on_epoch_end(C& c) {
        const double acc = c.stats().val_accuracy;
        best = std::max(best, acc);
        if (reached_epoch == 0 && acc >= target) {
            reached_epoch = c.epoch;
            seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            if (stop) c.stop_training = true;
        }
    }
};

}  // namespace

int main(int argc, char** argv) try {
    const example::Args args(argc, argv, usage);
    const auto epochs = std::size_t(args.get_int("--epochs", 1));
    const auto batch = std::size_t(args.get_int("--batch", 64));
    const double lr = args.get_double("--lr", 1e-2), target = args.get_double("--target", 0.99);
    const double require = args.get_double("--require", -1.0);
    const char* env = std::getenv("TYPENET_DATA");
    const std::filesystem::path root = args.get("--data", env && *env ? env : TYPENET_EXAMPLE_DATA_DIR);
    const tn::Split mnist = tn::load_mnist(root / "mnist");
    std::cout << "MNIST: " << mnist.train.size() << " training and " << mnist.test.size() << " test images from "
              << (root / "mnist").string() << "\n";

    // The same code for every backend: `backend` is a tn::Cpu or a tn::Cuda.
    const double best = example::with_device(args, [&](auto backend, const std::string& device) {
        tn::Model<FastCnn, decltype(backend)> model{std::uint64_t(args.get_int("--seed", 42)), backend};
        std::cout << tn::summary(model) << device << "; Adam, one-cycle to lr " << lr << " over " << epochs
                  << (epochs == 1 ? " epoch" : " epochs") << "; batch " << batch << "\n";

        tn::Adam opt{{.learning_rate = lr}};  // the one-cycle's peak
        TimeToAccuracy clock{.target = target, .stop = args.get("--stop", "yes") != "no"};
        const auto history = tn::fit(model, opt, tn::SoftmaxCrossEntropy<10>{}, mnist.train,
                                     {.epochs = epochs, .batch_size = batch, .validation = &mnist.test},
                                     tn::per_batch(tn::OneCycle{}), clock);

        if (clock.reached_epoch > 0)
            std::cout << "reached " << target * 100 << "% test accuracy after " << clock.reached_epoch << " epoch"
                      << (clock.reached_epoch == 1 ? "" : "s") << " in " << clock.seconds << " s\n";
        else
            std::cout << "did not reach " << target * 100 << "% test accuracy in " << epochs << " epoch"
                      << (epochs == 1 ? "" : "s") << "; best " << clock.best * 100 << "%\n";
        std::cout << "final test accuracy " << history.last().val_accuracy * 100 << "% after "
                  << history.epochs.size() << " epoch" << (history.epochs.size() == 1 ? "" : "s") << ", "
                  << history.total_seconds() << " s of training\n";
        return clock.best;
    });
    if (require >= 0.0 && best < require) {
        std::cerr << "error: the best test accuracy, " << best * 100 << "%, is below --require " << require * 100
                  << "%\n";
        return 3;
    }
    return 0;
} catch (const typenet::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
}
