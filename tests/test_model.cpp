// Tests of model/: Sequential composition, the flat parameter layout, whole-
// network gradients, summary, determinism.
#include <typenet/backend/cpu/cpu.hpp>
#include <typenet/layers/activation.hpp>
#include <typenet/layers/dense.hpp>
#include <typenet/model/model.hpp>
#include <typenet/model/sequential.hpp>
#include <typenet/model/summary.hpp>
#include <typenet/testing/gradcheck.hpp>

#include <gtest/gtest.h>

#include <type_traits>

namespace tn = typenet;
namespace tt = typenet::testing;

// The reference articles' MLPs.
using Mlp = tn::Sequential<tn::Input<784>, tn::Dense<70>, tn::Sigmoid, tn::Dense<30>, tn::Sigmoid, tn::Dense<10>>;
using Wide = tn::Sequential<tn::Input<784>, tn::Dense<512>, tn::ReLU, tn::Dense<10>, tn::Softmax>;
static_assert(Mlp::parameter_count == 57'390);
static_assert(Wide::parameter_count == 407'050);
static_assert(std::is_same_v<Mlp::output_shape, tn::Shape<10>>);
static_assert(std::is_same_v<Mlp::layer<1>::input_shape, tn::Shape<70>>);
static_assert(Mlp::layer_count == 5);

TEST(Sequential, SegmentsNamedLikePyTorch) {
    tn::Model<Mlp> m{1};
    const auto& s = m.segments();
    ASSERT_EQ(s.size(), 6u);
    EXPECT_EQ(s[0].name, "0.weight");
    EXPECT_TRUE((s[0].dims == tn::Dims{70, 784}));
    EXPECT_EQ(s[1].name, "0.bias");
    EXPECT_EQ(s[2].name, "2.weight");
    EXPECT_EQ(s[4].name, "4.weight");
    EXPECT_EQ(s[5].offset + s[5].size, Mlp::parameter_count);
    EXPECT_EQ(s[2].offset, 70u * 784 + 70);
}

TEST(Model, WholeNetworkGradients) {
    using Net = tn::Sequential<tn::Input<6>, tn::Dense<5>, tn::Tanh, tn::Dense<4>, tn::Sigmoid, tn::Dense<3>, tn::Softmax>;
    const auto r = tt::check_network_gradients<Net>({.batch = 4});
    EXPECT_LT(r.max_error(), 1e-6) << r.worst;
    EXPECT_GT(r.checked, 50u);
}

TEST(Model, SameSeedSameWeightsOtherSeedOther) {
    tn::Model<Mlp> a{7}, b{7}, c{8};
    EXPECT_EQ(a.parameters().to_host(), b.parameters().to_host());
    EXPECT_NE(a.parameters().to_host(), c.parameters().to_host());
    c.initialize(7);
    EXPECT_EQ(a.parameters().to_host(), c.parameters().to_host()) << "initialize(seed) resets to a fresh model";
}

TEST(Model, ReserveAllocatesOnlyWhenGrowing) {
    tn::Model<Mlp> m{1};
    std::vector<float> x(64 * 784, 0.5f);
    const float* y1 = m.forward(x.data(), 64, false);
    const float* y2 = m.forward(x.data(), 32, false);
    EXPECT_EQ(y1, y2) << "a smaller batch reuses the activation buffers";
    EXPECT_EQ(m.capacity(), 64u);
    EXPECT_THROW(m.forward(x.data(), 0, false), tn::ArgumentError);
}

TEST(Model, LayerOutputsAreInspectable) {
    tn::Model<Mlp> m{1};
    std::vector<float> x(2 * 784, 0.1f);
    m.forward(x.data(), 2, false);
    const auto h = m.layer_output(1);  // after the first Sigmoid
    EXPECT_TRUE((h.dims == tn::Dims{2, 70}));
    for (std::size_t i = 0; i < h.size(); ++i) {
        EXPECT_GT(h.data[i], 0.0f);
        EXPECT_LT(h.data[i], 1.0f);
    }
    EXPECT_THROW(m.layer_output(5), tn::ArgumentError);
}

TEST(Summary, ListsLayersShapesAndTotals) {
    tn::Model<Mlp> m{1};
    const std::string s = tn::summary(m);
    EXPECT_NE(s.find("Dense<70>"), std::string::npos) << s;
    EXPECT_NE(s.find("(N, 30)"), std::string::npos) << s;
    EXPECT_NE(s.find("54,950"), std::string::npos) << s;
    EXPECT_NE(s.find("Total parameters: 57,390"), std::string::npos) << s;
    EXPECT_EQ(tn::Model<Mlp>::layer_names()[1], "Sigmoid");
}

TEST(Cpu, ThreadCountIsValidated) {
    EXPECT_THROW(tn::Cpu{0}, tn::ArgumentError);
    EXPECT_EQ(tn::Cpu{2}.threads(), 2);
    EXPECT_GE(tn::Cpu{}.threads(), 1);
}
