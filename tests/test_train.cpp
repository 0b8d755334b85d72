// Tests of train/: fit learns, reports, validates its arguments and is
// deterministic; evaluate and predict agree with it.
#include <typenet/backend/cpu/cpu.hpp>
#include <typenet/layers/activation.hpp>
#include <typenet/layers/dense.hpp>
#include <typenet/losses/binary_cross_entropy.hpp>
#include <typenet/losses/mse.hpp>
#include <typenet/losses/softmax_cross_entropy.hpp>
#include <typenet/model/model.hpp>
#include <typenet/optim/adam.hpp>
#include <typenet/optim/rmsprop.hpp>
#include <typenet/optim/sgd.hpp>
#include <typenet/train/fit.hpp>
#include <typenet/train/predict.hpp>

#include <gtest/gtest.h>

#include "xor_set.hpp"

#include <sstream>

namespace tn = typenet;

namespace {
tn::Dataset xor_set(std::size_t n, std::uint64_t seed) { return test_data::xor_set(n, seed, 0.4); }
using XorNet = tn::Sequential<tn::Input<2>, tn::Dense<8>, tn::Tanh, tn::Dense<2>>;
const tn::FitOptions quiet{.epochs = 1, .batch_size = 8, .verbose = tn::Verbosity::silent};
}  // namespace

TEST(Fit, LearnsXorToFullTrainingAccuracy) {
    const auto d = xor_set(200, 1);
    tn::Model<XorNet> m{3};
    tn::RMSprop opt{{.learning_rate = 0.01}};
    auto o = quiet;
    o.epochs = 40;
    const auto h = tn::fit(m, opt, tn::SoftmaxCrossEntropy{}, d, o);
    ASSERT_EQ(h.epochs.size(), 40u);
    EXPECT_EQ(h.last().accuracy, 1.0);
    EXPECT_LT(h.last().loss, h.epochs.front().loss);
    EXPECT_EQ(tn::evaluate(m, d).accuracy, 1.0);
}

TEST(Fit, SigmoidOutputsWithBinaryCrossEntropyAndMse) {
    using Net = tn::Sequential<tn::Input<2>, tn::Dense<8>, tn::Tanh, tn::Dense<2>, tn::Sigmoid>;
    const auto d = xor_set(200, 2);
    tn::Model<Net> a{3}, b{3};
    tn::Adam oa{{.learning_rate = 0.02}};
    tn::SGD ob{{.learning_rate = 0.5, .momentum = 0.9}};
    auto o = quiet;
    o.epochs = 60;
    EXPECT_EQ(tn::fit(a, oa, tn::BinaryCrossEntropy{}, d, o).last().accuracy, 1.0);
    EXPECT_EQ(tn::fit(b, ob, tn::MeanSquaredError{}, d, o).last().accuracy, 1.0);
}

TEST(Fit, SameSeedGivesBitIdenticalWeights) {
    const auto d = xor_set(100, 4);
    auto train = [&] {
        tn::Model<XorNet> m{11, tn::Cpu{1}};
        tn::RMSprop opt;
        auto o = quiet;
        o.epochs = 3;
        tn::fit(m, opt, tn::SoftmaxCrossEntropy{}, d, o);
        return m.parameters().to_host();
    };
    EXPECT_EQ(train(), train());
}

TEST(Fit, ValidationAndLinesOutput) {
    const auto d = xor_set(64, 5), v = xor_set(32, 6);
    tn::Model<XorNet> m{3};
    tn::RMSprop opt{{.learning_rate = 0.01}};
    std::ostringstream out;
    const auto h = tn::fit(m, opt, tn::SoftmaxCrossEntropy{}, d,
                           {.epochs = 3, .batch_size = 10, .validation = &v, .verbose = tn::Verbosity::lines, .out = &out});
    ASSERT_TRUE(h.last().has_validation());
    const auto vm = tn::evaluate(m, v, tn::SoftmaxCrossEntropy{});
    EXPECT_NEAR(h.last().val_loss, vm.loss, 1e-6);
    EXPECT_EQ(h.last().val_accuracy, vm.accuracy);
    const std::string s = out.str();
    EXPECT_NE(s.find("epoch 1/3"), std::string::npos) << s;
    EXPECT_NE(s.find("val_acc"), std::string::npos) << s;
    EXPECT_NE(s.find("  lr 0.01  "), std::string::npos) << "RMSprop's rate on each line:\n" << s;
    // A line naming the backend and its kernel path, then one line per epoch when not a terminal.
    EXPECT_EQ(s.rfind("fit: " + m.backend().description() + "\n", 0), 0u) << s;
    EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 4) << "a header, then one line per epoch when not a terminal:\n" << s;
    const std::string csv = h.to_csv();
    EXPECT_EQ(csv.rfind("epoch,loss,accuracy,val_loss,val_accuracy,learning_rate,seconds,skipped_batches\n", 0), 0u);
    EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4);
}

TEST(Fit, ProgressBarRedrawsInPlace) {
    const auto d = xor_set(64, 5);
    tn::Model<XorNet> m{3};
    tn::SGD opt;
    std::ostringstream out;
    tn::fit(m, opt, tn::SoftmaxCrossEntropy{}, d, {.epochs = 1, .batch_size = 8, .verbose = tn::Verbosity::bar, .out = &out});
    const std::string s = out.str();
    EXPECT_NE(s.find("\rEpoch 1/1 ["), std::string::npos) << s;
    EXPECT_NE(s.find("8/8"), std::string::npos) << s;
    EXPECT_NE(s.find("  lr 0.01  "), std::string::npos) << "the bar shows the current learning rate:\n" << s;
}

namespace {
template <class F>
void expect_error(F&& f, const std::string& needle) {
    try {
        f();
        FAIL() << "expected an error mentioning '" << needle << "'";
    } catch (const tn::Error& e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}
}  // namespace

TEST(Fit, RejectsBadArgumentsWithClearMessages) {
    auto d = xor_set(20, 7);
    tn::Model<XorNet> m{3};
    tn::SGD opt;
    tn::SoftmaxCrossEntropy loss;
    auto with = [&](std::size_t epochs, std::size_t bs) {
        auto o = quiet;
        o.epochs = epochs;
        o.batch_size = bs;
        return o;
    };
    expect_error([&] { tn::fit(m, opt, loss, d, with(1, 0)); }, "batch_size must be at least 1");
    expect_error([&] { tn::fit(m, opt, loss, d, with(1, 21)); }, "larger than the training set 'xor toy'");
    expect_error([&] { tn::fit(m, opt, loss, d, with(0, 4)); }, "epochs must be at least 1");
    tn::Dataset empty;
    empty.name = "nothing";
    expect_error([&] { tn::fit(m, opt, loss, empty, with(1, 4)); }, "is empty");
    auto bad = xor_set(20, 7);
    bad.labels[3] = 5;
    expect_error([&] { tn::fit(m, opt, loss, bad, with(1, 4)); }, "label 5 of sample 3");
    tn::Dataset wrong;
    wrong.name = "wide";
    wrong.images.resize(tn::Dims{4, 3});
    wrong.labels = {0, 1, 0, 1};
    wrong.classes = 2;
    expect_error([&] { tn::fit(m, opt, loss, wrong, with(1, 2)); }, "samples of 3 values but the network input (N, 2)");
}

TEST(Predict, ProbabilitiesSumToOneAndMatchEvaluate) {
    const auto d = xor_set(100, 9);
    tn::Model<XorNet> m{3};
    tn::RMSprop opt{{.learning_rate = 0.01}};
    auto o = quiet;
    o.epochs = 20;
    tn::fit(m, opt, tn::SoftmaxCrossEntropy{}, d, o);
    const auto p = tn::predict(m, d.images.span(), 7);  // batch 7: exercises a partial last batch
    ASSERT_EQ(p.classes.size(), 100u);
    std::size_t correct = 0;
    for (std::size_t i = 0; i < 100; ++i) {
        EXPECT_NEAR(p.probabilities[2 * i] + p.probabilities[2 * i + 1], 1.0f, 1e-6f);
        correct += (p.classes[i] == d.labels[i]);
    }
    EXPECT_DOUBLE_EQ(double(correct) / 100, tn::evaluate(m, d).accuracy);
    const auto one = tn::predict_one(m, d.sample(3));
    EXPECT_EQ(one.label, p.classes[3]);
    EXPECT_NEAR(one.probabilities[1], p.probabilities[7], 1e-6f);
    EXPECT_THROW(tn::predict_one(m, std::span<const float>(d.images.data(), 3)), tn::ArgumentError);
}
