// On-the-fly augmentation (core/augment.hpp, augment_images, fit's
// opts.augment): a fixed seed gives fixed images, every transform keeps the
// value range and the labels, the CPU op matches a plain scalar reference,
// and a resumed run with augmentation equals the uninterrupted one.
#include <typenet/backend/cpu/cpu.hpp>
#include <typenet/layers/activation.hpp>
#include <typenet/layers/conv2d.hpp>
#include <typenet/layers/dense.hpp>
#include <typenet/layers/flatten.hpp>
#include <typenet/layers/pool2d.hpp>
#include <typenet/losses/softmax_cross_entropy.hpp>
#include <typenet/model/model.hpp>
#include <typenet/optim/adam.hpp>
#include <typenet/train/fit.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <unistd.h>
#include <vector>

namespace tn = typenet;

namespace {

constexpr std::size_t H = 12, W = 10;

// n random images (n, c, H, W) with values in [lo, hi].
std::vector<float> images(std::size_t n, std::size_t c, float lo, float hi, std::uint64_t seed = 3) {
    tn::Rng rng(seed);
    std::vector<float> v(n * c * H * W);
    for (auto& x : v) x = float(rng.uniform(lo, hi));
    return v;
}

std::vector<float> augmented(const std::vector<float>& src, std::size_t n, std::size_t c, const tn::Augmentation& a,
                             std::uint64_t seed, int threads = 2) {
    std::vector<float> dst(src.size(), -99.0f);
    augment_images(tn::Cpu{threads}, n, c, H, W, src.data(), dst.data(), a, seed);
    return dst;
}

// A plain reference for one sample: the same drawn transform (the draw is
// the contract), the mapping and bilinear interpolation written out in double.
float reference_pixel(const float* img, const tn::AugmentDraw& d, float fill, int y, int x) {
    if (d.cut_x >= 0 && x >= d.cut_x && x < d.cut_x + d.cut_size && y >= d.cut_y && y < d.cut_y + d.cut_size) return fill;
    const int xs = x - d.shift_x, ys = y - d.shift_y;
    const double cx = (W - 1) / 2.0, cy = (H - 1) / 2.0;
    double sx = cx + d.m00 * (xs - cx) + d.m01 * (ys - cy);
    const double sy = cy + d.m10 * (xs - cx) + d.m11 * (ys - cy);
    if (d.flip) sx = (W - 1) - sx;
    const auto at = [&](int yy, int xx) -> double {
        return xx >= 0 && xx < int(W) && yy >= 0 && yy < int(H) ? img[yy * int(W) + xx] : fill;
    };
    const int x0 = int(std::floor(sx)), y0 = int(std::floor(sy));
    const double ax = sx - x0, ay = sy - y0;
    return float((1 - ay) * ((1 - ax) * at(y0, x0) + ax * at(y0, x0 + 1)) +
                 ay * ((1 - ax) * at(y0 + 1, x0) + ax * at(y0 + 1, x0 + 1)));
}

const tn::Augmentation every_transform{.max_shift = 2,
                                       .max_rotation = 15,
                                       .min_scale = 0.85f,
                                       .max_scale = 1.15f,
                                       .cutout = 4,
                                       .cutout_probability = 0.5f,
                                       .horizontal_flip = true};

}  // namespace

TEST(Augment, DefaultSettingsAreOff) {
    EXPECT_FALSE(tn::Augmentation{}.enabled());
    EXPECT_FALSE(tn::FitOptions{}.augment.enabled());
    EXPECT_TRUE(tn::Augmentation{.max_shift = 1}.enabled());
    EXPECT_TRUE(tn::Augmentation{.horizontal_flip = true}.enabled());
    EXPECT_FALSE((tn::Augmentation{.cutout = 3, .cutout_probability = 0}.enabled()));
}

TEST(Augment, IdentitySettingsCopyExactly) {
    const auto src = images(5, 2, -1.0f, 1.0f);
    EXPECT_EQ(augmented(src, 5, 2, {}, 1), src);
    // Scale range [1, 1] and zero rotation are the identity too.
    EXPECT_EQ(augmented(src, 5, 2, {.max_rotation = 0, .min_scale = 1, .max_scale = 1}, 9), src);
}

TEST(Augment, AFixedSeedGivesFixedImagesAndAnotherSeedOthers) {
    const auto src = images(64, 1, 0.0f, 1.0f);
    const auto a = augmented(src, 64, 1, every_transform, 42), b = augmented(src, 64, 1, every_transform, 42);
    EXPECT_EQ(a, b);
    EXPECT_NE(a, augmented(src, 64, 1, every_transform, 43));
    // One thread or two: the same images (64 samples is above the parallel threshold).
    EXPECT_EQ(augmented(src, 64, 1, every_transform, 42, 1), a);
    // Each sample draws its own transform: two copies of one image differ.
    std::vector<float> twins(2 * H * W);
    std::copy_n(src.begin(), H * W, twins.begin());
    std::copy_n(src.begin(), H * W, twins.begin() + H * W);
    const auto t = augmented(twins, 2, 1, every_transform, 42);
    EXPECT_FALSE(std::equal(t.begin(), t.begin() + H * W, t.begin() + H * W));
}

// A share of a batch (one rank's, in data-parallel fit) augmented from
// first_sample on gets the transforms those samples get in the whole batch.
TEST(Augment, AShareFromFirstSampleGetsTheWholeBatchsTransforms) {
    const auto src = images(64, 1, 0.0f, 1.0f);
    const auto whole = augmented(src, 64, 1, every_transform, 42);
    const std::size_t image = H * W, from = 21, count = 30;
    std::vector<float> share(count * image, -99.0f);
    augment_images(tn::Cpu{2}, count, 1, H, W, src.data() + from * image, share.data(), every_transform, 42, from);
    EXPECT_TRUE(std::equal(share.begin(), share.end(), whole.begin() + from * image));
    // Without the offset the share draws as the batch's first samples: other images.
    augment_images(tn::Cpu{2}, count, 1, H, W, src.data() + from * image, share.data(), every_transform, 42);
    EXPECT_FALSE(std::equal(share.begin(), share.end(), whole.begin() + from * image));
}

TEST(Augment, MatchesAPlainReference) {
    const std::size_t n = 40, c = 2;
    const auto src = images(n, c, 0.0f, 1.0f);
    const float fill = -0.5f;
    tn::Augmentation a = every_transform;
    a.fill = fill;
    const auto out = augmented(src, n, c, a, 7);
    for (std::size_t i = 0; i < n; ++i) {
        const tn::AugmentDraw d = tn::augment_draw(a, 7, i, H, W);
        for (std::size_t ch = 0; ch < c; ++ch)
            for (int y = 0; y < int(H); ++y)
                for (int x = 0; x < int(W); ++x) {
                    const std::size_t at = (i * c + ch) * H * W + std::size_t(y) * W + std::size_t(x);
                    ASSERT_NEAR(out[at], reference_pixel(src.data() + (i * c + ch) * H * W, d, fill, y, x), 2e-6f)
                        << "sample " << i << " channel " << ch << " y " << y << " x " << x;
                }
    }
}

TEST(Augment, AWholePixelShiftIsExact) {
    const std::size_t n = 30;
    const auto src = images(n, 1, 0.1f, 1.0f);
    const tn::Augmentation a{.max_shift = 3, .fill = 0.0f};
    const auto out = augmented(src, n, 1, a, 11);
    std::size_t moved = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const tn::AugmentDraw d = tn::augment_draw(a, 11, i, H, W);
        ASSERT_LE(std::abs(d.shift_x), 3);
        ASSERT_LE(std::abs(d.shift_y), 3);
        ASSERT_FALSE(d.warp);
        moved += d.shift_x != 0 || d.shift_y != 0;
        for (int y = 0; y < int(H); ++y)
            for (int x = 0; x < int(W); ++x) {
                const int sy = y - d.shift_y, sx = x - d.shift_x;
                const float want = sy >= 0 && sy < int(H) && sx >= 0 && sx < int(W) ? src[i * H * W + std::size_t(sy * int(W) + sx)] : 0.0f;
                ASSERT_EQ(out[i * H * W + std::size_t(y * int(W) + x)], want) << "sample " << i;
            }
    }
    EXPECT_GT(moved, n / 2) << "most samples move";
}

TEST(Augment, AFlipMirrorsAboutHalfTheSamples) {
    const std::size_t n = 200;
    const auto src = images(n, 1, 0.0f, 1.0f);
    const auto out = augmented(src, n, 1, {.horizontal_flip = true}, 5);
    std::size_t flipped = 0;
    for (std::size_t i = 0; i < n; ++i) {
        bool same = true, mirrored = true;
        for (std::size_t y = 0; y < H; ++y)
            for (std::size_t x = 0; x < W; ++x) {
                const float o = out[i * H * W + y * W + x];
                same = same && o == src[i * H * W + y * W + x];
                mirrored = mirrored && o == src[i * H * W + y * W + (W - 1 - x)];
            }
        ASSERT_TRUE(same != mirrored) << "sample " << i << " is either itself or its mirror image";
        flipped += mirrored;
    }
    EXPECT_GT(flipped, n / 4);
    EXPECT_LT(flipped, 3 * n / 4);
}

TEST(Augment, CutoutSetsOneSquareToFill) {
    const std::size_t n = 50, side = 4;
    const auto src = images(n, 3, 0.1f, 1.0f);
    const tn::Augmentation a{.cutout = side, .cutout_probability = 1, .fill = -1.0f};
    const auto out = augmented(src, n, 3, a, 13);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t ch = 0; ch < 3; ++ch) {
            std::size_t filled = 0, first = H * W, last = 0;
            for (std::size_t p = 0; p < H * W; ++p) {
                const std::size_t at = (i * 3 + ch) * H * W + p;
                if (out[at] == -1.0f) {
                    ++filled;
                    first = std::min(first, p);
                    last = std::max(last, p);
                } else {
                    ASSERT_EQ(out[at], src[at]) << "outside the square the image is untouched";
                }
            }
            ASSERT_EQ(filled, side * side) << "sample " << i << ": a whole square inside the image";
            ASSERT_EQ(last - first, (side - 1) * W + side - 1) << "sample " << i << ": the filled pixels form a square";
        }
    // With probability 0 nothing is cut.
    EXPECT_EQ(augmented(src, n, 3, {.cutout = side, .cutout_probability = 0, .fill = -1.0f}, 13), src);
}

TEST(Augment, EveryTransformKeepsTheValueRange) {
    const std::size_t n = 64;
    const auto src = images(n, 1, 0.25f, 0.75f);
    const tn::Augmentation settings[] = {{.max_shift = 3},
                                         {.max_rotation = 30},
                                         {.min_scale = 0.7f, .max_scale = 1.3f},
                                         {.cutout = 5},
                                         {.horizontal_flip = true},
                                         every_transform};
    for (float fill : {0.0f, 1.0f, 0.5f}) {
        for (tn::Augmentation a : settings) {
            a.fill = fill;
            const auto out = augmented(src, n, 1, a, 17);
            const float lo = std::min(0.25f, fill), hi = std::max(0.75f, fill);
            for (float v : out) {
                ASSERT_GE(v, lo);
                ASSERT_LE(v, hi);
            }
        }
    }
    // A constant image stays constant under rotation and scale with a like fill.
    std::vector<float> flat(n * H * W, 0.3f);
    EXPECT_EQ(augmented(flat, n, 1, {.max_rotation = 20, .min_scale = 0.8f, .max_scale = 1.2f, .fill = 0.3f}, 3), flat);
}

TEST(Augment, BadSettingsAreRefusedWithTheirName) {
    const auto expect_error = [](tn::Augmentation a, const char* text) {
        try {
            tn::detail::check_augmentation(a, H, W, "fit");
            ADD_FAILURE() << "no error for " << text;
        } catch (const tn::ArgumentError& e) {
            EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
        }
    };
    expect_error({.max_rotation = 200}, "max_rotation must be in [0, 180]");
    expect_error({.min_scale = 1.2f, .max_scale = 1.1f}, "0 < min_scale <= max_scale");
    expect_error({.cutout = 11}, "cutout side 11 is larger than the 12x10 image");
    expect_error({.cutout = 2, .cutout_probability = 2}, "cutout_probability must be in [0, 1]");
}

// --- through fit ---------------------------------------------------------------------

namespace {

// Three channels, one of which holds the image: the label is that channel,
// which no transform can change (with fill 0 a channel that is zero stays
// zero, and the other keeps a positive mean unless cut or shifted away).
tn::Dataset channel_set(std::size_t n) {
    tn::Dataset d{tn::Tensor<float>(tn::Dims{n, 3 * H * W}), std::vector<std::int32_t>(n), 3, "channels"};
    tn::Rng rng(21);
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t label = i % 3;
        d.labels[i] = std::int32_t(label);
        for (std::size_t p = 0; p < 3 * H * W; ++p)
            d.images.data()[i * 3 * H * W + p] = p / (H * W) == label ? float(rng.uniform(0.5, 1.0)) : 0.0f;
    }
    return d;
}

using MeansNet = tn::Sequential<tn::Input<3, H, W>, tn::GlobalAvgPool2D, tn::Dense<3>>;
using MeansModel = tn::Model<MeansNet>;

// Softmax cross-entropy that also checks, per sample, that the label it is
// given is the one channel with a positive mean in the augmented input
// (layer 0's output), and records the labels.
struct CheckingLoss {
    static constexpr std::size_t width = 3;
    static constexpr const char* name = "checking";
    MeansModel* model;
    std::vector<std::int32_t>* seen;
    std::size_t* mismatches;
    void operator()(tn::Cpu& be, std::size_t n, std::size_t cols, const float* out, const std::int32_t* labels,
                    float* grad, float scale, double* acc) const {
        if (grad) {  // training batches only
            const auto means = model->layer_output(0);
            for (std::size_t i = 0; i < n; ++i) {
                seen->push_back(labels[i]);
                for (std::size_t ch = 0; ch < 3; ++ch)
                    if ((means.data[i * 3 + ch] > 0) != (std::int32_t(ch) == labels[i])) ++*mismatches;
            }
        }
        tn::SoftmaxCrossEntropy<3>{}(be, n, cols, out, labels, grad, scale, acc);
    }
};

}  // namespace

TEST(AugmentFit, LabelsReachTheLossUnchanged) {
    const auto d = channel_set(90);
    const tn::Augmentation a{.max_shift = 2, .max_rotation = 20, .min_scale = 0.9f, .max_scale = 1.1f,
                             .cutout = 3, .horizontal_flip = true};
    std::vector<std::int32_t> plain_labels, augmented_labels;
    std::size_t mismatches = 0;
    {
        MeansModel m{4, tn::Cpu{1}};
        tn::fit(m, tn::Adam{}, CheckingLoss{&m, &plain_labels, &mismatches}, d,
                {.epochs = 1, .batch_size = 16, .verbose = tn::Verbosity::silent});
    }
    {
        MeansModel m{4, tn::Cpu{1}};
        tn::fit(m, tn::Adam{}, CheckingLoss{&m, &augmented_labels, &mismatches}, d,
                {.epochs = 2, .batch_size = 16, .verbose = tn::Verbosity::silent, .augment = a});
    }
    EXPECT_EQ(mismatches, 0u);
    ASSERT_EQ(augmented_labels.size(), 2 * d.size());
    // The first epoch's order is the same shuffle: the same labels in the same order.
    EXPECT_TRUE(std::equal(plain_labels.begin(), plain_labels.end(), augmented_labels.begin()));
}

TEST(AugmentFit, OffLeavesTheRunUnchangedAndOnChangesIt) {
    const auto d = channel_set(60);
    const auto run = [&](tn::Augmentation a) {
        MeansModel m{4, tn::Cpu{1}};
        tn::fit(m, tn::Adam{}, tn::SoftmaxCrossEntropy<3>{}, d,
                {.epochs = 2, .batch_size = 16, .verbose = tn::Verbosity::silent, .augment = a});
        return m.parameters().to_host();
    };
    MeansModel m{4, tn::Cpu{1}};
    tn::fit(m, tn::Adam{}, tn::SoftmaxCrossEntropy<3>{}, d, {.epochs = 2, .batch_size = 16, .verbose = tn::Verbosity::silent});
    EXPECT_EQ(run({}), m.parameters().to_host());
    EXPECT_EQ(run({.max_shift = 2}), run({.max_shift = 2}));
    EXPECT_NE(run({.max_shift = 2}), m.parameters().to_host());
}

TEST(AugmentFit, NeedsAnImageInput) {
    using Mlp = tn::Sequential<tn::Input<4>, tn::Dense<2>>;
    tn::Model<Mlp> m{1, tn::Cpu{1}};
    tn::Dataset d{tn::Tensor<float>(tn::Dims{8, 4}), std::vector<std::int32_t>(8, 0), 2, "flat"};
    d.images.zero();
    try {
        tn::fit(m, tn::Adam{}, tn::SoftmaxCrossEntropy<2>{}, d,
                {.batch_size = 4, .verbose = tn::Verbosity::silent, .augment = {.max_shift = 1}});
        ADD_FAILURE() << "no error";
    } catch (const tn::ArgumentError& e) {
        EXPECT_NE(std::string(e.what()).find("opts.augment needs an image input Input<C, H, W>"), std::string::npos)
            << e.what();
    }
}

TEST(AugmentFit, AResumedRunEqualsTheUninterruptedOneBitForBit) {
    using Cnn = tn::Sequential<tn::Input<3, H, W>, tn::Conv2D<4, 3>, tn::ReLU, tn::MaxPool2D<2>, tn::Flatten, tn::Dense<3>>;
    using M = tn::Model<Cnn>;
    const auto d = channel_set(64);
    const auto dir = std::filesystem::path(::testing::TempDir()) / ("typenet_augment_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    tn::FitOptions o{.epochs = 4, .batch_size = 16, .verbose = tn::Verbosity::silent, .augment = every_transform};
    const tn::Adam opt{{.learning_rate = 0.01}};
    M full{7, tn::Cpu{1}};
    const auto hf = tn::fit(full, opt, tn::SoftmaxCrossEntropy<3>{}, d, o);

    o.checkpoint_path = dir / "run.ckpt";
    o.checkpoint_every = 1;
    M first{7, tn::Cpu{1}};
    tn::fit(first, opt, tn::SoftmaxCrossEntropy<3>{}, d, o,
            tn::each_epoch([](auto& c) { c.stop_training = c.stop_training || c.epoch == 2; }));
    M resumed{99, tn::Cpu{1}};
    o.resume = true;
    const auto hr = tn::fit(resumed, opt, tn::SoftmaxCrossEntropy<3>{}, d, o);
    ASSERT_EQ(hr.epochs.size(), 2u);
    EXPECT_EQ(resumed.parameters().to_host(), full.parameters().to_host());
    EXPECT_EQ(hr.epochs[1].loss, hf.epochs[3].loss);
    std::filesystem::remove_all(dir);
}
