// Numerical faults in fit: a non-finite loss or gradient stops training with
// an error that names the epoch, the batch and the first layer whose values
// went bad, or (OnNonFinite::skip_batch) the batch is skipped and counted;
// a checkpoint is never replaced by diverged weights.
#include <typenet/backend/cpu/cpu.hpp>
#include <typenet/layers/activation.hpp>
#include <typenet/layers/batchnorm.hpp>
#include <typenet/layers/dense.hpp>
#include <typenet/losses/softmax_cross_entropy.hpp>
#include <typenet/model/model.hpp>
#include <typenet/optim/rmsprop.hpp>
#include <typenet/optim/sgd.hpp>
#include <typenet/train/fit.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <cmath>
#include <limits>
#include <string>

namespace tn = typenet;

namespace {
// Two Gaussian-ish blobs: linearly separable, so training is stable unless
// the learning rate is absurd.
tn::Dataset blobs(std::size_t n, std::uint64_t seed) {
    tn::Dataset d;
    d.name = "blobs";
    d.classes = 2;
    d.images.resize(tn::Dims{n, 2});
    d.labels.resize(n);
    tn::Rng rng(seed);
    for (std::size_t i = 0; i < n; ++i) {
        const int c = int(i % 2);
        d.images[2 * i] = float((c ? 1.5 : -1.5) + rng.uniform(-1, 1));
        d.images[2 * i + 1] = float(rng.uniform(-1, 1));
        d.labels[i] = c;
    }
    return d;
}
using Net = tn::Sequential<tn::Input<2>, tn::Dense<8>, tn::ReLU, tn::Dense<2>>;
using BnNet = tn::Sequential<tn::Input<2>, tn::Dense<8>, tn::BatchNorm, tn::ReLU, tn::Dense<2>>;
constexpr float not_a_number = std::numeric_limits<float>::quiet_NaN();

tn::FitOptions options(std::size_t epochs, std::size_t batch) {
    return {.epochs = epochs, .batch_size = batch, .verbose = tn::Verbosity::silent};
}

template <class F>
std::string numerical_error(F&& f) {
    try {
        f();
    } catch (const tn::NumericalError& e) {
        return e.what();
    }
    ADD_FAILURE() << "expected a NumericalError";
    return {};
}

template <class M>
bool weights_finite(M& m) {
    return tn::all_finite(m.backend(), M::parameter_count, m.parameters().data()) &&
           tn::all_finite(m.backend(), m.buffers().size(), m.buffers().data());
}

std::string file_bytes(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
}

struct TempDir {
    std::filesystem::path path = std::filesystem::temp_directory_path() /
                                 ("typenet_faults_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
                                  "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    TempDir() { std::filesystem::create_directories(path); }
    ~TempDir() { std::filesystem::remove_all(path); }
};
}  // namespace

TEST(NumericalFaults, ExplodingLearningRateStopsAtTheBatchAndNamesTheLayer) {
    const auto d = blobs(64, 1);
    tn::Model<Net> m{3};
    tn::SGD opt{{.learning_rate = 1e30}};
    const std::string msg = numerical_error([&] { tn::fit(m, opt, tn::SoftmaxCrossEntropy{}, d, options(3, 8)); });
    EXPECT_NE(msg.find("in epoch 1, batch "), std::string::npos) << msg;
    // Layer index and type: the message points at a place in the network.
    // (Plain finds: <regex> draws -Wmaybe-uninitialized from GCC 12 under ASan.)
    const bool names_a_layer = msg.find("layer 0 (Dense<8>)") != std::string::npos ||
                               msg.find("layer 1 (ReLU)") != std::string::npos ||
                               msg.find("layer 2 (Dense<2>)") != std::string::npos;
    EXPECT_TRUE(names_a_layer) << msg;
    EXPECT_NE(msg.find("Lower the learning rate"), std::string::npos) << msg;
}

TEST(NumericalFaults, NamesTheLayerWhoseParametersAreNotFinite) {
    const auto d = blobs(32, 2);
    tn::Model<Net> m{3};
    auto w = m.parameters().to_host();
    w[Net::layer<0>::parameter_count + 3] = not_a_number;  // a weight of layer 2, the second Dense
    m.parameters().from_host(w);
    tn::SGD opt;
    const std::string msg = numerical_error([&] { tn::fit(m, opt, tn::SoftmaxCrossEntropy{}, d, options(1, 8)); });
    EXPECT_NE(msg.find("epoch 1, batch 1:"), std::string::npos) << msg;
    EXPECT_NE(msg.find("the parameters of layer 2 (Dense<2>) ('2.weight') are not finite"), std::string::npos) << msg;
}

TEST(NumericalFaults, NamesTheInputWhenTheDataHoldsNaN) {
    auto d = blobs(32, 3);
    d.images[7] = not_a_number;
    tn::Model<Net> m{3};
    tn::SGD opt;
    const std::string msg = numerical_error([&] {
        tn::fit(m, opt, tn::SoftmaxCrossEntropy{}, d, {.epochs = 1, .batch_size = 8, .shuffle = false, .verbose = tn::Verbosity::silent});
    });
    // Sample 3 (values 6 and 7) is in the first batch when not shuffled.
    EXPECT_NE(msg.find("epoch 1, batch 1: the input batch itself holds NaN or inf"), std::string::npos) << msg;
}

TEST(NumericalFaults, OverflowNamesTheFirstLayerWhoseOutputIsNotFinite) {
    // Finite data and finite weights near float's limit: the first Dense's
    // sums overflow to inf, and that layer is the one to report.
    auto d = blobs(16, 4);
    tn::Model<Net> m{3};
    auto w = m.parameters().to_host();
    for (std::size_t i = 0; i < 16; ++i) w[i] = 3e38f;  // layer 0's weights near float's max
    m.parameters().from_host(w);
    tn::SGD opt;
    const std::string msg = numerical_error([&] {
        tn::fit(m, opt, tn::SoftmaxCrossEntropy{}, d, {.epochs = 1, .batch_size = 4, .shuffle = false, .verbose = tn::Verbosity::silent});
    });
    EXPECT_NE(msg.find("the output of layer 0 (Dense<8>) is the first that is not finite"), std::string::npos) << msg;
}

TEST(NumericalFaults, SkipBatchLeavesTheBadBatchOutAndCountsIt) {
    auto d = blobs(40, 5);
    d.images[2 * 17] = not_a_number;  // one poisoned sample: one batch in every epoch
    for (bool with_batchnorm : {false, true}) {
        SCOPED_TRACE(with_batchnorm ? "BatchNorm net" : "plain net");
        auto run = [&]<class N>(tn::Model<N>& m) {
            tn::RMSprop opt{{.learning_rate = 0.01}};
            auto o = options(10, 8);
            o.on_non_finite = tn::OnNonFinite::skip_batch;
            const auto h = tn::fit(m, opt, tn::SoftmaxCrossEntropy{}, d, o);
            ASSERT_EQ(h.epochs.size(), 10u);
            for (const auto& e : h.epochs) {
                EXPECT_EQ(e.skipped_batches, 1u);
                EXPECT_TRUE(std::isfinite(e.loss));
                // Metrics are over the 32 samples trained on, not all 40.
                const double hits = e.accuracy * 32;
                EXPECT_NEAR(hits, std::round(hits), 1e-9) << e.accuracy;
            }
            EXPECT_GT(h.last().accuracy, 0.85);
            EXPECT_TRUE(weights_finite(m));  // BatchNorm's running statistics included
            EXPECT_NE(h.to_csv().find(",1\n"), std::string::npos);
        };
        if (with_batchnorm) {
            tn::Model<BnNet> m{3};
            run(m);
        } else {
            tn::Model<Net> m{3};
            run(m);
        }
    }
}

TEST(NumericalFaults, SkipModeStillFailsWhenEveryBatchIsBad) {
    auto d = blobs(16, 6);
    for (std::size_t i = 0; i < 16; i += 4) d.images[2 * i] = not_a_number;  // one per batch of 4, unshuffled
    tn::Model<Net> m{3};
    tn::SGD opt;
    auto o = options(1, 4);
    o.shuffle = false;
    o.on_non_finite = tn::OnNonFinite::skip_batch;
    const std::string msg = numerical_error([&] { tn::fit(m, opt, tn::SoftmaxCrossEntropy{}, d, o); });
    EXPECT_NE(msg.find("every batch of epoch 1"), std::string::npos) << msg;
}

TEST(NumericalFaults, TheLastGoodCheckpointIsKept) {
    TempDir dir;
    const auto ckpt = dir.path / "run.safetensors";
    const auto d = blobs(64, 7);
    tn::Model<Net> m{3};
    tn::SGD good{{.learning_rate = 0.05}};
    auto o = options(2, 8);
    o.checkpoint_path = ckpt;
    o.checkpoint_every = 1;
    tn::fit(m, good, tn::SoftmaxCrossEntropy{}, d, o);
    const std::string saved = file_bytes(ckpt);
    ASSERT_FALSE(saved.empty());

    // Resume the same run with a learning rate that diverges.
    tn::Model<Net> m2{3};
    tn::SGD wild{{.learning_rate = 1e30}};
    o.epochs = 5;
    o.resume = true;
    const std::string msg = numerical_error([&] { tn::fit(m2, wild, tn::SoftmaxCrossEntropy{}, d, o); });
    EXPECT_NE(msg.find("in epoch 3, batch"), std::string::npos) << msg;
    EXPECT_NE(msg.find("'" + ckpt.string() + "', was written before this and is intact"), std::string::npos) << msg;
    EXPECT_EQ(file_bytes(ckpt), saved);
    std::size_t files = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path)) ++files;
    EXPECT_EQ(files, 1u) << "no temporary file may be left behind";

    // And the checkpoint still resumes a sane run.
    tn::Model<Net> m3{3};
    tn::SGD calm{{.learning_rate = 0.05}};
    o.epochs = 3;
    const auto h = tn::fit(m3, calm, tn::SoftmaxCrossEntropy{}, d, o);
    ASSERT_EQ(h.epochs.size(), 1u);
    EXPECT_EQ(h.epochs[0].epoch, 3u);
    EXPECT_TRUE(weights_finite(m3));
}

TEST(NumericalFaults, SaveCheckpointRefusesDivergedWeights) {
    TempDir dir;
    const auto ckpt = dir.path / "c.safetensors";
    tn::Model<Net> m{3};
    tn::SGD opt;
    tn::save_checkpoint(ckpt, m, opt, 1);
    const std::string before = file_bytes(ckpt);
    auto w = m.parameters().to_host();
    w.back() = std::numeric_limits<float>::infinity();
    m.parameters().from_host(w);
    const std::string msg = numerical_error([&] { tn::save_checkpoint(ckpt, m, opt, 2); });
    EXPECT_NE(msg.find("parameter '2.bias' holds NaN or inf"), std::string::npos) << msg;
    EXPECT_EQ(file_bytes(ckpt), before);
}
