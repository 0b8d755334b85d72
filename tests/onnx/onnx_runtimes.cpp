// ONNX files checked by real runtimes (ctest -R onnx; see CMakeLists.txt here):
//  - OnnxExport writes the reference CNN, the two benchmark MLPs and two
//    networks with every other layer (BatchNorm, Dropout, AvgPool, Same
//    padding, ...) as .onnx files, with the input images and typenet's
//    outputs, and a manifest.json for run_ort.js (ONNX Runtime) and
//    check_onnx.py (the onnx checker);
//  - OnnxFromTorch loads the files torch_export.py wrote with
//    torch.onnx.export and reproduces PyTorch's logits within 1e-5.
// $TYPENET_ONNX_DIR names the directory; without it every test is skipped.
#include <typenet/typenet.hpp>
#include <typenet/io/onnx.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "reference_cnn.hpp"

namespace tn = typenet;
namespace fs = std::filesystem;

namespace {

using Cnn = example::ReferenceCnn;
// The benchmarks' MLPs (benchmarks/bench_nets.hpp).
using MlpSmall = tn::Sequential<tn::Input<784>, tn::Dense<70>, tn::Sigmoid, tn::Dense<30>, tn::Sigmoid, tn::Dense<10>>;
using MlpWide = tn::Sequential<tn::Input<784>, tn::Dense<512>, tn::ReLU, tn::Dense<10>>;
// BatchNorm (2-D and 1-D), Dropout, AvgPool, Same padding at strides 1 and 2 (uneven pads), overlapping MaxPool.
using BnNet = tn::Sequential<tn::Input<1, 28, 28>, tn::Conv2D<8, 3, 1, tn::Same>, tn::BatchNorm, tn::ELU, tn::Dropout<0.25>,
                             tn::AvgPool2D<2>, tn::Conv2D<16, 3, 2, tn::Same>, tn::BatchNorm, tn::Tanh, tn::MaxPool2D<3, 2>,
                             tn::Flatten, tn::Dense<32>, tn::BatchNorm, tn::SELU, tn::Dropout<0.5>, tn::Dense<10>>;
// The remaining layers: a rectangular kernel and stride, GlobalAvgPool2D, Sigmoid, Identity, Softmax.
using AllOps = tn::Sequential<tn::Input<1, 28, 28>, tn::Conv2DRect<6, 5, 3, 2, 1, tn::Same>, tn::ReLU, tn::GlobalAvgPool2D,
                              tn::Dense<10>, tn::Sigmoid, tn::Identity, tn::Dense<10>, tn::Softmax>;

constexpr std::size_t images = 16;
constexpr double tolerance = 1e-5;

fs::path onnx_dir() {
    const char* env = std::getenv("TYPENET_ONNX_DIR");
    return env && *env ? fs::path(env) : fs::path();
}

/// The first 16 MNIST test images scaled to [0, 1], or seeded uniform noise when the data is absent.
std::vector<float> input_images(std::string& source) {
    const char* env = std::getenv("TYPENET_DATA");
    const fs::path dir = fs::path(env && *env ? env : TYPENET_SOURCE_DATA_DIR) / "mnist";
    const fs::path file = dir / "t10k-images-idx3-ubyte";
    std::vector<float> x(images * 784);
    if (fs::exists(file)) {
        const auto idx = tn::read_idx(file);
        for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(idx.data[i]) / 255.0f;
        source = "real MNIST test images 0-" + std::to_string(images - 1) + " from " + dir.string();
    } else {
        tn::Rng rng(7);
        for (auto& v : x) v = float(rng.uniform());
        source = "synthetic images (seeded uniform noise; no MNIST in " + dir.string() + ", run cmake/fetch_data.sh)";
    }
    return x;
}

// Random BatchNorm statistics and affine parameters: a runtime that ignored
// or swapped them would give other outputs.
template <class M>
void randomize_batchnorm(M& m, std::uint64_t seed) {
    tn::Rng rng(seed);
    auto b = m.buffers().to_host();
    for (const auto& s : m.buffer_segments())
        for (std::size_t i = 0; i < s.size; ++i)
            b[s.offset + i] = s.name.ends_with("running_var") ? float(0.5 + rng.uniform()) : float(0.4 * rng.uniform() - 0.2);
    m.buffers().from_host(b);
    auto p = m.parameters().to_host();
    for (const auto& s : m.segments()) {
        if (s.dims.rank != 1 || m.buffer_segments().empty()) continue;
        const std::string layer = s.name.substr(0, s.name.find('.'));
        bool is_bn = false;
        for (const auto& bs : m.buffer_segments()) is_bn = is_bn || bs.name.starts_with(layer + ".");
        if (!is_bn) continue;
        for (std::size_t i = 0; i < s.size; ++i)
            p[s.offset + i] = s.name.ends_with("weight") ? float(0.5 + rng.uniform()) : float(0.4 * rng.uniform() - 0.2);
    }
    m.parameters().from_host(p);
}

void write_floats(const fs::path& p, const std::vector<float>& v) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * sizeof(float)));
    ASSERT_TRUE(out.good()) << "could not write " << p;
}

std::string shape_json(std::vector<std::size_t> dims) {
    std::string s = "[";
    for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
    return s + "]";
}

}  // namespace

class OnnxExport : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = onnx_dir();
        if (dir_.empty()) GTEST_SKIP() << "TYPENET_ONNX_DIR is not set; run this test through ctest (onnx.export)";
        fs::create_directories(dir_);
    }
    /// Exports the model (seeded, evaluation mode) and its outputs on the images.
    template <class Net>
    void add(const std::string& name, std::uint64_t seed, bool append_softmax = false) {
        tn::Model<Net> m{seed, tn::Cpu{1}};
        randomize_batchnorm(m, seed + 1);
        tn::export_onnx(m, dir_ / (name + ".onnx"), {.append_softmax = append_softmax});
        const float* y = m.forward(images_.data(), images, false);  // (16, 1, 28, 28) and (16, 784): the same floats
        std::vector<float> out(y, y + images * Net::output_shape::size);
        if (append_softmax)
            for (std::size_t r = 0; r < images; ++r) {  // in double: the reference for ORT's float softmax
                double mx = -1e300, sum = 0;
                float* row = out.data() + r * Net::output_shape::size;
                for (std::size_t k = 0; k < Net::output_shape::size; ++k) mx = std::max(mx, double(row[k]));
                for (std::size_t k = 0; k < Net::output_shape::size; ++k) sum += std::exp(double(row[k]) - mx);
                for (std::size_t k = 0; k < Net::output_shape::size; ++k) row[k] = float(std::exp(double(row[k]) - mx) / sum);
            }
        write_floats(dir_ / (name + ".typenet.f32"), out);
        std::vector<std::size_t> in_shape{images}, out_shape{images};
        for (auto d : Net::input_shape::dims) in_shape.push_back(d);
        for (auto d : Net::output_shape::dims) out_shape.push_back(d);
        manifest_ += std::string(manifest_.empty() ? "" : ",\n") + "    {\"name\": \"" + name + "\", \"onnx\": \"" + name +
                     ".onnx\", \"input\": \"images.f32\", \"input_shape\": " + shape_json(in_shape) + ", \"expected\": \"" + name +
                     ".typenet.f32\", \"output_shape\": " + shape_json(out_shape) + "}";
        std::cout << "exported " << name << ".onnx (" << Net::parameter_count << " parameters)\n";
    }
    fs::path dir_;
    std::string source_;
    std::vector<float> images_ = input_images(source_);
    std::string manifest_;
};

TEST_F(OnnxExport, WritesTheNetworksTheirInputsAndTypenetsOutputs) {
    for (const auto& f : fs::directory_iterator(dir_))  // a stale file from an earlier run must never pass
        if (f.path().extension() == ".onnx" || f.path().extension() == ".f32" || f.path().filename() == "manifest.json")
            fs::remove(f.path());
    write_floats(dir_ / "images.f32", images_);
    add<Cnn>("reference_cnn", 42);
    add<Cnn>("reference_cnn_softmax", 42, true);
    add<MlpSmall>("mlp_784_70_30_10", 43);
    add<MlpWide>("mlp_784_512_10", 44);
    add<BnNet>("batchnorm_same_avgpool", 45);
    add<AllOps>("all_other_layers", 46);
    std::ofstream out(dir_ / "manifest.json");
    out << "{\n  \"images\": \"" << source_ << "\",\n  \"tolerance\": " << tolerance << ",\n  \"models\": [\n"
        << manifest_ << "\n  ]\n}\n";
    ASSERT_TRUE(out.good());
    std::cout << "inputs: " << source_ << "\n";
}

// --- PyTorch's files -----------------------------------------------------------

class OnnxFromTorch : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = onnx_dir();
        if (dir_.empty()) GTEST_SKIP() << "TYPENET_ONNX_DIR is not set; run this test through ctest (onnx.torch_import)";
        dir_ /= "torch";
        if (!fs::exists(dir_ / "reference.safetensors"))
            GTEST_SKIP() << "no PyTorch files in " << dir_ << " (onnx.torch_export was skipped: is python3-torch installed?)";
        const tn::SafetensorsReader ref(dir_ / "reference.safetensors");
        images_ = ref.read<float>("images");
        n_ = images_.size() / 784;
        std::cout << "PyTorch " << ref.metadata().at("torch") << ", inputs: " << ref.metadata().at("images") << "\n";
    }
    template <class Net>
    void check(const std::string& name) {
        tn::Model<Net> m{999, tn::Cpu{1}};
        const auto report = tn::load_onnx(m, dir_ / (name + ".onnx"));
        for (const auto& note : report.notes) std::cout << name << ": note: " << note << "\n";
        const float* y = m.forward(images_.data(), n_, false);
        const auto want = tn::SafetensorsReader(dir_ / "reference.safetensors").read<double>(name);
        ASSERT_EQ(want.size(), n_ * Net::output_shape::size) << name;
        double worst = 0;
        for (std::size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::abs(double(y[i]) - want[i]));
        EXPECT_LE(worst, tolerance) << name << ": typenet's outputs differ from PyTorch's";
        std::cout << name << ".onnx (" << report.producer << ", opset " << report.opset
                  << "): max |typenet - PyTorch| = " << worst << "\n";
    }
    fs::path dir_;
    std::vector<float> images_;
    std::size_t n_ = 0;
};

TEST_F(OnnxFromTorch, ReferenceCnn) { check<Cnn>("reference_cnn"); }
TEST_F(OnnxFromTorch, MlpSmall) { check<MlpSmall>("mlp_784_70_30_10"); }
TEST_F(OnnxFromTorch, MlpWide) { check<MlpWide>("mlp_784_512_10"); }
// BatchNorm2d folded into the Conv before it, BatchNorm1d kept; ZeroPad2d's computed pads.
TEST_F(OnnxFromTorch, BatchNormSameAvgPool) { check<BnNet>("batchnorm_same_avgpool"); }
TEST_F(OnnxFromTorch, AllOtherLayers) { check<AllOps>("all_other_layers"); }
