// Interop with PyTorch, step 2 of 3 (ctest runs interop.generate, then this,
// then interop.verify; see tests/interop/):
//  - loads the state_dicts PyTorch wrote (F32, F16, F64, BatchNorm with its
//    num_batches_tracked) into the equivalent typenet networks and reproduces
//    PyTorch's logits on the same images within 1e-4;
//  - trains typenet models briefly and exports them with their logits, which
//    verify_typenet.py then loads into PyTorch.
// $TYPENET_INTEROP_DIR names the directory; without it, or without PyTorch's
// files, every test is skipped with a message.
#include <typenet/typenet.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace tn = typenet;
namespace fs = std::filesystem;

namespace {
using Cnn = tn::Sequential<tn::Input<1, 28, 28>, tn::Conv2D<32, 3>, tn::ReLU, tn::MaxPool2D<2>, tn::Conv2D<64, 3>, tn::ReLU,
                           tn::MaxPool2D<2>, tn::Conv2D<64, 3>, tn::ReLU, tn::Flatten, tn::Dense<70>, tn::ReLU, tn::Dense<10>>;
using Mlp = tn::Sequential<tn::Input<784>, tn::Dense<70>, tn::Sigmoid, tn::Dense<30>, tn::Sigmoid, tn::Dense<10>>;
using BnCnn = tn::Sequential<tn::Input<1, 28, 28>, tn::Conv2D<8, 3>, tn::BatchNorm, tn::ReLU, tn::MaxPool2D<2>, tn::Flatten,
                             tn::Dense<32>, tn::BatchNorm, tn::ReLU, tn::Dense<10>>;
static_assert(Cnn::parameter_count == 96'844 && Mlp::parameter_count == 57'390);

constexpr double tolerance = 1e-4;

class Interop : public ::testing::Test {
protected:
    void SetUp() override {
        const char* env = std::getenv("TYPENET_INTEROP_DIR");
        if (!env || !*env) GTEST_SKIP() << "TYPENET_INTEROP_DIR is not set; run this test through ctest (interop.*)";
        dir_ = env;
        if (!fs::exists(dir_ / "reference.safetensors"))
            GTEST_SKIP() << "no PyTorch reference files in " << dir_ << " (interop.generate was skipped: is python3-torch installed?)";
        const tn::SafetensorsReader ref(dir_ / "reference.safetensors");
        images_ = ref.read<float>("images");  // (8, 1, 28, 28), scaled /255
        labels_ = ref.read<std::int64_t>("labels");
        n_ = labels_.size();
        ASSERT_EQ(images_.size(), n_ * 784);
        std::cout << "reference images: " << ref.metadata().at("images") << "\n";
    }
    std::vector<double> expected(const std::string& name) const {
        return tn::SafetensorsReader(dir_ / "reference.safetensors").read<double>(name);
    }
    /// The network's outputs (n, 10) on the reference images, in evaluation mode.
    template <class M>
    std::vector<typename M::scalar> logits(M& model) const {
        using T = typename M::scalar;
        const std::vector<T> x(images_.begin(), images_.end());
        const T* y = model.forward(x.data(), n_, false);
        return {y, y + n_ * 10};
    }
    template <class T>
    static void expect_close(const std::vector<T>& got, const std::vector<double>& want, double tol, const std::string& what) {
        ASSERT_EQ(got.size(), want.size()) << what;
        double worst = 0;
        for (std::size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(double(got[i]) - want[i]));
        EXPECT_LE(worst, tol) << what << ": typenet's logits differ from PyTorch's";
        std::cout << what << ": max |typenet - PyTorch| = " << worst << "\n";
    }
    tn::Dataset dataset() const {
        tn::Dataset d;
        d.name = "interop images";
        d.classes = 10;
        d.images.resize(tn::Dims{n_, 1, 28, 28});
        d.images.from_host(images_);
        for (auto l : labels_) d.labels.push_back(std::int32_t(l));
        return d;
    }
    /// Trains briefly (so the weights are not just an initialisation), saves
    /// the model as typenet_<name>.safetensors and returns its logits.
    template <class Net>
    std::vector<float> train_and_export(const std::string& name, std::uint64_t seed) const {
        tn::Model<Net> m{seed, tn::Cpu{1}};
        tn::RMSprop opt{{.learning_rate = 1e-3}};
        tn::fit(m, opt, tn::SoftmaxCrossEntropy<10>{}, dataset(),
                {.epochs = 3, .batch_size = 4, .verbose = tn::Verbosity::silent});
        tn::save(m, dir_ / ("typenet_" + name + ".safetensors"));
        tn::Model<Net> reloaded{seed + 1, tn::Cpu{1}};
        tn::load(reloaded, dir_ / ("typenet_" + name + ".safetensors"));
        const auto y = logits(m);
        EXPECT_EQ(logits(reloaded), y) << name << ": the saved file does not reproduce the model";
        return y;
    }

    fs::path dir_;
    std::vector<float> images_;
    std::vector<std::int64_t> labels_;
    std::size_t n_ = 0;
};
}  // namespace

TEST_F(Interop, PyTorchReferenceCnnGivesTheSameLogits) {
    tn::Model<Cnn> m{1};
    tn::load(m, dir_ / "cnn.safetensors");
    expect_close(logits(m), expected("cnn_logits"), tolerance, "reference CNN (F32)");
}

TEST_F(Interop, PyTorchMlpGivesTheSameLogitsFromF32F16AndF64) {
    tn::Model<Mlp> f{1};
    tn::load(f, dir_ / "mlp.safetensors");
    expect_close(logits(f), expected("mlp_logits"), tolerance, "MLP (F32)");
    tn::load(f, dir_ / "mlp_f16.safetensors");
    expect_close(logits(f), expected("mlp_f16_logits"), tolerance, "MLP (F16 weights)");
    tn::Model<Mlp, tn::Cpu, double> d{1};
    tn::load(d, dir_ / "mlp_f64.safetensors");
    expect_close(logits(d), expected("mlp_f64_logits"), 1e-12, "MLP (F64, double model)");
}

TEST_F(Interop, PyTorchBatchNormCnnGivesTheSameLogits) {
    tn::Model<BnCnn> m{1};
    tn::load(m, dir_ / "bn.safetensors");  // holds num_batches_tracked, which typenet ignores
    expect_close(logits(m), expected("bn_logits"), tolerance, "BatchNorm CNN (F32, running statistics)");
}

// Must run for interop.verify (step 3), which reads what it writes.
TEST_F(Interop, TypenetTrainedModelsAreExportedForPyTorch) {
    const auto cnn = train_and_export<Cnn>("cnn", 42);
    const auto mlp = train_and_export<Mlp>("mlp", 43);
    const auto bn = train_and_export<BnCnn>("bn", 44);
    tn::SafetensorsWriter w;
    w.add<float>("cnn_logits", {n_, 10}, cnn);
    w.add<float>("mlp_logits", {n_, 10}, mlp);
    w.add<float>("bn_logits", {n_, 10}, bn);
    w.set_metadata("source", "tests/test_interop.cpp");
    w.write(dir_ / "typenet_logits.safetensors");
}
