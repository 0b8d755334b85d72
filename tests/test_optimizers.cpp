// tests/test_optimizers.cpp - SGD, RMSprop and Adam against hand-computed numbers.
//
// The model is Sequential<Input<2>, Dense<1>> in double: three parameters laid
// out as weight (1,2) = {w0, w1} then bias (1) = {b}. Every test sets the
// parameters and gradients by hand, steps, and compares with literals worked
// out in the comments (checked in Python), never with the update formula as
// code. Tolerance 1e-12: the literals carry 16+ digits and a step is a handful
// of double operations on O(1) values (rounding ~1e-16).
#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <vector>

#include <typenet/backend/cpu/cpu.hpp>
#include <typenet/core/error.hpp>
#include <typenet/layers/dense.hpp>
#include <typenet/model/model.hpp>
#include <typenet/model/sequential.hpp>
#include <typenet/optim/adam.hpp>
#include <typenet/optim/optimizer.hpp>
#include <typenet/optim/rmsprop.hpp>
#include <typenet/optim/sgd.hpp>

namespace {

using namespace typenet;
using Net = Sequential<Input<2>, Dense<1>>;
using TinyModel = Model<Net, Cpu, double>;
using Values = std::array<double, 3>;  // {w0, w1, b}

static_assert(Optimizer<SGD, TinyModel> && Optimizer<RMSprop, TinyModel> && Optimizer<Adam, TinyModel>);
static_assert(!Optimizer<SGD, int> && !Optimizer<int, TinyModel>);

constexpr double tol = 1e-12;
constexpr Values w_start = {0.5, -0.3, 0.2};
constexpr Values g_start = {0.2, -0.4, 1.0};

struct OptimizerTest : ::testing::Test {
    TinyModel m{1, Cpu{1}};

    OptimizerTest() { set(w_start, g_start); }

    void set(const Values& w, const Values& g) {
        for (std::size_t i = 0; i < 3; ++i) {
            m.parameters()[i] = w[i];
            m.gradients()[i] = g[i];
        }
    }
    void set_gradients(const Values& g) {
        for (std::size_t i = 0; i < 3; ++i) m.gradients()[i] = g[i];
    }
    // The three values of state slot `slot` (momentum, squared average, ...).
    std::vector<double> state(std::size_t slot) {
        const double* p = m.optimizer_state().moments().data() + slot * 3;
        return {p, p + 3};
    }
    void expect_params(const Values& want, const char* what) {
        for (std::size_t i = 0; i < 3; ++i) EXPECT_NEAR(m.parameters()[i], want[i], tol) << what << ", parameter " << i;
    }
    void expect_state(std::size_t slot, const Values& want, const char* what) {
        const auto s = state(slot);
        for (std::size_t i = 0; i < 3; ++i)
            EXPECT_NEAR(s[i], want[i], tol) << what << ", slot " << slot << "[" << i << "]";
    }
};

TEST_F(OptimizerTest, TinyModelHasWeightThenUnregularizedBias) {
    ASSERT_EQ(TinyModel::parameter_count, 3u);
    const auto& segs = m.segments();
    ASSERT_EQ(segs.size(), 2u);
    EXPECT_EQ(segs[0].name, "0.weight");
    EXPECT_EQ(segs[0].offset, 0u);
    EXPECT_EQ(segs[0].size, 2u);
    EXPECT_TRUE(segs[0].regularized);
    EXPECT_EQ(segs[1].name, "0.bias");
    EXPECT_EQ(segs[1].offset, 2u);
    EXPECT_FALSE(segs[1].regularized);
}

// --- SGD ------------------------------------------------------------------

TEST_F(OptimizerTest, SgdPlainStepsAgainstTheGradient) {
    SGD opt({.learning_rate = 0.1});
    // w' = w - 0.1 g: 0.5 - 0.02 = 0.48; -0.3 + 0.04 = -0.26; 0.2 - 0.1 = 0.1
    opt.step(m);
    expect_params({0.48, -0.26, 0.1}, "step 1");
    // again with the same g: 0.46, -0.22, 0.0
    opt.step(m);
    expect_params({0.46, -0.22, 0.0}, "step 2");
}

TEST_F(OptimizerTest, SgdMomentumAccumulatesVelocity) {
    SGD opt({.learning_rate = 0.1, .momentum = 0.9});
    // v = 0.9*0 - 0.1 g = (-0.02, 0.04, -0.1); w += v -> (0.48, -0.26, 0.1)
    opt.step(m);
    expect_state(0, {-0.02, 0.04, -0.1}, "step 1");
    expect_params({0.48, -0.26, 0.1}, "step 1");
    // v = 0.9 v - 0.1 g = (-0.018-0.02, 0.036+0.04, -0.09-0.1) = (-0.038, 0.076, -0.19)
    // w += v -> (0.442, -0.184, -0.09)
    opt.step(m);
    expect_state(0, {-0.038, 0.076, -0.19}, "step 2");
    expect_params({0.442, -0.184, -0.09}, "step 2");
}

TEST_F(OptimizerTest, SgdNesterovLooksAhead) {
    SGD opt({.learning_rate = 0.1, .momentum = 0.9, .nesterov = true});
    // v = -0.1 g = (-0.02, 0.04, -0.1); w += 0.9 v - 0.1 g = (-0.038, 0.076, -0.19)
    // -> w = (0.462, -0.224, 0.01)
    opt.step(m);
    expect_params({0.462, -0.224, 0.01}, "step 1");
    // v = 0.9 v - 0.1 g = (-0.038, 0.076, -0.19);
    // w += 0.9 v - 0.1 g = (-0.0342-0.02, 0.0684+0.04, -0.171-0.1) = (-0.0542, 0.1084, -0.271)
    // -> w = (0.4078, -0.1156, -0.261)
    opt.step(m);
    expect_params({0.4078, -0.1156, -0.261}, "step 2");
}

TEST_F(OptimizerTest, SgdDecayShrinksTheLearningRate) {
    SGD opt({.learning_rate = 0.1, .decay = 0.5});
    // lr_t = 0.1 / (1 + 0.5 t): 0.1, 0.0666..., 0.05, then 0.04
    const double lrs[] = {0.1, 0.1 / 1.5, 0.05, 0.04};
    for (int t = 0; t < 3; ++t) {
        EXPECT_NEAR(opt.learning_rate_at(m.optimizer_state().step()), lrs[t], tol) << "before step " << t + 1;
        opt.step(m);
    }
    EXPECT_NEAR(opt.learning_rate_at(m.optimizer_state().step()), lrs[3], tol);
    // total rate 0.1 + 0.0666... + 0.05 = 0.21666...:
    // w0 = 0.5 - 0.2*0.21666 = 0.456666..., w1 = -0.3 + 0.4*0.21666 = -0.213333..., b = 0.2 - 0.21666 = -0.016666...
    expect_params({0.45666666666666667, -0.21333333333333332, -0.016666666666666663}, "after 3 steps");
}

// --- RMSprop --------------------------------------------------------------

TEST_F(OptimizerTest, RmspropKerasDefaultsAndTwoSteps) {
    EXPECT_EQ(RMSprop{}.options().learning_rate, 1e-3);
    EXPECT_EQ(RMSprop{}.options().rho, 0.9);
    EXPECT_EQ(RMSprop{}.options().epsilon, 1e-7);
    RMSprop opt({.learning_rate = 0.1});
    // s = 0.1 g^2 = (0.004, 0.016, 0.1); w -= 0.1 g / (sqrt(s) + 1e-7):
    // w0 = 0.5 - 0.02/(0.0632455532 + 1e-7) = 0.5 - 0.3162272660 = 0.1837727340
    // w1 = -0.3 + 0.04/(0.1264911064 + 1e-7) = 0.0162275160
    // b  = 0.2 - 0.1/(0.3162277660 + 1e-7) = -0.1162276660
    opt.step(m);
    expect_state(0, {0.004, 0.016, 0.1}, "step 1");
    expect_params({0.18377273398237143, 0.016227516017035648, -0.11622766601686962}, "step 1");
    // s = 0.9 s + 0.1 g^2 = (0.0076, 0.0304, 0.19); e.g. w0 = 0.1837727 - 0.02/(0.0871779789 + 1e-7)
    opt.step(m);
    expect_state(0, {0.0076, 0.0304, 0.19}, "step 2");
    expect_params({-0.04564273673059749, 0.24564311830872554, -0.34564334725586454}, "step 2");
}

// --- Adam -----------------------------------------------------------------

TEST_F(OptimizerTest, AdamBiasCorrectionOverTwoSteps) {
    Adam opt({.learning_rate = 0.1});  // beta1 0.9, beta2 0.999, epsilon 1e-7
    // t=1: m = 0.1 g, v = 0.001 g^2, c1 = 0.1, c2 = 0.001, so m/c1 = g, sqrt(v/c2) = |g|:
    // w -= 0.1 g / (|g| + 1e-7): w0 = 0.5 - 0.1*0.2/0.2000001 = 0.400000049999975
    opt.step(m);
    expect_state(0, {0.02, -0.04, 0.1}, "step 1");
    expect_state(1, {4e-5, 1.6e-4, 1e-3}, "step 1");
    expect_params({0.40000004999997496, -0.20000002499999373, 0.10000000999999901}, "step 1");
    // t=2 with g2 = (-0.1, 0.3, 0.5): m = 0.9 m + 0.1 g2 = (0.008, -0.006, 0.14);
    // v = 0.999 v + 0.001 g2^2 = (4.996e-5, 2.4984e-4, 1.249e-3); c1 = 0.19, c2 = 0.001999
    // w0 = 0.40000005 - 0.1 * (0.008/0.19) / (sqrt(4.996e-5/0.001999) + 1e-7) = 0.37336636288...
    set_gradients({-0.1, 0.3, 0.5});
    opt.step(m);
    expect_state(0, {0.008, -0.006, 0.14}, "step 2");
    expect_state(1, {4.996e-5, 2.4984e-4, 1.249e-3}, "step 2");
    expect_params({0.37336636288108616, -0.1910675267861315, 0.006782057911870656}, "step 2");
}

// --- penalties ------------------------------------------------------------

TEST_F(OptimizerTest, SgdL2AndL1PenaliseTheWeightButNotTheBias) {
    SGD l2({.learning_rate = 0.1, .penalty = {.l2 = 0.01}});
    // g' = g + 2*0.01*w on the weight: (0.2 + 0.01, -0.4 - 0.006) = (0.21, -0.406)
    // w = (0.5 - 0.021, -0.3 + 0.0406) = (0.479, -0.2594); b = 0.2 - 0.1*1.0 = 0.1 (no penalty)
    l2.step(m);
    expect_params({0.479, -0.2594, 0.1}, "l2");
    set(w_start, g_start);
    SGD l1({.learning_rate = 0.1, .penalty = {.l1 = 0.05}});
    // g' = g + 0.05*sign(w): (0.25, -0.45); w = (0.475, -0.255); b = 0.1
    l1.step(m);
    expect_params({0.475, -0.255, 0.1}, "l1");
}

TEST_F(OptimizerTest, EveryOptimizerLeavesTheBiasAloneWhenOnlyThePenaltyPulls) {
    // Zero gradients with l2 = 0.5: the weight's gradient is 2*0.5*w = w = (0.5, -0.3), the bias's is 0.
    const Penalty pen{.l2 = 0.5};
    SGD sgd({.learning_rate = 0.1, .penalty = pen});
    set(w_start, {0, 0, 0});
    sgd.step(m);  // w -= 0.1 w: (0.45, -0.27)
    expect_params({0.45, -0.27, 0.2}, "SGD");
    RMSprop rms({.learning_rate = 0.1, .penalty = pen});
    set(w_start, {0, 0, 0});
    rms.step(m);  // s = 0.1 w^2; w -= 0.1 w / (sqrt(0.1)|w| + 1e-7): 0.5 - 0.05/(0.158113883+1e-7)
    expect_params({0.18377243398303555, 0.016227432683855958, 0.2}, "RMSprop");
    Adam adam({.learning_rate = 0.1, .penalty = pen});
    set(w_start, {0, 0, 0});
    adam.step(m);  // first step: w -= 0.1 w / (|w| + 1e-7): 0.5 - 0.05/0.5000001
    expect_params({0.400000019999996, -0.20000003333332222, 0.2}, "Adam");
}

// --- options, counters, state ---------------------------------------------

TEST(OptimizerOptions, InvalidOptionsThrowArgumentError) {
    EXPECT_THROW(SGD({.learning_rate = -0.1}), ArgumentError);
    EXPECT_THROW(SGD({.learning_rate = 0.0}), ArgumentError);
    EXPECT_THROW(SGD({.momentum = 1.0}), ArgumentError);
    EXPECT_THROW(SGD({.momentum = -0.5}), ArgumentError);
    EXPECT_THROW(SGD({.nesterov = true}), ArgumentError);  // nesterov without momentum
    EXPECT_THROW(SGD({.decay = -1.0}), ArgumentError);
    EXPECT_THROW(SGD({.penalty = {.l1 = -0.1}}), ArgumentError);
    EXPECT_THROW(RMSprop({.learning_rate = -1e-3}), ArgumentError);
    EXPECT_THROW(RMSprop({.rho = 1.0}), ArgumentError);
    EXPECT_THROW(RMSprop({.epsilon = 0.0}), ArgumentError);
    EXPECT_THROW(RMSprop({.penalty = {.l2 = -0.1}}), ArgumentError);
    EXPECT_THROW(Adam({.beta1 = 1.0}), ArgumentError);
    EXPECT_THROW(Adam({.beta2 = 1.5}), ArgumentError);
    EXPECT_THROW(Adam({.penalty = {.l2 = -1.0}}), ArgumentError);
    // the boundaries that are allowed
    EXPECT_NO_THROW(SGD({.momentum = 0.0, .decay = 0.0}));
    EXPECT_NO_THROW(RMSprop({.rho = 0.0}));
    EXPECT_NO_THROW(Adam({.beta1 = 0.0, .penalty = {.l1 = 0.0, .l2 = 0.0}}));
}

TEST_F(OptimizerTest, IterationsCountSteps) {
    // The step count is the model's (its optimizer state), so each optimizer
    // steps a model of its own: on one model they would take its state in turn.
    SGD sgd({.learning_rate = 0.1, .decay = 1.0});
    RMSprop rms;
    Adam adam;
    TinyModel m_rms{1, Cpu{1}}, m_adam{1, Cpu{1}};
    EXPECT_EQ(m.optimizer_state().step(), 0u);
    for (int i = 0; i < 3; ++i) {
        sgd.step(m);
        rms.step(m_rms);
        adam.step(m_adam);
    }
    EXPECT_EQ(m.optimizer_state().step(), 3u);
    EXPECT_EQ(m_rms.optimizer_state().step(), 3u);
    EXPECT_EQ(m_adam.optimizer_state().step(), 3u);
    m.optimizer_state().set_step(9);  // a resumed run: decay continues from there, lr = 0.1 / (1 + 9)
    EXPECT_NEAR(sgd.learning_rate_at(m.optimizer_state().step()), 0.01, tol);
}

TEST_F(OptimizerTest, AnotherOptimizerRestartsTheStepCountAndResetClearsAll) {
    Adam adam({.learning_rate = 0.1});
    adam.step(m);
    adam.step(m);
    EXPECT_EQ(m.optimizer_state().step(), 2u);
    // A new value of the same optimizer continues the model's state ...
    Adam({.learning_rate = 0.1}).step(m);
    EXPECT_EQ(m.optimizer_state().step(), 3u);
    // ... another optimizer claims it afresh: its first step is step 1.
    RMSprop({.learning_rate = 0.1}).step(m);
    EXPECT_EQ(m.optimizer_state().owner(), "RMSprop");
    EXPECT_EQ(m.optimizer_state().step(), 1u);
    m.optimizer_state().reset();
    EXPECT_EQ(m.optimizer_state().owner(), "");
    EXPECT_EQ(m.optimizer_state().slots(), 0u);
    EXPECT_EQ(m.optimizer_state().step(), 0u);
}

TEST_F(OptimizerTest, StateIsReZeroedWhenTheSlotCountChanges) {
    RMSprop({.learning_rate = 0.1}).step(m);  // one slot: s = (0.004, 0.016, 0.1)
    EXPECT_EQ(m.optimizer_state().slots(), 1u);
    expect_state(0, {0.004, 0.016, 0.1}, "RMSprop");
    const Values w1 = {m.parameters()[0], m.parameters()[1], m.parameters()[2]};
    // Adam needs two slots: both start from zero, so its first step is the textbook one,
    // m = 0.1 g, v = 0.001 g^2 (a stale s = 0.004 in slot 0 would give m = 0.0236 instead),
    // and w -= 0.1 g / (|g| + 1e-7) = 0.1 * 0.2/0.2000001 = 0.099999950000025 for w0.
    Adam({.learning_rate = 0.1}).step(m);
    EXPECT_EQ(m.optimizer_state().slots(), 2u);
    expect_state(0, {0.02, -0.04, 0.1}, "Adam m");
    expect_state(1, {4e-5, 1.6e-4, 1e-3}, "Adam v");
    expect_params({w1[0] - 0.09999995000002501, w1[1] + 0.09999997500000626, w1[2] - 0.099999990000001}, "Adam");
    // Back to one slot (SGD with momentum): v = -0.1 g from zero, not 0.9 * Adam's m - 0.1 g.
    SGD({.learning_rate = 0.1, .momentum = 0.9}).step(m);
    EXPECT_EQ(m.optimizer_state().slots(), 1u);
    expect_state(0, {-0.02, 0.04, -0.1}, "SGD");
}

}  // namespace

TEST_F(OptimizerTest, SwitchingBetweenOneSlotOptimizersStartsFromZeroState) {
    // SGD with momentum leaves a (negative) velocity in the one state slot;
    // RMSprop, also one slot, must not read it as its squared average.
    SGD sgd{{.learning_rate = 0.1, .momentum = 0.9}};
    sgd.step(m);
    EXPECT_EQ(m.optimizer_state().owner(), "SGD");
    set(w_start, g_start);
    RMSprop rms;
    rms.step(m);
    EXPECT_EQ(m.optimizer_state().owner(), "RMSprop");
    // s = 0.1 * g^2 from a zero state, as in RmspropKerasDefaultsAndTwoSteps.
    expect_state(0, {0.1 * 0.04, 0.1 * 0.16, 0.1 * 1.0}, "RMSprop after SGD");
    for (std::size_t i = 0; i < 3; ++i) EXPECT_TRUE(std::isfinite(m.parameters()[i]));
}
