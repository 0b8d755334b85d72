// Tests of train/inspect.hpp and viz/: confusion matrix, per-class accuracy
// and mistakes on hand-set models; PNG files that decode with the expected
// sizes; grid layout; Model::backward_from; gradient ascent on the input.
#include <typenet/backend/cpu/cpu.hpp>
#include <typenet/layers/activation.hpp>
#include <typenet/layers/conv2d.hpp>
#include <typenet/layers/dense.hpp>
#include <typenet/layers/flatten.hpp>
#include <typenet/layers/pool2d.hpp>
#include <typenet/model/model.hpp>
#include <typenet/train/inspect.hpp>
#include <typenet/viz/viz.hpp>

#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>

#include <gtest/gtest.h>

#include <filesystem>

namespace tn = typenet;
namespace viz = typenet::viz;
namespace fs = std::filesystem;

namespace {
// Class = argmax of the two inputs: a Dense<2> with identity weights.
using Argmax2 = tn::Sequential<tn::Input<2>, tn::Dense<2>>;
tn::Model<Argmax2> argmax_model() {
    tn::Model<Argmax2> m{1};
    const float w[] = {1, 0, 0, 1, 0, 0};  // weight (2,2) = I, bias 0
    std::copy(std::begin(w), std::end(w), m.parameters().data());
    return m;
}
tn::Dataset points(const std::vector<std::array<float, 2>>& xs, const std::vector<int>& labels) {
    tn::Dataset d;
    d.name = "points";
    d.classes = 2;
    d.images.resize(tn::Dims{xs.size(), 2});
    for (std::size_t i = 0; i < xs.size(); ++i) d.images[2 * i] = xs[i][0], d.images[2 * i + 1] = xs[i][1];
    d.labels.assign(labels.begin(), labels.end());
    return d;
}

using TinyCnn = tn::Sequential<tn::Input<1, 6, 6>, tn::Conv2D<2, 3>, tn::ReLU, tn::MaxPool2D<2>, tn::Flatten,
                               tn::Dense<3>>;
tn::Dataset tiny_images(std::size_t n) {
    tn::Dataset d;
    d.name = "tiny images";
    d.classes = 3;
    d.images.resize(tn::Dims{n, 1, 6, 6});
    tn::Rng rng(5);
    for (std::size_t i = 0; i < d.images.size(); ++i) d.images[i] = float(rng.uniform());
    for (std::size_t i = 0; i < n; ++i) d.labels.push_back(int(i % 3));
    return d;
}

struct Decoded {
    int w = 0, h = 0, channels = 0;
};
Decoded decode(const fs::path& p) {
    Decoded d;
    unsigned char* px = stbi_load(p.string().c_str(), &d.w, &d.h, &d.channels, 0);
    EXPECT_NE(px, nullptr) << p << ": " << stbi_failure_reason();
    stbi_image_free(px);
    return d;
}
fs::path temp_dir() {
    const fs::path d = fs::temp_directory_path() / ("typenet_viz_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
    fs::create_directories(d);
    return d;
}
}  // namespace

// --- PNG and images ----------------------------------------------------------

TEST(Png, WritesFilesThatDecodeWithTheirSizeAndChannels) {
    const auto dir = temp_dir();
    std::vector<std::uint8_t> gray(5 * 3), rgb(4 * 7 * 3, 200);
    for (std::size_t i = 0; i < gray.size(); ++i) gray[i] = std::uint8_t(i * 10);
    viz::write_png(dir / "g.png", 5, 3, 1, gray);
    viz::write_png(dir / "c.png", 4, 7, 3, rgb);
    const auto g = decode(dir / "g.png"), c = decode(dir / "c.png");
    EXPECT_EQ(g.w, 5); EXPECT_EQ(g.h, 3); EXPECT_EQ(g.channels, 1);
    EXPECT_EQ(c.w, 4); EXPECT_EQ(c.h, 7); EXPECT_EQ(c.channels, 3);
    int w, h, ch;
    unsigned char* px = stbi_load((dir / "g.png").string().c_str(), &w, &h, &ch, 0);
    ASSERT_NE(px, nullptr);
    EXPECT_TRUE(std::equal(gray.begin(), gray.end(), px)) << "pixels round-trip exactly";
    stbi_image_free(px);
    for (const auto& e : fs::directory_iterator(dir))
        EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << "temporary file left behind: " << e.path();
    fs::remove_all(dir);
}

TEST(Png, UnwritablePathThrowsIoErrorNamingIt) {
    const fs::path bad = "/nonexistent_typenet_dir/sub/x.png";
    std::vector<std::uint8_t> px(4, 0);
    try {
        viz::write_png(bad, 2, 2, 1, px);
        FAIL() << "expected IoError";
    } catch (const tn::IoError& e) {
        EXPECT_NE(std::string(e.what()).find(bad.string()), std::string::npos) << e.what();
    }
    EXPECT_THROW(viz::write_png("x.png", 2, 2, 1, std::vector<std::uint8_t>(3)), tn::ArgumentError);
    EXPECT_THROW(viz::write_png("x.png", 2, 2, 5, std::vector<std::uint8_t>(20)), tn::ArgumentError);
}

TEST(Image, GridLayoutHasOnePixelGaps) {
    const auto g = viz::grid_layout(5, 4, 3);  // ceil(sqrt(5)) = 3 columns, 2 rows
    EXPECT_EQ(g.columns, 3u); EXPECT_EQ(g.rows, 2u);
    EXPECT_EQ(g.width(), 3u * 5 + 1); EXPECT_EQ(g.height(), 2u * 4 + 1);
    EXPECT_EQ(g.x(4), 1u + 5); EXPECT_EQ(g.y(4), 1u + 4);
    std::vector<viz::Image> tiles(5, viz::Image(4, 3, 1, 255));
    const auto img = viz::grid(tiles);
    EXPECT_EQ(img.width, 16u); EXPECT_EQ(img.height, 9u);
    EXPECT_EQ(img.channels, 3u) << "gray tiles, RGB grid (coloured gaps)";
    EXPECT_EQ(img.at(1, 1)[2], 255); EXPECT_EQ(img.at(1, 1)[0], 255);
    EXPECT_NE(img.at(0, 0)[0], 255); EXPECT_NE(img.at(5, 1)[0], 255) << "gap column";
    EXPECT_EQ(viz::grid_layout(2, 1, 1, 7).columns, 2u) << "never more columns than tiles";
}

TEST(Image, MapsAreStretchedToFullRange) {
    const std::vector<float> v{-2, 0, 2, 6};
    const auto img = viz::normalized_map<float>(v, 2, 2);
    EXPECT_EQ(img.pixels, (std::vector<std::uint8_t>{0, 64, 128, 255}));
    const std::vector<float> flat(4, 3.f);
    EXPECT_EQ(viz::normalized_map<float>(flat, 2, 2).pixels[0], 128) << "a constant map is mid-gray";
    EXPECT_EQ(viz::upscale(img, 3).width, 6u);
}

// --- inspection ----------------------------------------------------------------

TEST(Inspect, ConfusionMatrixPerClassAccuracyAndText) {
    auto m = argmax_model();
    // predictions: 0, 0, 1, 1, 1 ; labels: 0, 1, 1, 1, 0
    const auto d = points({{2, 1}, {3, 0}, {0, 1}, {1, 4}, {0, 5}}, {0, 1, 1, 1, 0});
    const auto cm = tn::confusion_matrix(m, d, 2);  // batches of 2: 3 forward calls
    ASSERT_EQ(cm.classes, 2u);
    EXPECT_EQ(cm(0, 0), 1u); EXPECT_EQ(cm(0, 1), 1u); EXPECT_EQ(cm(1, 0), 1u); EXPECT_EQ(cm(1, 1), 2u);
    EXPECT_DOUBLE_EQ(cm.accuracy(), 3.0 / 5);
    const auto acc = tn::per_class_accuracy(m, d);
    EXPECT_DOUBLE_EQ(acc[0], 0.5); EXPECT_DOUBLE_EQ(acc[1], 2.0 / 3);
    EXPECT_EQ(cm.text(), "true\\pred 0 1\n        0 1 1\n        1 1 2\n");
}

TEST(Inspect, MostConfidentMistakesComeFirst) {
    auto m = argmax_model();
    // wrong: #0 (margin 1), #2 (margin 4), #3 (margin 2); #1 right.
    const auto d = points({{1, 0}, {5, 0}, {0, 4}, {2, 0}}, {1, 0, 0, 1});
    const auto all = tn::most_confident_mistakes(m, d, 10);
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(all[0].index, 2u); EXPECT_EQ(all[1].index, 3u); EXPECT_EQ(all[2].index, 0u);
    EXPECT_EQ(all[0].truth, 0); EXPECT_EQ(all[0].predicted, 1);
    EXPECT_NEAR(all[0].probability, 1 / (1 + std::exp(-4.0)), 1e-6);
    EXPECT_GT(all[1].probability, all[2].probability);
    EXPECT_EQ(tn::most_confident_mistakes(m, d, 1).size(), 1u);
    auto bad = points({{1, 0}}, {7});
    EXPECT_THROW(tn::confusion_matrix(m, bad), tn::ArgumentError) << "label outside the network's classes";
}

// --- backward_from -------------------------------------------------------------

TEST(BackwardFrom, EqualsBackwardFromTheLastLayer) {
    tn::Model<TinyCnn> a{3}, b{3};
    const auto d = tiny_images(4);
    std::vector<float> dout(4 * 3), da(d.images.size()), db(d.images.size());
    for (std::size_t i = 0; i < dout.size(); ++i) dout[i] = float(i % 5) - 2.f;
    a.forward(d.images.data(), 4, true);
    a.backward(dout.data(), da.data());
    b.forward(d.images.data(), 4, true);
    b.backward_from(TinyCnn::layer_count - 1, dout.data(), db.data());
    EXPECT_EQ(da, db);
    EXPECT_EQ(a.gradients().to_host(), b.gradients().to_host());
    EXPECT_THROW(b.backward_from(TinyCnn::layer_count, dout.data(), db.data()), tn::ArgumentError);
}

TEST(BackwardFrom, InnerLayerInputGradientMatchesFiniteDifferences) {
    using Net = tn::Sequential<tn::Input<1, 5, 5>, tn::Conv2D<2, 3>, tn::Tanh, tn::Flatten, tn::Dense<2>>;
    tn::Model<Net, tn::Cpu, double> m{7};
    tn::Rng rng(2);
    std::vector<double> x(25), d(2 * 9), dx(25);
    for (auto& v : x) v = rng.uniform();
    for (auto& v : d) v = rng.uniform(-1, 1);
    // f(x) = sum(d * output of layer 1 (Tanh)); backward_from(1) gives df/dx.
    const auto f = [&](const std::vector<double>& in) {
        m.forward(in.data(), 1, false);
        const auto out = m.layer_output(1);
        double s = 0;
        for (std::size_t i = 0; i < d.size(); ++i) s += d[i] * out.data[i];
        return s;
    };
    f(x);
    m.backward_from(1, d.data(), dx.data());
    for (std::size_t i = 0; i < x.size(); ++i) {
        auto hi = x, lo = x;
        hi[i] += 1e-6, lo[i] -= 1e-6;
        EXPECT_NEAR(dx[i], (f(hi) - f(lo)) / 2e-6, 1e-6) << "input " << i;
    }
}

// --- images of a model ------------------------------------------------------------

TEST(Viz, FeatureMapsAndFiltersGridsDecode) {
    const auto dir = temp_dir();
    tn::Model<TinyCnn> m{3};
    const auto d = tiny_images(1);
    // layer 0: (2, 4, 4) maps, x4 -> 16x16 tiles, 2 columns, 1 row.
    const auto img = viz::feature_maps_png(m, d.sample(0), 0, dir / "maps.png");
    EXPECT_EQ(img.width, 2u * 17 + 1); EXPECT_EQ(img.height, 18u);
    const auto pooled = viz::feature_maps_image(m, d.sample(0), 2, 1);  // (2, 2, 2)
    EXPECT_EQ(pooled.width, 2u * 3 + 1);
    const auto dm = decode(dir / "maps.png");
    EXPECT_EQ(dm.w, 35); EXPECT_EQ(dm.h, 18); EXPECT_EQ(dm.channels, 3);
    // 2 filters of 3x3, x8 -> 24x24 tiles.
    viz::filters_png(m, dir / "filters.png");
    const auto df = decode(dir / "filters.png");
    EXPECT_EQ(df.w, 2 * 25 + 1); EXPECT_EQ(df.h, 26);
    fs::remove_all(dir);
}

TEST(Viz, FeatureMapsRejectBadLayers) {
    tn::Model<TinyCnn> m{3};
    const auto d = tiny_images(1);
    EXPECT_THROW(viz::feature_maps_image(m, d.sample(0), 9), tn::ArgumentError);
    try {
        viz::feature_maps_image(m, d.sample(0), 3);  // Flatten: (1, 8)
        FAIL() << "a flat layer has no maps";
    } catch (const tn::ArgumentError& e) {
        EXPECT_NE(std::string(e.what()).find("layer 3"), std::string::npos) << e.what();
    }
    using Mlp = tn::Sequential<tn::Input<4>, tn::Dense<2>>;
    tn::Model<Mlp> mlp{1};
    EXPECT_THROW(viz::filters_image(mlp), tn::ArgumentError) << "no convolution";
}

TEST(Viz, ConfusionMistakesAndCurvesDecode) {
    const auto dir = temp_dir();
    tn::ConfusionMatrix cm{3, {5, 1, 0, 2, 7, 1, 0, 0, 9}};
    viz::confusion_png(cm, dir / "cm.png");
    const auto dc = decode(dir / "cm.png");
    EXPECT_EQ(dc.w, dc.h); EXPECT_EQ(dc.channels, 3);
    EXPECT_GT(dc.w, 3 * 24);

    const auto data = tiny_images(5);
    const std::vector<tn::Mistake> ms{{4, 1, 2, 0.9}, {0, 0, 1, 0.6}};
    viz::mistakes_png(data, ms, dir / "mistakes.png");
    const auto dm = decode(dir / "mistakes.png");
    EXPECT_EQ(dm.channels, 3); EXPECT_EQ(dm.h, int(1 + 12 + viz::glyph_height + 4 + 1));
    EXPECT_THROW(viz::mistakes_image(data, {{99, 0, 1, 0.5}}), tn::ArgumentError) << "index outside the dataset";

    tn::History h;
    h.epochs.push_back({1, 0.9, 0.7, 0.8, 0.75, 1.0});
    h.epochs.push_back({2, 0.5, 0.85, 0.6, 0.8, 1.0});
    h.epochs.push_back({3, 0.3, 0.9, std::nan(""), std::nan(""), 1.0});
    const auto img = viz::learning_curves_png(h, dir / "curves.png");
    const auto dh = decode(dir / "curves.png");
    EXPECT_EQ(dh.w, int(img.width)); EXPECT_EQ(dh.h, int(img.height)); EXPECT_EQ(dh.channels, 3);
    EXPECT_THROW(viz::learning_curves_image(tn::History{}), tn::ArgumentError);
    fs::remove_all(dir);
}

// --- gradient ascent --------------------------------------------------------------

TEST(Maximize, RaisesTheChosenMapsMeanActivation) {
    tn::Model<TinyCnn> m{3};
    for (std::size_t layer : {0u, 1u, 2u})
        for (std::size_t channel : {0u, 1u}) {
            const auto p = viz::maximize_activation(m, layer, channel, 30, 0.05);
            EXPECT_GT(p.after, p.before) << "layer " << layer << " map " << channel;
            EXPECT_TRUE(std::all_of(p.image.begin(), p.image.end(), [](float v) { return v >= 0 && v <= 1; }));
        }
    const auto p = viz::maximize_activation(m, 4, 2, 10);  // a logit of the output layer
    EXPECT_GT(p.after, p.before);
    EXPECT_EQ(viz::pattern_image<tn::Model<TinyCnn>>(p, 2).width, 12u);
    EXPECT_THROW(viz::maximize_activation(m, 5, 0), tn::ArgumentError) << "no layer 5";
    EXPECT_THROW(viz::maximize_activation(m, 0, 2), tn::ArgumentError) << "layer 0 has maps 0 and 1 only";
}
