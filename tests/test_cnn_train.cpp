// Training tests of convolutional networks on the CPU: overfitting images
// read from IDX files, and bit-for-bit determinism with a seed.
#include <typenet/backend/cpu/cpu.hpp>
#include <typenet/data/idx.hpp>
#include <typenet/data/mnist.hpp>
#include <typenet/layers/activation.hpp>
#include <typenet/layers/conv2d.hpp>
#include <typenet/layers/dense.hpp>
#include <typenet/layers/dropout.hpp>
#include <typenet/layers/flatten.hpp>
#include <typenet/layers/pool2d.hpp>
#include <typenet/losses/softmax_cross_entropy.hpp>
#include <typenet/model/model.hpp>
#include <typenet/optim/rmsprop.hpp>
#include <typenet/train/fit.hpp>

#include <gtest/gtest.h>

#include <filesystem>

namespace tn = typenet;
namespace fs = std::filesystem;

namespace {
// 28x28 byte images of 10 classes: class c is a bright 3-pixel-wide stroke
// whose position and orientation depend on c, shifted by up to one pixel,
// over byte noise - MNIST's format and size, a problem a small CNN can learn.
void write_stroke_images(const fs::path& dir, std::size_t n, std::uint64_t seed) {
    tn::Rng rng(seed);
    std::vector<std::uint8_t> pixels(n * 28 * 28), labels(n);
    for (std::size_t i = 0; i < n; ++i) {
        const int c = int(i % 10);
        labels[i] = std::uint8_t(c);
        const int dx = int(rng.below(3)) - 1, dy = int(rng.below(3)) - 1;
        std::uint8_t* img = pixels.data() + i * 784;
        for (std::size_t p = 0; p < 784; ++p) img[p] = std::uint8_t(rng.below(60));
        for (int t = 4; t < 24; ++t)
            for (int w = 0; w < 3; ++w) {
                int r = 0, q = 0;
                if (c < 5) r = 3 + 5 * c + w + dy, q = t + dx;   // horizontal strokes at 5 heights
                else r = t + dy, q = 3 + 5 * (c - 5) + w + dx;  // vertical strokes at 5 columns
                if (r >= 0 && r < 28 && q >= 0 && q < 28) img[r * 28 + q] = 255;
            }
    }
    tn::write_idx(dir / "images-idx3-ubyte", {std::uint32_t(n), 28, 28}, pixels);
    tn::write_idx(dir / "labels-idx1-ubyte", {std::uint32_t(n)}, labels);
}

struct TempDir {
    fs::path path = fs::temp_directory_path() / ("typenet-cnn-" + std::to_string(::getpid()));
    TempDir() { fs::create_directories(path); }
    ~TempDir() { fs::remove_all(path); }
};

using SmallCnn = tn::Sequential<tn::Input<1, 28, 28>, tn::Conv2D<8, 3>, tn::ReLU, tn::MaxPool2D<2>, tn::Conv2D<16, 3>,
                                tn::ReLU, tn::MaxPool2D<2>, tn::Flatten, tn::Dropout<0.2>, tn::Dense<10>>;
}  // namespace

TEST(CnnTraining, OverfitsAFewHundredIdxImages) {
    TempDir dir;
    write_stroke_images(dir.path, 300, 1);
    const auto data = tn::load_idx_dataset<float>(dir.path / "images-idx3-ubyte", dir.path / "labels-idx1-ubyte", 10,
                                                  "stroke images");
    ASSERT_EQ(data.size(), 300u);
    tn::Model<SmallCnn> model{5, tn::Cpu{2}};
    tn::RMSprop opt{{.learning_rate = 2e-3}};
    const auto h = tn::fit(model, opt, tn::SoftmaxCrossEntropy<10>{}, data,
                           {.epochs = 15, .batch_size = 32, .verbose = tn::Verbosity::silent});
    EXPECT_GE(h.last().accuracy, 0.99);
    EXPECT_GE(tn::evaluate(model, data).accuracy, 0.99);
}

TEST(CnnTraining, SameSeedAndThreadsGiveBitIdenticalWeights) {
    TempDir dir;
    write_stroke_images(dir.path, 200, 2);
    const auto data = tn::load_idx_dataset<float>(dir.path / "images-idx3-ubyte", dir.path / "labels-idx1-ubyte", 10,
                                                  "stroke images");
    auto train = [&] {
        tn::Model<SmallCnn> model{9, tn::Cpu{2}};
        tn::RMSprop opt;
        tn::fit(model, opt, tn::SoftmaxCrossEntropy<10>{}, data,
                {.epochs = 1, .batch_size = 16, .verbose = tn::Verbosity::silent});
        return model.parameters().to_host();
    };
    const auto a = train(), b = train();
    ASSERT_EQ(a.size(), b.size());
    EXPECT_TRUE(a == b) << "two runs with the same seed and thread count must agree bit for bit";
}
