// Tests of io/onnx.hpp that need no runtime: the file's structure, export ->
// load round trips, what PyTorch writes besides one node per layer (Reshape,
// Pad, folded BatchNorm, Identity aliases, transB = 0), and every kind of
// malformed or mismatching file giving an IoError that names the node, the
// attribute and the expected value. ONNX Runtime, the onnx checker and
// PyTorch check the files in tests/onnx/ (ctest -R onnx).
#include <typenet/backend/cpu/cpu.hpp>
#include <typenet/core/random.hpp>
#include <typenet/io/onnx.hpp>
#include <typenet/model/model.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "io_test_util.hpp"

namespace tn = typenet;
using io_test::expect_io_error;
using io_test::TempDir;

namespace {

// Every layer typenet has, Same padding at stride 2 (uneven pads) included.
using AllLayers = tn::Sequential<tn::Input<1, 12, 12>, tn::Conv2D<4, 3, 1, tn::Same>, tn::BatchNorm, tn::ELU, tn::Dropout<0.25>,
                                 tn::AvgPool2D<2>, tn::Conv2D<6, 3, 2, tn::Same>, tn::SELU, tn::MaxPool2D<2, 1>,
                                 tn::Conv2DRect<5, 2, 1, 1, 1>, tn::Tanh, tn::GlobalAvgPool2D, tn::Dense<8>, tn::BatchNorm,
                                 tn::Sigmoid, tn::Identity, tn::Dense<3>, tn::ReLU, tn::Flatten, tn::Softmax>;
using Small = tn::Sequential<tn::Input<1, 5, 5>, tn::Conv2D<2, 3>, tn::ReLU, tn::Flatten, tn::Dense<3>>;
using Mlp = tn::Sequential<tn::Input<6>, tn::Dense<4>, tn::Tanh, tn::Dense<2>>;

// Random BatchNorm statistics, so a mixed-up tensor changes the outputs.
template <class M>
void randomize_buffers(M& m, std::uint64_t seed) {
    tn::Rng rng(seed);
    std::vector<float> b(m.buffers().size());
    for (const auto& s : m.buffer_segments())
        for (std::size_t i = 0; i < s.size; ++i)
            b[s.offset + i] = s.name.ends_with("running_var") ? float(0.5 + rng.uniform()) : float(rng.uniform() - 0.5);
    m.buffers().from_host(b);
}

template <class M>
std::vector<float> outputs(M& m, const std::vector<float>& x, std::size_t n) {
    const float* y = m.forward(x.data(), n, false);
    return {y, y + n * M::output_size};
}

std::vector<float> inputs(std::size_t size, std::uint64_t seed) {
    tn::Rng rng(seed);
    std::vector<float> x(size);
    for (auto& v : x) v = float(rng.uniform());
    return x;
}

std::vector<std::string> ops(const tn::onnx::ModelProto& m) {
    std::vector<std::string> v;
    for (const auto& n : m.graph.nodes) v.push_back(n.op_type);
    return v;
}

tn::onnx::Node& node(tn::onnx::ModelProto& m, const std::string& op, std::size_t which = 0) {
    for (auto& n : m.graph.nodes)
        if (n.op_type == op && which-- == 0) return n;
    throw std::runtime_error("no node " + op);
}
tn::onnx::Attribute& attribute(tn::onnx::Node& n, const std::string& name) {
    for (auto& a : n.attributes)
        if (a.name == name) return a;
    throw std::runtime_error("no attribute " + name);
}
tn::onnx::Tensor& initializer(tn::onnx::ModelProto& m, const std::string& name) {
    for (auto& t : m.graph.initializers)
        if (t.name == name) return t;
    throw std::runtime_error("no initializer " + name);
}

// Loads a (modified) model into a fresh Net; returns it to check it is unchanged on error.
template <class Net>
void load(tn::Model<Net>& m, const tn::onnx::ModelProto& proto, const std::string& name = "t.onnx") {
    const auto bytes = tn::onnx::serialize(proto);
    tn::load_onnx(m, std::span<const std::byte>(bytes), name);
}

template <class Net>
void expect_load_error(const tn::onnx::ModelProto& proto, const std::vector<std::string>& expected) {
    tn::Model<Net> m{99};
    const auto before = m.parameters().to_host();
    expect_io_error([&] { load(m, proto); }, expected);
    EXPECT_EQ(m.parameters().to_host(), before) << "a failed load must leave the model unchanged";
}

std::vector<std::byte> bytes_of(std::initializer_list<int> v) {
    std::vector<std::byte> b;
    for (int x : v) b.push_back(std::byte(x));
    return b;
}

}  // namespace

TEST(Onnx, ExportWritesOneNodePerLayerWithInitializersAndSymbolicBatch) {
    tn::Model<AllLayers> m{1};
    const auto bytes = tn::onnx_bytes(m);
    const auto p = tn::onnx::parse(bytes, "x.onnx");
    EXPECT_EQ(p.ir_version, 7);
    ASSERT_EQ(p.opsets.size(), 1u);
    EXPECT_EQ(p.opsets[0], (std::pair<std::string, std::int64_t>{"", 13}));
    EXPECT_EQ(p.producer_name, "typenet");
    // Dropout and Identity write nothing; GlobalAvgPool2D is GlobalAveragePool + Flatten.
    EXPECT_EQ(ops(p), (std::vector<std::string>{"Conv", "BatchNormalization", "Elu", "AveragePool", "Conv", "Selu", "MaxPool",
                                                "Conv", "Tanh", "GlobalAveragePool", "Flatten", "Gemm", "BatchNormalization",
                                                "Sigmoid", "Gemm", "Relu", "Flatten", "Softmax"}));
    ASSERT_EQ(p.graph.inputs.size(), 1u);
    const auto& in = p.graph.inputs[0];
    EXPECT_EQ(in.name, "input");
    EXPECT_EQ(in.elem_type, tn::onnx::FLOAT);
    ASSERT_EQ(in.dims.size(), 4u);
    EXPECT_EQ(in.dims[0].value, -1);
    EXPECT_EQ(in.dims[0].param, "N");
    EXPECT_EQ(in.dims[2].value, 12);
    EXPECT_EQ(p.graph.outputs.at(0).name, "output");
    EXPECT_EQ(p.graph.nodes.back().outputs.at(0), "output");
    // Weights under the safetensors names, in PyTorch layouts.
    auto copy = p;
    EXPECT_EQ(initializer(copy, "0.weight").dims, (std::vector<std::int64_t>{4, 1, 3, 3}));
    EXPECT_EQ(initializer(copy, "1.running_var").dims, (std::vector<std::int64_t>{4}));
    EXPECT_EQ(initializer(copy, "11.weight").dims, (std::vector<std::int64_t>{8, 5}));
    // Same padding at stride 2 on 6x6: out 3, the windows span 7, the odd row and column go bottom / right.
    EXPECT_EQ(attribute(node(copy, "Conv", 1), "pads").ints, (std::vector<std::int64_t>{0, 0, 1, 1}));
    EXPECT_EQ(attribute(node(copy, "Conv", 0), "pads").ints, (std::vector<std::int64_t>{1, 1, 1, 1}));
    EXPECT_EQ(attribute(node(copy, "Conv", 2), "kernel_shape").ints, (std::vector<std::int64_t>{2, 1}));
    EXPECT_NEAR(attribute(node(copy, "Selu"), "gamma").f, 1.0507009873554805, 1e-7);
    EXPECT_EQ(attribute(node(copy, "MaxPool"), "strides").ints, (std::vector<std::int64_t>{1, 1}));
}

TEST(Onnx, ExportThenLoadRestoresEveryWeightAndOutput) {
    tn::Model<AllLayers> a{1};
    randomize_buffers(a, 5);
    TempDir dir;
    tn::export_onnx(a, dir / "all.onnx");
    tn::Model<AllLayers> b{2};
    const auto report = tn::load_onnx(b, dir / "all.onnx");
    EXPECT_EQ(report.opset, 13);
    EXPECT_EQ(report.producer, "typenet 0.1.0");
    EXPECT_TRUE(report.notes.empty());
    EXPECT_EQ(b.parameters().to_host(), a.parameters().to_host());
    EXPECT_EQ(b.buffers().to_host(), a.buffers().to_host());
    const auto x = inputs(3 * 144, 7);
    EXPECT_EQ(outputs(b, x, 3), outputs(a, x, 3));
    EXPECT_EQ(dir.files(), std::vector<std::string>{"all.onnx"}) << "no temporary file is left behind";
}

TEST(Onnx, DoubleModelsExportFloatAndLoadFloatOrDouble) {
    tn::Model<Mlp, tn::Cpu, double> d{3};
    auto p = tn::onnx_model(d);
    EXPECT_EQ(initializer(p, "0.weight").data_type, tn::onnx::FLOAT);
    tn::Model<Mlp> f{4};
    load(f, p);
    const auto want = d.parameters().to_host();
    const auto got = f.parameters().to_host();
    for (std::size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got[i], float(want[i]));
    // A DOUBLE initializer (what PyTorch writes for a double model) loads exactly into a double model.
    auto& w = initializer(p, "0.weight");
    std::vector<double> values(w.elements());
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = want[i] + 1e-12;
    w.data_type = tn::onnx::DOUBLE;
    w.raw.resize(values.size() * 8);
    std::memcpy(w.raw.data(), values.data(), w.raw.size());
    tn::Model<Mlp, tn::Cpu, double> d2{5};
    tn::load_onnx(d2, std::span<const std::byte>(tn::onnx::serialize(p)), "d.onnx");
    EXPECT_EQ(d2.parameters().to_host()[0], values[0]);
}

TEST(Onnx, AppendSoftmaxAddsANodeAndIsRefusedWhereItMakesNoSense) {
    tn::Model<Small> m{1};
    auto p = tn::onnx_model(m, {.append_softmax = true});
    EXPECT_EQ(ops(p).back(), "Softmax");
    EXPECT_EQ(p.graph.nodes.back().outputs[0], "output");
    tn::Model<Small> back{2};
    load(back, p);  // the final Softmax is accepted and reported
    EXPECT_EQ(back.parameters().to_host(), m.parameters().to_host());

    tn::Model<AllLayers> ends_in_softmax{1};
    EXPECT_THROW((void)tn::onnx_model(ends_in_softmax, {.append_softmax = true}), tn::ArgumentError);
    tn::Model<tn::Sequential<tn::Input<1, 4, 4>, tn::Conv2D<2, 3>>> image_out{1};
    EXPECT_THROW((void)tn::onnx_model(image_out, {.append_softmax = true}), tn::ArgumentError);
}

TEST(Onnx, ExportIsAtomicAndNamesTheFileOnFailure) {
    TempDir dir;
    tn::Model<Small> m{1};
    expect_io_error([&] { tn::export_onnx(m, dir / "missing-dir" / "m.onnx"); }, {"export_onnx('", "m.onnx"});
    io_test::write_raw(dir / "m.onnx", "old");
    tn::export_onnx(m, dir / "m.onnx");
    EXPECT_EQ(io_test::read_raw(dir / "m.onnx").size(), tn::onnx_bytes(m).size());
    EXPECT_EQ(dir.files(), std::vector<std::string>{"m.onnx"});
}

// --- what torch.onnx.export writes ------------------------------------------

TEST(Onnx, AcceptsReshapeConstantsIdentityAliasesZeroPadsAndDropoutNodes) {
    tn::Model<Small> m{1};
    auto p = tn::onnx_model(m);
    // Flatten as Reshape(x, Constant [-1, 18]); the bias through an Identity alias; a zero Pad; a Dropout node.
    tn::onnx::Node constant;
    constant.op_type = "Constant";
    constant.name = "c";
    constant.outputs = {"shape"};
    tn::onnx::Attribute value;
    value.name = "value";
    value.type = tn::onnx::ATTR_TENSOR;
    tn::onnx::Tensor shape;
    shape.data_type = tn::onnx::INT64;
    shape.dims = {2};
    const std::int64_t s[2] = {-1, 18};
    shape.raw.resize(16);
    std::memcpy(shape.raw.data(), s, 16);
    value.t.push_back(shape);
    constant.attributes.push_back(value);
    tn::onnx::Node alias;
    alias.op_type = "Identity";
    alias.inputs = {"3.bias"};
    alias.outputs = {"bias_alias"};
    tn::onnx::Node pad;
    pad.op_type = "Pad";
    pad.name = "pad";
    pad.inputs = {node(p, "Relu").outputs[0]};
    pad.outputs = {"padded"};
    pad.attributes = {tn::onnx_detail::attr_ints("pads", std::vector<std::int64_t>(8, 0))};
    tn::onnx::Node dropout;
    dropout.op_type = "Dropout";
    dropout.name = "drop";
    dropout.inputs = {"padded"};
    dropout.outputs = {"dropped"};
    {
        auto& flat = node(p, "Flatten");
        flat.op_type = "Reshape";
        flat.attributes.clear();
        flat.inputs = {"dropped", "shape"};
        node(p, "Gemm").inputs[2] = "bias_alias";
    }
    auto& nodes = p.graph.nodes;  // Conv, Relu, Reshape, Gemm
    nodes.insert(nodes.begin() + 2, {pad, dropout});
    nodes.insert(nodes.begin(), {constant, alias});

    tn::Model<Small> b{2};
    load(b, p);
    EXPECT_EQ(b.parameters().to_host(), m.parameters().to_host());
}

TEST(Onnx, AcceptsUntransposedGemmWeightsAndMissingBiases) {
    tn::Model<Mlp> m{1};
    auto p = tn::onnx_model(m);
    auto& gemm = node(p, "Gemm");
    attribute(gemm, "transB").i = 0;
    auto& w = initializer(p, "0.weight");  // (4, 6) -> (6, 4)
    std::vector<float> v(24), t(24);
    std::memcpy(v.data(), w.raw.data(), 96);
    for (std::size_t o = 0; o < 4; ++o)
        for (std::size_t i = 0; i < 6; ++i) t[i * 4 + o] = v[o * 6 + i];
    std::memcpy(w.raw.data(), t.data(), 96);
    w.dims = {6, 4};
    node(p, "Gemm", 1).inputs.pop_back();  // no bias: zero
    tn::Model<Mlp> b{2};
    load(b, p);
    const auto got = b.parameters().to_host(), want = m.parameters().to_host();
    EXPECT_TRUE(std::equal(got.begin(), got.begin() + 28, want.begin()));
    EXPECT_EQ(got[got.size() - 1], 0.0f);
}

TEST(Onnx, AcceptsUnevenPaddingAsAPadNodeBeforeTheConv) {
    using Net = tn::Sequential<tn::Input<1, 6, 6>, tn::Conv2D<2, 3, 2, tn::Same>>;  // pads [0, 0, 1, 1]
    tn::Model<Net> m{1};
    auto p = tn::onnx_model(m);
    auto& conv = node(p, "Conv");
    attribute(conv, "pads").ints = {0, 0, 0, 0};
    tn::onnx::Node pad;
    pad.op_type = "Pad";
    pad.name = "zeropad";
    pad.inputs = {"input"};
    pad.outputs = {"padded"};
    pad.attributes = {tn::onnx_detail::attr_ints("pads", {0, 0, 0, 0, 0, 0, 1, 1})};
    conv.inputs[0] = "padded";
    p.graph.nodes.insert(p.graph.nodes.begin(), pad);
    tn::Model<Net> b{2};
    load(b, p);
    EXPECT_EQ(b.parameters().to_host(), m.parameters().to_host());

    // The Conv must read the Pad's output.
    auto branch = p;
    branch.graph.nodes[1].inputs[0] = "input";
    expect_load_error<Net>(branch, {"node '/0/Conv' (Conv)", "reads 'input' but the value flowing through the chain is 'padded'"});

    attribute(p.graph.nodes[0], "pads").ints = {0, 0, 1, 0, 0, 0, 1, 1};
    expect_load_error<Net>(p, {"node '/0/Conv' (Conv)", "attribute 'pads' is [1, 0, 1, 1] (with the Pad node before it)",
                               "needs [0, 0, 1, 1]"});
}

TEST(Onnx, LoadsABatchNormFoldedIntoTheConvBeforeItAsTheIdentity) {
    using Net = tn::Sequential<tn::Input<1, 5, 5>, tn::Conv2D<2, 3>, tn::BatchNorm, tn::ReLU>;
    tn::Model<Net> m{1};
    auto p = tn::onnx_model(m);
    p.graph.nodes.erase(p.graph.nodes.begin() + 1);  // what torch.onnx.export's constant folding leaves
    p.graph.nodes[1].inputs[0] = p.graph.nodes[0].outputs[0];
    tn::Model<Net> b{2};
    randomize_buffers(b, 3);
    const auto report = tn::load_onnx(b, std::span<const std::byte>(tn::onnx::serialize(p)), "folded.onnx");
    ASSERT_EQ(report.notes.size(), 1u);
    EXPECT_NE(report.notes[0].find("folded"), std::string::npos);
    // The same graph read as a network without the BatchNorm gives the same outputs.
    tn::Model<tn::Sequential<tn::Input<1, 5, 5>, tn::Conv2D<2, 3>, tn::ReLU>> without{3};
    load(without, p);
    const auto x = inputs(2 * 25, 3);
    const auto want = outputs(without, x, 2);
    const auto got = outputs(b, x, 2);
    for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-6 * std::abs(want[i]));
}

namespace {
tn::onnx::Tensor int64_tensor(const std::string& name, std::vector<std::int64_t> dims, const std::vector<std::int64_t>& v) {
    tn::onnx::Tensor t;
    t.name = name;
    t.data_type = tn::onnx::INT64;
    t.dims = std::move(dims);
    t.raw.resize(v.size() * 8);
    if (!v.empty()) std::memcpy(t.raw.data(), v.data(), t.raw.size());
    return t;
}
tn::onnx::Node op(const std::string& type, std::vector<std::string> inputs, const std::string& output,
                  std::vector<tn::onnx::Attribute> attributes = {}) {
    return {"/pad/" + type + "_" + output, type, "", std::move(inputs), {output}, std::move(attributes)};
}
}  // namespace

TEST(Onnx, FoldsPyTorchsZeroPad2dShapeArithmetic) {
    // nn.ZeroPad2d((left 0, right 1, top 0, bottom 1)) as torch.onnx.export (1.13, opset 14) writes it:
    // pads = Cast(Reshape(Transpose(Slice(Reshape(Concat([0, 1, 0, 1], ConstantOfShape([4])), [-1, 2]),
    //                                     starts -1, ends INT64_MIN + 1, axes 0, steps -1)), [-1]))
    // = [0, 0, 0, 0, 0, 0, 1, 1] (begins of N, C, H, W, then ends), the Same padding of a stride-2 Conv on 6x6.
    using Net = tn::Sequential<tn::Input<1, 6, 6>, tn::Conv2D<2, 3, 2, tn::Same>>;
    tn::Model<Net> m{1};
    auto p = tn::onnx_model(m);
    attribute(p.graph.nodes[0], "pads").ints = {0, 0, 0, 0};
    p.graph.nodes[0].inputs[0] = "padded";
    auto& g = p.graph.initializers;
    g.push_back(int64_tensor("four", {1}, {4}));
    g.push_back(int64_tensor("given", {4}, {0, 1, 0, 1}));
    g.push_back(int64_tensor("pairs", {2}, {-1, 2}));
    g.push_back(int64_tensor("start", {1}, {-1}));
    g.push_back(int64_tensor("end", {1}, {std::numeric_limits<std::int64_t>::min() + 1}));
    g.push_back(int64_tensor("axis", {1}, {0}));
    g.push_back(int64_tensor("step", {1}, {-1}));
    g.push_back(int64_tensor("flat", {1}, {-1}));
    tn::onnx::Attribute zero;
    zero.name = "value";
    zero.type = tn::onnx::ATTR_TENSOR;
    zero.t.push_back(int64_tensor("", {1}, {0}));
    const std::vector<tn::onnx::Node> pad_nodes{
        op("ConstantOfShape", {"four"}, "zeros", {zero}),
        op("Concat", {"given", "zeros"}, "all", {tn::onnx_detail::attr_i("axis", 0)}),
        op("Reshape", {"all", "pairs"}, "pairs_2d"),
        op("Slice", {"pairs_2d", "start", "end", "axis", "step"}, "reversed"),
        op("Transpose", {"reversed"}, "by_side", {tn::onnx_detail::attr_ints("perm", {1, 0})}),
        op("Reshape", {"by_side", "flat"}, "pads_i64"),
        op("Cast", {"pads_i64"}, "pads", {tn::onnx_detail::attr_i("to", 7)}),
        op("Pad", {"input", "pads"}, "padded", {})};
    p.graph.nodes.insert(p.graph.nodes.begin(), pad_nodes.begin(), pad_nodes.end());
    tn::Model<Net> b{2};
    load(b, p);
    EXPECT_EQ(b.parameters().to_host(), m.parameters().to_host());

    // The other side padded: the folded pads are named in the Conv's message.
    std::memcpy(initializer(p, "given").raw.data(), std::vector<std::int64_t>{1, 0, 1, 0}.data(), 32);
    expect_load_error<Net>(p, {"node '/0/Conv' (Conv)", "attribute 'pads' is [1, 1, 0, 0] (with the Pad node before it)",
                               "needs [0, 0, 1, 1]"});
    // Bounded: a ConstantOfShape of 2^40 values is refused before anything is allocated.
    std::memcpy(initializer(p, "four").raw.data(), std::vector<std::int64_t>{std::int64_t(1) << 40}.data(), 8);
    expect_load_error<Net>(p, {"(ConstantOfShape)", "computes a constant of more than 4096 values"});
}

// --- mismatches: each names the node, the attribute and what typenet expects ---

TEST(Onnx, UnsupportedOperatorIsNamed) {
    tn::Model<Small> m{1};
    auto p = tn::onnx_model(m);
    node(p, "Relu").op_type = "LeakyRelu";
    expect_load_error<Small>(p, {"load_onnx('t.onnx')", "node '/1/Relu' (LeakyRelu)", "layer 1 ReLU", "expects Relu"});
    p = tn::onnx_model(m);
    node(p, "Relu").domain = "com.microsoft";
    expect_load_error<Small>(p, {"node '/1/Relu' (Relu) is in the domain 'com.microsoft'"});
}

TEST(Onnx, WrongAttributesAreNamedWithTheExpectedValue) {
    tn::Model<AllLayers> m{1};
    const auto base = tn::onnx_model(m);
    auto p = base;
    attribute(node(p, "Conv"), "strides").ints = {2, 2};
    expect_load_error<AllLayers>(p, {"node '/0/Conv' (Conv) for layer 0 Conv2D<4, 3, Same>", "attribute 'strides' is [2, 2]",
                                     "needs [1, 1]"});
    p = base;
    attribute(node(p, "Conv", 1), "pads").ints = {1, 1, 1, 1};
    expect_load_error<AllLayers>(p, {"node '/5/Conv'", "attribute 'pads' is [1, 1, 1, 1]", "needs [0, 0, 1, 1]"});
    p = base;
    attribute(node(p, "Conv"), "kernel_shape").ints = {5, 5};
    expect_load_error<AllLayers>(p, {"attribute 'kernel_shape' is [5, 5]", "needs [3, 3]"});
    p = base;
    attribute(node(p, "BatchNormalization"), "epsilon").f = 1e-3f;
    expect_load_error<AllLayers>(p, {"node '/1/BatchNormalization'", "attribute 'epsilon' is 0.001", "uses 1e-05"});
    p = base;
    attribute(node(p, "Elu"), "alpha").f = 0.5f;
    expect_load_error<AllLayers>(p, {"node '/2/Elu'", "attribute 'alpha' is 0.5", "uses 1"});
    p = base;
    attribute(node(p, "MaxPool"), "kernel_shape").ints = {3, 3};
    expect_load_error<AllLayers>(p, {"node '/7/MaxPool'", "layer 7 MaxPool2D<2, 1>", "'kernel_shape' is [3, 3]", "needs [2, 2]"});
    p = base;
    attribute(node(p, "Gemm"), "alpha").f = 2.0f;
    expect_load_error<AllLayers>(p, {"node '/11/Gemm'", "attribute 'alpha' is 2 ", "uses 1"});
    p = base;
    node(p, "Conv").attributes.push_back(tn::onnx_detail::attr_i("group", 2));
    node(p, "Conv").attributes.erase(node(p, "Conv").attributes.begin() + 1);
    expect_load_error<AllLayers>(p, {"attribute 'group' is 2", "needs 1"});
    p = base;
    node(p, "Softmax").attributes[0].i = 0;
    expect_load_error<AllLayers>(p, {"(Softmax)", "attribute 'axis' is 0"});
    p = base;
    node(p, "AveragePool").attributes.push_back(tn::onnx_detail::attr_i("frobnicate", 1));
    expect_load_error<AllLayers>(p, {"node '/4/AveragePool'", "has the attribute 'frobnicate'"});
    p = base;
    node(p, "BatchNormalization").attributes.push_back(tn::onnx_detail::attr_i("training_mode", 1));
    expect_load_error<AllLayers>(p, {"attribute 'training_mode' is 1", "needs 0"});
}

TEST(Onnx, ShapeAndDtypeMismatchesNameTheTensor) {
    tn::Model<Small> m{1};
    const auto base = tn::onnx_model(m);
    auto p = base;
    initializer(p, "3.weight").dims = {3, 9, 2};
    expect_load_error<Small>(p, {"node '/3/Gemm' (Gemm) for layer 3 Dense<3>", "weight B '3.weight' has shape [3, 9, 2]",
                                 "expects [3, 18]"});
    p = base;
    initializer(p, "0.bias").data_type = tn::onnx::INT64;
    expect_load_error<Small>(p, {"tensor '0.bias' has data type INT64", "FLOAT or DOUBLE"});
    p = base;
    initializer(p, "0.bias").raw.pop_back();
    expect_load_error<Small>(p, {"tensor '0.bias' has shape [2] (2 values) but holds 7 bytes"});
    p = base;
    initializer(p, "0.weight").external = true;
    expect_load_error<Small>(p, {"tensor '0.weight' keeps its data in an external file"});
    p = base;
    p.graph.inputs[0].dims[2].value = 6;
    expect_load_error<Small>(p, {"graph input 'input' has shape (N, 1, 6, 5)", "the network's input is (N, 1, 5, 5)"});
    p = base;
    p.graph.inputs[0].elem_type = 10;
    expect_load_error<Small>(p, {"graph input 'input' has element type FLOAT16"});
    // A network of another size: the first difference is named.
    using Wider = tn::Sequential<tn::Input<1, 5, 5>, tn::Conv2D<3, 3>, tn::ReLU, tn::Flatten, tn::Dense<3>>;
    expect_load_error<Wider>(base, {"weight W '0.weight' has shape [2, 1, 3, 3]", "Conv2D<3, 3> expects [3, 1, 3, 3]"});
}

TEST(Onnx, GraphsThatAreNotTheNetworksChainAreRefused) {
    tn::Model<Small> m{1};
    const auto base = tn::onnx_model(m);
    auto p = base;
    node(p, "Relu").inputs[0] = "input";
    expect_load_error<Small>(p, {"node '/1/Relu' (Relu) reads 'input'", "the value flowing through the chain is '/0/Conv_output_0'"});
    p = base;
    p.graph.nodes.pop_back();
    p.graph.nodes.back().outputs[0] = "output";
    expect_load_error<Small>(p, {"the graph ends before layer 3 Dense<3>", "expects a Gemm node"});
    p = base;
    tn::onnx::Node extra;
    extra.op_type = "Relu";
    extra.name = "extra";
    extra.inputs = {"output"};
    extra.outputs = {"output2"};
    p.graph.nodes.push_back(extra);
    p.graph.outputs[0].name = "output2";
    expect_load_error<Small>(p, {"continues after the network's last layer with node 'extra' (Relu)"});
    p = base;
    p.opsets[0].second = 7;
    expect_load_error<Small>(p, {"uses opset 7", "opsets 9 to 21"});
    p = base;
    node(p, "Conv").inputs[1] = "computed";
    expect_load_error<Small>(p, {"input 1 'computed' is neither an initializer nor a constant"});
    // The wrong network type altogether.
    expect_load_error<Mlp>(base, {"graph input 'input' has shape (N, 1, 5, 5)", "the network's input is (N, 6)"});
}

// --- malformed files -------------------------------------------------------

TEST(Onnx, EveryTruncationIsANamedErrorNeverACrash) {
    tn::Model<Small> m{1};
    const auto bytes = tn::onnx_bytes(m);
    std::size_t errors = 0;
    for (std::size_t n = 0; n < bytes.size(); ++n) {
        tn::Model<Small> b{2};
        try {
            tn::load_onnx(b, std::span<const std::byte>(bytes.data(), n), "cut.onnx");
        } catch (const tn::IoError& e) {
            ++errors;
            EXPECT_NE(std::string(e.what()).find("load_onnx('cut.onnx')"), std::string::npos) << e.what();
        }
    }
    // Cutting between two top-level fields leaves a valid protobuf; the graph, the last of them here, is then missing.
    EXPECT_EQ(errors, bytes.size());
}

TEST(Onnx, WrongWireTypesHugeLengthsAndBadVarintsAreNamed) {
    tn::Model<Small> m{1};
    // field 7 (graph) as a varint
    expect_io_error([&] { tn::load_onnx(m, std::span<const std::byte>(bytes_of({0x38, 0x01})), "w.onnx"); },
                    {"load_onnx('w.onnx'): malformed ONNX file", "ModelProto.graph has wire type varint where length-delimited is expected"});
    // field 7 declaring 2^40 bytes
    expect_io_error([&] { tn::load_onnx(m, std::span<const std::byte>(bytes_of({0x3A, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x00})), "h.onnx"); },
                    {"declares a field 7 of 1099511627776 bytes but only 1 remain"});
    // an 11-byte varint
    expect_io_error([&] { tn::load_onnx(m, std::span<const std::byte>(bytes_of({0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01})), "v.onnx"); },
                    {"varint"});
    // a group (wire type 3)
    expect_io_error([&] { tn::load_onnx(m, std::span<const std::byte>(bytes_of({0x0B})), "g.onnx"); }, {"wire type 3"});
    // a node whose op_type is a varint, inside a graph
    expect_io_error([&] { tn::load_onnx(m, std::span<const std::byte>(bytes_of({0x3A, 0x04, 0x0A, 0x02, 0x20, 0x01})), "n.onnx"); },
                    {"NodeProto.op_type has wire type varint"});
    // a tensor with a negative dimension
    expect_io_error([&] { tn::load_onnx(m, std::span<const std::byte>(bytes_of({0x3A, 0x0D, 0x2A, 0x0B, 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01})), "d.onnx"); },
                    {"negative dimension"});
    expect_io_error([&] { tn::load_onnx(m, std::span<const std::byte>(), "empty.onnx"); }, {"is empty"});
    expect_io_error([&] { tn::load_onnx(m, std::filesystem::path("/nonexistent/x.onnx")); }, {"does not exist"});
}

TEST(Onnx, RandomMutationsGiveIoErrorsOrValidModels) {
    tn::Model<Small> m{1};
    const auto bytes = tn::onnx_bytes(m);
    tn::Rng rng(11);
    std::size_t loaded = 0;
    for (int i = 0; i < 3000; ++i) {
        auto b = bytes;
        const int edits = 1 + int(rng.uniform() * 4);
        for (int e = 0; e < edits; ++e) b[std::size_t(rng.uniform() * double(b.size()))] = std::byte(rng.uniform() * 256);
        tn::Model<Small> t{2};
        try {
            tn::load_onnx(t, std::span<const std::byte>(b), "mut.onnx");
            ++loaded;
        } catch (const tn::IoError&) {
        }
    }
    std::cout << "mutations: " << loaded << " of 3000 still loaded (edits inside weight data)\n";
    EXPECT_GT(loaded, 0u);
}
