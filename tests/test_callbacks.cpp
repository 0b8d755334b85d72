// Tests of train/callbacks.hpp and train/schedules.hpp: each schedule's rates
// against their closed forms, the plateau / early-stopping rules on scripted
// metrics and in real fits, ModelCheckpoint and CSVLogger files, lambdas, the
// errors for bad monitors, and checkpoint + resume with callbacks bit for bit.
#include <typenet/backend/cpu/cpu.hpp>
#include <typenet/io/checkpoint.hpp>
#include <typenet/io/save_load.hpp>
#include <typenet/layers/activation.hpp>
#include <typenet/layers/batchnorm.hpp>
#include <typenet/layers/dense.hpp>
#include <typenet/layers/dropout.hpp>
#include <typenet/losses/softmax_cross_entropy.hpp>
#include <typenet/model/model.hpp>
#include <typenet/optim/adam.hpp>
#include <typenet/optim/rmsprop.hpp>
#include <typenet/optim/sgd.hpp>
#include <typenet/train/fit.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <sstream>

#include "io_test_util.hpp"
#include "xor_set.hpp"

namespace tn = typenet;
using io_test::read_raw;
using io_test::TempDir;

namespace {
tn::Dataset xor_set(std::size_t n, std::uint64_t seed) { return test_data::xor_set(n, seed, 0.6); }
// BatchNorm (buffers) and Dropout (the generator) make resuming and restoring non-trivial.
using Net = tn::Sequential<tn::Input<2>, tn::Dense<8>, tn::BatchNorm, tn::Tanh, tn::Dropout<0.2>, tn::Dense<2>>;
using M = tn::Model<Net>;

tn::FitOptions quiet(std::size_t epochs, const tn::Dataset* validation = nullptr) {
    return {.epochs = epochs, .batch_size = 16, .validation = validation, .verbose = tn::Verbosity::silent};
}

// A context over scripted metrics: each push() is an epoch whose metrics the test chooses.
template <class O>
struct Script {
    M model{1, tn::Cpu{1}};
    O optimizer;
    tn::History history;
    tn::TrainingContext<M, O> ctx{.model = model, .optimizer = optimizer, .history = history, .epochs = 100,
                                  .batches = 1, .has_validation = true};
    explicit Script(O o) : optimizer(std::move(o)) { model.optimizer_state().claim(O::name, O::state_slots); }
    void push(double val_loss, double val_accuracy = 0.5) {
        tn::EpochStats s;
        s.epoch = history.epochs.size() + 1;
        s.loss = val_loss;
        s.val_loss = val_loss;
        s.val_accuracy = val_accuracy;
        history.epochs.push_back(s);
        ctx.epoch = s.epoch;
    }
};

}  // namespace

// --- schedules: closed forms -------------------------------------------------------

TEST(Schedules, StepDecayHalvesEveryStepSize) {
    const tn::StepDecay s{{.step_size = 2, .factor = 0.5}};
    const double expected[] = {0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125};
    for (std::size_t i = 0; i < 7; ++i) EXPECT_DOUBLE_EQ(s.rate(i, 7, 0.1), expected[i]) << "step " << i;
}

TEST(Schedules, ExponentialDecayContinuousAndStaircase) {
    const tn::ExponentialDecay s{{.factor = 0.5, .decay_steps = 2}};
    const tn::ExponentialDecay stairs{{.factor = 0.5, .decay_steps = 2, .staircase = true}};
    for (std::size_t i = 0; i < 6; ++i) {
        EXPECT_DOUBLE_EQ(s.rate(i, 6, 0.1), 0.1 * std::pow(0.5, double(i) / 2)) << i;
        EXPECT_DOUBLE_EQ(stairs.rate(i, 6, 0.1), 0.1 * std::pow(0.5, double(i / 2))) << i;
    }
    EXPECT_DOUBLE_EQ(s.rate(1, 6, 0.1), 0.1 * std::sqrt(0.5));
}

TEST(Schedules, CosineDecayWarmsUpThenFollowsTheHalfCosine) {
    const tn::CosineDecay s{{.warmup = 2, .min_lr = 0.01}};
    const double base = 0.1, pi = std::numbers::pi;
    EXPECT_DOUBLE_EQ(s.rate(0, 6, base), 0.05);  // warm-up: base * 1/2, base * 2/2
    EXPECT_DOUBLE_EQ(s.rate(1, 6, base), 0.1);
    EXPECT_DOUBLE_EQ(s.rate(2, 6, base), 0.1);  // cosine from its peak over the 4 remaining steps
    EXPECT_DOUBLE_EQ(s.rate(3, 6, base), 0.01 + 0.09 * (1 + std::cos(pi / 4)) / 2);
    EXPECT_DOUBLE_EQ(s.rate(4, 6, base), 0.055);
    EXPECT_DOUBLE_EQ(s.rate(5, 6, base), 0.01 + 0.09 * (1 + std::cos(3 * pi / 4)) / 2);
    EXPECT_DOUBLE_EQ(tn::CosineDecay{}.rate(0, 4, 1.0), 1.0);  // no warm-up: the peak first
}

TEST(Schedules, OneCycleMatchesPyTorchsOneCycleLR) {
    // OneCycleLR(max_lr=1, total_steps=10): up from 1/25 over steps 0..2, down to 1/25/1e4 at step 9.
    const tn::OneCycle s;
    const double pi = std::numbers::pi, last = 0.04 / 1e4;
    // (PyTorch's formula, end + (start - end) / 2 * (cos + 1), rounds 0.04 up by 3.6e-17 too.)
    EXPECT_NEAR(s.rate(0, 10, 1.0), 0.04, 1e-15);
    EXPECT_NEAR(s.rate(1, 10, 1.0), 0.52, 1e-15);
    EXPECT_DOUBLE_EQ(s.rate(2, 10, 1.0), 1.0);
    for (std::size_t i = 3; i < 10; ++i)
        EXPECT_DOUBLE_EQ(s.rate(i, 10, 1.0), last + (1.0 - last) / 2 * (std::cos(pi * double(i - 2) / 7) + 1)) << i;
    EXPECT_DOUBLE_EQ(s.rate(9, 10, 1.0), last);
    EXPECT_NEAR(s.rate(3, 10, 1.0), 0.950484, 1e-6);  // PyTorch's value
}

TEST(Schedules, RejectBadOptions) {
    EXPECT_THROW(tn::StepDecay({.step_size = 0}), tn::ArgumentError);
    EXPECT_THROW(tn::ExponentialDecay({.factor = 0}), tn::ArgumentError);
    EXPECT_THROW(tn::OneCycle({.pct_start = 1.0}), tn::ArgumentError);
    EXPECT_THROW(tn::CosineDecay({.min_lr = -1}), tn::ArgumentError);
    EXPECT_THROW(tn::ReduceLROnPlateau({.factor = 1.0}), tn::ArgumentError);
}

// --- the optimizers follow the scheduled rate ---------------------------------------

TEST(ScheduledRate, AnOptimizerStepsWithTheRateInItsStateAndItsDecayOnTop) {
    const auto d = xor_set(32, 1);
    M a{3, tn::Cpu{1}}, b{3, tn::Cpu{1}};
    const tn::SGD fast{{.learning_rate = 0.5, .decay = 0.25}}, slow{{.learning_rate = 0.03, .decay = 0.25}};
    a.optimizer_state().claim(tn::SGD::name, tn::SGD::state_slots);
    a.optimizer_state().set_learning_rate(0.03);
    EXPECT_DOUBLE_EQ(fast.learning_rate(a.optimizer_state()), 0.03);
    a.optimizer_state().set_step(4);
    EXPECT_DOUBLE_EQ(fast.learning_rate(a.optimizer_state()), 0.03 / 2);  // 0.03 / (1 + 0.25 * 4)
    a.optimizer_state().set_step(0);
    // Two epochs with the scheduled 0.03 equal two with an optimizer whose own rate is 0.03.
    tn::fit(a, fast, tn::SoftmaxCrossEntropy{}, d, quiet(2));
    tn::fit(b, slow, tn::SoftmaxCrossEntropy{}, d, quiet(2));
    EXPECT_EQ(a.parameters().to_host(), b.parameters().to_host());
    // Another optimizer claiming the state drops the rate with the moments.
    a.optimizer_state().claim(tn::Adam::name, tn::Adam::state_slots);
    EXPECT_FALSE(a.optimizer_state().learning_rate().has_value());
    EXPECT_THROW(a.optimizer_state().set_learning_rate(0.0), tn::ArgumentError);
}

TEST(ScheduledRate, PerEpochScheduleSetsEachEpochsRateInAFit) {
    const auto d = xor_set(64, 2);
    M m{3, tn::Cpu{1}};
    tn::SGD opt{{.learning_rate = 0.2}};
    tn::StepDecay step{{.step_size = 2, .factor = 0.5}};
    std::vector<double> seen;
    const auto h = tn::fit(m, opt, tn::SoftmaxCrossEntropy{}, d, quiet(5), step,
                           tn::each_epoch([&](auto& c) { seen.push_back(c.learning_rate()); }));
    const std::vector<double> expected{0.2, 0.2, 0.1, 0.1, 0.05};
    EXPECT_EQ(seen, expected);
    ASSERT_EQ(h.epochs.size(), 5u);
    for (std::size_t e = 0; e < 5; ++e) EXPECT_EQ(h.epochs[e].learning_rate, expected[e]) << "History's rate, epoch " << e + 1;
}

TEST(ScheduledRate, PerBatchOneCycleSetsEveryBatchsRate) {
    const auto d = xor_set(60, 3);  // 4 batches of 16: the last has 12
    M m{3, tn::Cpu{1}};
    tn::Adam opt{{.learning_rate = 0.05}};
    auto cycle = tn::per_batch(tn::OneCycle{});
    std::vector<double> rates;
    std::vector<std::size_t> sizes;
    tn::fit(m, opt, tn::SoftmaxCrossEntropy{}, d, quiet(3), cycle, tn::each_batch([&](auto& c) {
                rates.push_back(c.learning_rate());
                sizes.push_back(c.batch_samples);
                EXPECT_EQ(c.run_batch(), rates.size() - 1);
            }));
    ASSERT_EQ(rates.size(), 12u) << "the per-batch lambda runs once per batch";
    for (std::size_t i = 0; i < 12; ++i) EXPECT_EQ(rates[i], tn::OneCycle{}.rate(i, 12, 0.05)) << "batch " << i;
    EXPECT_EQ(sizes[3], 12u);
    EXPECT_EQ(sizes[4], 16u);
}

// --- ReduceLROnPlateau -------------------------------------------------------------

TEST(ReduceLROnPlateau, ReducesAfterPatienceWithCooldownDownToMinLr) {
    Script s(tn::SGD{{.learning_rate = 0.1}});
    tn::ReduceLROnPlateau plateau{{.factor = 0.5, .patience = 2, .cooldown = 1, .min_lr = 0.02, .min_delta = 0}};
    plateau.on_train_begin(s.ctx);
    const double losses[] = {1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95};
    // Reductions after 2 epochs without improvement, then every 2 (1 of cooldown,
    // which as in Keras counts its last epoch), never below min_lr.
    const double expected[] = {0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.02, 0.02, 0.02, 0.02};
    for (std::size_t e = 0; e < 11; ++e) {
        s.push(losses[e]);
        plateau.on_epoch_end(s.ctx);
        EXPECT_DOUBLE_EQ(s.ctx.learning_rate(), expected[e]) << "after epoch " << e + 1;
    }
    EXPECT_EQ(plateau.best(), 0.9);
}

TEST(ReduceLROnPlateau, AnImprovementSmallerThanMinDeltaDoesNotCountAndAccuracyRises) {
    Script s(tn::SGD{{.learning_rate = 0.1}});
    tn::ReduceLROnPlateau plateau{{.monitor = "val_accuracy", .factor = 0.1, .patience = 2, .min_delta = 0.01}};
    plateau.on_train_begin(s.ctx);
    const double acc[] = {0.5, 0.6, 0.605, 0.609};  // +0.005 and +0.009: no improvement
    for (const double a : acc) {
        s.push(1.0, a);
        plateau.on_epoch_end(s.ctx);
    }
    EXPECT_DOUBLE_EQ(s.ctx.learning_rate(), 0.01);
    EXPECT_EQ(plateau.best(), 0.6);
}

TEST(ReduceLROnPlateau, InARealFitTheHistoryShowsTheReducedRates) {
    const auto d = xor_set(64, 4);
    M m{3, tn::Cpu{1}};
    tn::SGD opt{{.learning_rate = 0.2}};
    // Mode max on a falling training loss: never an improvement after epoch 1.
    tn::ReduceLROnPlateau plateau{{.monitor = "loss", .factor = 0.5, .patience = 1, .mode = tn::MonitorMode::max}};
    std::ostringstream out;
    auto o = quiet(4);
    o.verbose = tn::Verbosity::lines;
    o.out = &out;
    const auto h = tn::fit(m, opt, tn::SoftmaxCrossEntropy{}, d, o, plateau);
    ASSERT_EQ(h.epochs.size(), 4u);
    EXPECT_EQ(h.epochs[0].learning_rate, 0.2);
    EXPECT_EQ(h.epochs[1].learning_rate, 0.2);  // reduced at the end of epoch 2
    EXPECT_EQ(h.epochs[2].learning_rate, 0.1);
    EXPECT_EQ(h.epochs[3].learning_rate, 0.05);
    EXPECT_EQ(m.optimizer_state().learning_rate(), 0.025);
    EXPECT_NE(out.str().find("ReduceLROnPlateau: loss has not improved for 1 epoch(s); learning rate 0.1 -> 0.05"),
              std::string::npos)
        << out.str();
    EXPECT_NE(out.str().find("lr 0.05 "), std::string::npos) << "the progress lines show the rate:\n" << out.str();
}

// --- EarlyStopping ---------------------------------------------------------------

TEST(EarlyStopping, StopsAfterPatienceEpochsWithoutAnImprovementOfMinDelta) {
    Script s(tn::SGD{});
    tn::EarlyStopping early{{.monitor = "val_accuracy", .min_delta = 0.01, .patience = 2}};
    early.on_train_begin(s.ctx);
    const double acc[] = {0.5, 0.6, 0.605, 0.62, 0.62, 0.625};
    for (std::size_t e = 0; e < 6; ++e) {
        s.push(1.0, acc[e]);
        early.on_epoch_end(s.ctx);
        EXPECT_EQ(s.ctx.stop_training, e == 5) << "after epoch " << e + 1;
    }
    EXPECT_EQ(early.best_epoch(), 4u);
    EXPECT_EQ(early.best(), 0.62);
    EXPECT_EQ(early.stopped_epoch(), 6u);

    Script z(tn::SGD{});
    tn::EarlyStopping impatient{{.monitor = "val_loss"}};  // patience 0: the first epoch without improvement stops
    impatient.on_train_begin(z.ctx);
    z.push(1.0);
    impatient.on_epoch_end(z.ctx);
    EXPECT_FALSE(z.ctx.stop_training);
    z.push(1.0);
    impatient.on_epoch_end(z.ctx);
    EXPECT_TRUE(z.ctx.stop_training);
}

TEST(EarlyStopping, EndsTheFitAndRestoresTheBestEpochsWeights) {
    const auto d = xor_set(64, 5);
    M m{3, tn::Cpu{1}};
    tn::RMSprop opt{{.learning_rate = 0.01}};
    // Mode max on a falling training loss: epoch 1 stays the best.
    tn::EarlyStopping early{{.monitor = "loss", .patience = 2, .mode = tn::MonitorMode::max, .restore_best_weights = true}};
    std::vector<std::vector<float>> weights, buffers;
    const auto h = tn::fit(m, opt, tn::SoftmaxCrossEntropy{}, d, quiet(10), early, tn::each_epoch([&](auto& c) {
                               weights.push_back(c.model.parameters().to_host());
                               buffers.push_back(c.model.buffers().to_host());
                           }));
    ASSERT_EQ(h.epochs.size(), 3u) << "stopped after 2 epochs without improvement";
    EXPECT_EQ(early.stopped_epoch(), 3u);
    ASSERT_EQ(early.best_epoch(), 1u);
    EXPECT_EQ(m.parameters().to_host(), weights[0]) << "the best epoch's weights are back";
    EXPECT_EQ(m.buffers().to_host(), buffers[0]) << "and its BatchNorm statistics";
    EXPECT_NE(weights[0], weights[2]);

    // Without restore_best_weights the last epoch's weights stay.
    M n{3, tn::Cpu{1}};
    tn::EarlyStopping keep{{.monitor = "loss", .patience = 2, .mode = tn::MonitorMode::max}};
    tn::fit(n, opt, tn::SoftmaxCrossEntropy{}, d, quiet(10), keep);
    EXPECT_EQ(n.parameters().to_host(), weights[2]);
}

// --- monitors: errors at fit start ----------------------------------------------------

TEST(Callbacks, AnUnknownOrUnmeasuredMonitorIsAClearErrorBeforeTraining) {
    const auto d = xor_set(32, 6);
    M m{3, tn::Cpu{1}};
    const auto before = m.parameters().to_host();
    tn::SGD opt;
    auto expect_error = [&](auto&& f, const std::vector<std::string>& needles) {
        try {
            f();
            ADD_FAILURE() << "no ArgumentError";
        } catch (const tn::ArgumentError& e) {
            for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
        }
    };
    tn::EarlyStopping typo{{.monitor = "val_acc"}};
    expect_error([&] { tn::fit(m, opt, tn::SoftmaxCrossEntropy{}, d, quiet(1, &d), typo); },
                 {"EarlyStopping monitors 'val_acc', which fit does not record",
                  "loss, accuracy, val_loss, val_accuracy"});
    tn::ReduceLROnPlateau no_val;  // monitors val_loss by default
    expect_error([&] { tn::fit(m, opt, tn::SoftmaxCrossEntropy{}, d, quiet(1), no_val); },
                 {"ReduceLROnPlateau monitors 'val_loss' but fit has no validation set", "one of: loss, accuracy"});
    TempDir dir;
    tn::ModelCheckpoint best{{.path = dir / "b.safetensors", .monitor = "acc"}};
    expect_error([&] { tn::fit(m, opt, tn::SoftmaxCrossEntropy{}, d, quiet(1), best); }, {"ModelCheckpoint monitors 'acc'"});
    EXPECT_EQ(m.parameters().to_host(), before) << "nothing trained";
    EXPECT_THROW(tn::ModelCheckpoint({}), tn::ArgumentError);
}

// --- ModelCheckpoint -------------------------------------------------------------------

TEST(ModelCheckpoint, WritesOnlyOnImprovementAndTheFileLoads) {
    TempDir dir;
    Script s(tn::SGD{});
    tn::ModelCheckpoint best{{.path = dir / "best.safetensors"}};
    best.on_train_begin(s.ctx);
    const double losses[] = {1.0, 0.8, 0.9, 0.7, 0.75};
    std::vector<std::vector<float>> weights;
    for (std::size_t e = 0; e < 5; ++e) {
        s.model.initialize(100 + e);  // other weights every epoch
        weights.push_back(s.model.parameters().to_host());
        s.push(losses[e]);
        best.on_epoch_end(s.ctx);
        M loaded{0, tn::Cpu{1}};
        tn::load(loaded, dir / "best.safetensors");
        const std::size_t best_so_far = e < 1 ? 0 : e < 3 ? 1 : 3;
        EXPECT_EQ(loaded.parameters().to_host(), weights[best_so_far]) << "after epoch " << e + 1;
    }
    EXPECT_EQ(best.writes(), 3u);
    EXPECT_EQ(best.best_epoch(), 4u);
    EXPECT_EQ(best.best(), 0.7);
    EXPECT_EQ(dir.files(), std::vector<std::string>{"best.safetensors"}) << "atomic writes leave no temporaries";
}

TEST(ModelCheckpoint, InARealFitKeepsTheBestByValidationAccuracy) {
    TempDir dir;
    const auto d = xor_set(64, 7), v = xor_set(32, 8);
    M m{3, tn::Cpu{1}};
    tn::RMSprop opt{{.learning_rate = 0.01}};
    tn::ModelCheckpoint best{{.path = dir / "best.safetensors", .monitor = "val_accuracy"}};
    tn::ModelCheckpoint resumable{{.path = dir / "best.ckpt", .monitor = "val_accuracy", .weights_only = false}};
    std::vector<std::vector<float>> weights;
    const auto h = tn::fit(m, opt, tn::SoftmaxCrossEntropy{}, d, quiet(6, &v), best, resumable,
                           tn::each_epoch([&](auto& c) { weights.push_back(c.model.parameters().to_host()); }));
    std::size_t argmax = 0;
    for (std::size_t e = 1; e < h.epochs.size(); ++e)
        if (h.epochs[e].val_accuracy > h.epochs[argmax].val_accuracy) argmax = e;
    EXPECT_EQ(best.best_epoch(), argmax + 1);
    M loaded{0, tn::Cpu{1}};
    tn::load(loaded, dir / "best.safetensors");
    EXPECT_EQ(loaded.parameters().to_host(), weights[argmax]);
    EXPECT_DOUBLE_EQ(tn::evaluate(loaded, v).accuracy, h.epochs[argmax].val_accuracy);
    M from_checkpoint{0, tn::Cpu{1}};
    EXPECT_EQ(tn::load_checkpoint(dir / "best.ckpt", from_checkpoint, opt), argmax + 1) << "weights_only = false: a checkpoint";
    EXPECT_EQ(from_checkpoint.parameters().to_host(), weights[argmax]);
}

// --- CSVLogger ---------------------------------------------------------------------

TEST(CSVLogger, WritesEachRowDuringTrainingInHistorysFormat) {
    TempDir dir;
    const auto d = xor_set(64, 9), v = xor_set(32, 10);
    M m{3, tn::Cpu{1}};
    tn::SGD opt{{.learning_rate = 0.1}};
    tn::CSVLogger csv(dir / "log.csv");
    std::vector<std::string> during;
    const auto h = tn::fit(m, opt, tn::SoftmaxCrossEntropy{}, d, quiet(3, &v), csv,
                           tn::each_epoch([&](auto&) { during.push_back(read_raw(dir / "log.csv")); }));
    ASSERT_EQ(during.size(), 3u);
    for (std::size_t e = 0; e < 3; ++e)
        EXPECT_EQ(std::count(during[e].begin(), during[e].end(), '\n'), long(e + 2)) << "header + rows after epoch " << e + 1;
    EXPECT_EQ(read_raw(dir / "log.csv"), h.to_csv());
    EXPECT_EQ(h.to_csv().rfind(tn::detail::csv_header, 0), 0u);
    EXPECT_NE(h.to_csv().find(",0.1,"), std::string::npos) << "the learning rate column:\n" << h.to_csv();
}

TEST(CSVLogger, ReplacesTheFileUnlessAskedToAppendAndReportsAnUnwritablePath) {
    TempDir dir;
    const auto d = xor_set(32, 17);
    M m{3, tn::Cpu{1}};
    tn::SGD opt;
    tn::CSVLogger fresh(dir / "log.csv");
    tn::fit(m, opt, tn::SoftmaxCrossEntropy{}, d, quiet(2), fresh);
    tn::fit(m, opt, tn::SoftmaxCrossEntropy{}, d, quiet(2), fresh);
    std::string text = read_raw(dir / "log.csv");
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3) << "a second fit starts a new file:\n" << text;
    tn::CSVLogger more(dir / "log.csv", {.append = true});
    tn::fit(m, opt, tn::SoftmaxCrossEntropy{}, d, quiet(2), more);
    text = read_raw(dir / "log.csv");
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 5) << "appended, without a second header:\n" << text;
    EXPECT_EQ(text.find("epoch,", 1), std::string::npos) << text;

    tn::CSVLogger nowhere(dir / "no" / "such" / "log.csv");
    io_test::expect_io_error([&] { tn::fit(m, opt, tn::SoftmaxCrossEntropy{}, d, quiet(1), nowhere); },
                             {"CSVLogger: could not open", "check that the directory exists"});
}

// --- per-batch lambdas ---------------------------------------------------------------

TEST(Callbacks, PerBatchLambdaRunsOncePerBatchAndEpochLambdaCanStop) {
    const auto d = xor_set(70, 11);  // 5 batches of 16 (the last 6)
    M m{3, tn::Cpu{1}};
    tn::SGD opt;
    std::size_t batches = 0, samples = 0;
    const auto h = tn::fit(m, opt, tn::SoftmaxCrossEntropy{}, d, quiet(4), tn::each_batch([&](auto& c) {
                               ++batches;
                               samples += c.batch_samples;
                           }),
                           tn::each_epoch([](auto& c) { c.stop_training = c.epoch == 3; }));
    EXPECT_EQ(h.epochs.size(), 3u);
    EXPECT_EQ(batches, 15u);
    EXPECT_EQ(samples, 210u);
    using Ctx = tn::TrainingContext<M, tn::SGD>;
    static_assert(!tn::callback_detail::wants_batches<tn::EarlyStopping, Ctx>);
    static_assert(!tn::callback_detail::wants_batches<tn::StepDecay, Ctx>);
    static_assert(tn::callback_detail::wants_batches<decltype(tn::per_batch(tn::OneCycle{})), Ctx>);
}

// --- checkpoints and resume -------------------------------------------------------------

namespace {
// Trains `epochs` epochs in one go, and again interrupted after epoch `split`
// (as by a crash right after its checkpoint) and resumed by another model
// and callbacks (`make` builds a fresh set); expects the same weights,
// buffers, optimizer state and metrics.
template <class O, class Make>
void expect_resume_equals_uninterrupted(const O& opt, std::size_t epochs, std::size_t split, Make make,
                                        std::size_t expected_epochs) {
    TempDir dir;
    const auto d = xor_set(64, 12), v = xor_set(32, 13);
    const tn::SoftmaxCrossEntropy loss;
    M full{7, tn::Cpu{1}};
    auto cf = make(dir / "full.csv");
    const auto hf = std::apply([&](auto&... c) { return tn::fit(full, opt, loss, d, quiet(epochs, &v), c...); }, cf);
    ASSERT_EQ(hf.epochs.size(), expected_epochs);

    auto o = quiet(epochs, &v);
    o.checkpoint_path = dir / "run.ckpt";
    o.checkpoint_every = 1;
    M first{7, tn::Cpu{1}};
    auto c1 = make(dir / "resumed.csv");
    auto crash = tn::each_epoch([&](auto& c) { c.stop_training = c.stop_training || c.epoch == split; });
    std::apply([&](auto&... c) { tn::fit(first, opt, loss, d, o, c..., crash); }, c1);

    M resumed{99, tn::Cpu{1}};  // as in a new process
    auto c2 = make(dir / "resumed.csv");
    o.resume = true;
    const auto hr = std::apply([&](auto&... c) { return tn::fit(resumed, opt, loss, d, o, c...); }, c2);
    ASSERT_EQ(hr.epochs.size(), expected_epochs - split);
    EXPECT_EQ(resumed.parameters().to_host(), full.parameters().to_host());
    EXPECT_EQ(resumed.buffers().to_host(), full.buffers().to_host());
    EXPECT_EQ(resumed.optimizer_state().moments().to_host(), full.optimizer_state().moments().to_host());
    EXPECT_EQ(resumed.optimizer_state().step(), full.optimizer_state().step());
    EXPECT_EQ(resumed.optimizer_state().learning_rate(), full.optimizer_state().learning_rate());
    for (std::size_t i = 0; i < hr.epochs.size(); ++i) {
        const auto &a = hr.epochs[i], &b = hf.epochs[split + i];
        EXPECT_EQ(a.epoch, b.epoch);
        EXPECT_EQ(a.loss, b.loss);
        EXPECT_EQ(a.val_loss, b.val_loss);
        EXPECT_EQ(a.learning_rate, b.learning_rate);
    }
}
// The CSV without its seconds column (the only one that differs between runs).
std::string without_seconds(const std::string& csv) {
    std::istringstream in(csv);
    std::string out, line;
    while (std::getline(in, line)) {
        const auto last = line.rfind(','), seconds = line.rfind(',', last - 1);
        out += line.substr(0, seconds) + line.substr(last) + "\n";
    }
    return out;
}
}  // namespace

TEST(Resume, WithAPerBatchOneCycleEqualsTheUninterruptedRunBitForBit) {
    expect_resume_equals_uninterrupted(
        tn::Adam{{.learning_rate = 0.05}}, 4, 2, [](auto) { return std::tuple(tn::per_batch(tn::OneCycle{})); }, 4);
}

TEST(Resume, WithReduceLROnPlateauAndCSVLoggerEqualsTheUninterruptedRunBitForBit) {
    // Mode max on the falling training loss: reductions at epochs 2, 3, 4, 5.
    expect_resume_equals_uninterrupted(
        tn::RMSprop{{.learning_rate = 0.01, .decay = 0.01}}, 5, 3,
        [](const std::filesystem::path& csv) {
            return std::tuple(tn::ReduceLROnPlateau{{.monitor = "loss", .factor = 0.5, .patience = 1, .mode = tn::MonitorMode::max}},
                              tn::CSVLogger(csv));
        },
        5);
}

TEST(Resume, EarlyStoppingWithRestoredWeightsAcrossAResume) {
    // Stops at epoch 3 and restores epoch 1; the split run stops after epoch 2's
    // checkpoint, so the best weights must come from the checkpoint.
    expect_resume_equals_uninterrupted(
        tn::RMSprop{{.learning_rate = 0.01}}, 8, 2,
        [](auto) {
            return std::tuple(tn::EarlyStopping{
                {.monitor = "loss", .patience = 2, .mode = tn::MonitorMode::max, .restore_best_weights = true}});
        },
        3);
}

TEST(Resume, AnEarlyStoppedRunStaysStopped) {
    TempDir dir;
    const auto d = xor_set(64, 14);
    M m{7, tn::Cpu{1}};
    tn::RMSprop opt{{.learning_rate = 0.01}};
    auto o = quiet(10);
    o.checkpoint_path = dir / "run.ckpt";
    o.checkpoint_every = 1;
    std::ostringstream out;
    o.verbose = tn::Verbosity::lines;
    o.out = &out;
    const tn::EarlyStoppingOptions eo{.monitor = "loss", .patience = 1, .mode = tn::MonitorMode::max, .restore_best_weights = true};
    tn::EarlyStopping early{eo};
    std::vector<float> first_epoch;
    EXPECT_EQ(tn::fit(m, opt, tn::SoftmaxCrossEntropy{}, d, o, early, tn::each_epoch([&](auto& c) {
                          if (c.epoch == 1) first_epoch = c.model.parameters().to_host();
                      })).epochs.size(),
              2u);
    EXPECT_EQ(m.parameters().to_host(), first_epoch);
    o.resume = true;
    M r{1, tn::Cpu{1}};
    tn::EarlyStopping again{eo};
    EXPECT_TRUE(tn::fit(r, opt, tn::SoftmaxCrossEntropy{}, d, o, again).epochs.empty());
    EXPECT_EQ(again.stopped_epoch(), 2u);
    EXPECT_EQ(r.parameters().to_host(), first_epoch) << "the best weights, from the checkpoint";
    EXPECT_NE(out.str().find("EarlyStopping: restored the weights of epoch 1"), std::string::npos) << out.str();
}

TEST(Resume, TheCSVLogOfAResumedRunEqualsTheUninterruptedOnes) {
    TempDir dir;
    const auto d = xor_set(64, 15);
    const tn::SoftmaxCrossEntropy loss;
    tn::SGD opt{{.learning_rate = 0.1}};
    M full{7, tn::Cpu{1}};
    tn::CSVLogger full_csv(dir / "full.csv");
    tn::fit(full, opt, loss, d, quiet(4), full_csv);

    auto o = quiet(3);
    o.checkpoint_path = dir / "run.ckpt";
    o.checkpoint_every = 2;  // epoch 3's row is written after the checkpoint of epoch 2: dropped on resume
    M m{7, tn::Cpu{1}};
    tn::CSVLogger csv(dir / "resumed.csv");
    tn::fit(m, opt, loss, d, o, csv);
    o.epochs = 4;
    o.resume = true;
    M r{1, tn::Cpu{1}};
    tn::fit(r, opt, loss, d, o, csv);
    EXPECT_EQ(without_seconds(read_raw(dir / "resumed.csv")), without_seconds(read_raw(dir / "full.csv")));
}

// --- the checkpoint format ---------------------------------------------------------------

TEST(CheckpointFormat, Version2CarriesTheRateAndCallbackStateAndVersion1StillLoads) {
    TempDir dir;
    const auto d = xor_set(64, 16);
    M m{7, tn::Cpu{1}};
    tn::SGD opt{{.learning_rate = 0.1}};
    auto o = quiet(2);
    o.checkpoint_path = dir / "run.ckpt";
    o.checkpoint_every = 2;
    tn::ReduceLROnPlateau plateau{{.monitor = "loss", .factor = 0.3, .patience = 1, .mode = tn::MonitorMode::max}};
    tn::fit(m, opt, tn::SoftmaxCrossEntropy{}, d, o, plateau);
    const double rate = *m.optimizer_state().learning_rate();
    EXPECT_DOUBLE_EQ(rate, 0.1 * 0.3);

    const tn::SafetensorsReader file(o.checkpoint_path);
    EXPECT_EQ(file.metadata().at("typenet.checkpoint.version"), "2");
    EXPECT_EQ(file.metadata().at("typenet.training.0.ReduceLROnPlateau.wait"), "0");
    M back{1, tn::Cpu{1}};
    tn::load_checkpoint(file, back, opt);
    EXPECT_EQ(back.optimizer_state().learning_rate(), rate) << "exactly, through the file's text";
    const auto st = tn::read_training_state<float>(file);
    EXPECT_EQ(st.number("0.ReduceLROnPlateau.best"), plateau.best());

    // A version 1 file (no version, no rate, no training state) loads as before.
    tn::SafetensorsWriter v1;
    for (const auto& t : file.tensors()) {
        if (t.dtype == tn::Dtype::U64) v1.add<std::uint64_t>(t.name, t.shape, file.read<std::uint64_t>(t));
        else v1.add<float>(t.name, t.shape, file.read<float>(t));
    }
    for (const auto& [k, v] : file.metadata())
        if (k != "typenet.checkpoint.version" && k != "typenet.checkpoint.learning_rate" && !k.starts_with("typenet.training."))
            v1.set_metadata(k, v);
    v1.write(dir / "v1.ckpt");
    M old{1, tn::Cpu{1}};
    EXPECT_EQ(tn::load_checkpoint(dir / "v1.ckpt", old, opt), 2u);
    EXPECT_EQ(old.parameters().to_host(), m.parameters().to_host());
    EXPECT_FALSE(old.optimizer_state().learning_rate().has_value());
    EXPECT_TRUE(tn::read_training_state<float>(tn::SafetensorsReader(dir / "v1.ckpt")).values.empty());

    // A newer version is refused with a reason.
    v1.set_metadata("typenet.checkpoint.version", "3");
    v1.write(dir / "v3.ckpt");
    io_test::expect_io_error([&] { tn::load_checkpoint(dir / "v3.ckpt", old, opt); },
                             {"the checkpoint format version is 3", "versions 1 to 2"});
}
