// typenet/train/schedules.hpp - learning-rate schedules, as fit callbacks.
//
// A schedule is a closed form, rate(i, n, base): the learning rate of step i
// (0-based) of n, where base is the optimizer's options().learning_rate (the
// peak, for warm-up, cosine and one-cycle). As a callback it sets the rate at
// the start of each epoch (i = epoch - 1, n = epochs); wrapped in per_batch()
// it sets it before each batch (i = the batch counted over the run, n =
// epochs * batches). Because the rate is a function of the position alone,
// a resumed run sets the same rates as an uninterrupted one. The rate is kept
// in the model's optimizer state (OptimizerState::learning_rate), and the
// optimizer's own decay, if any, still applies on top.
#pragma once

#include <cmath>
#include <cstddef>
#include <numbers>
#include <string>
#include <utility>

#include "../core/error.hpp"

namespace typenet {

namespace schedule_detail {
/// Makes a schedule S a per-epoch callback.
template <class S>
struct PerEpoch {
    static constexpr bool sets_learning_rate = true;
    template <class C>
    void on_epoch_begin(C& c) {
        const S& s = static_cast<const S&>(*this);
        c.set_learning_rate(s.rate(c.epoch - 1, c.epochs, c.base_learning_rate()));
    }
};
/// Cosine interpolation from `start` (pct 0) to `end` (pct 1), PyTorch's _annealing_cos.
inline double cosine_anneal(double start, double end, double pct) {
    return end + (start - end) / 2.0 * (std::cos(std::numbers::pi * pct) + 1.0);
}
}  // namespace schedule_detail

/// The schedule S applied before every batch instead of every epoch (e.g.
/// one-cycle as in its paper, or warm-up over the first batches).
template <class S>
class PerBatch {
public:
    static constexpr const char* name = S::name;
    static constexpr bool sets_learning_rate = true;

    explicit PerBatch(S s) : s_(std::move(s)) {}
    const S& schedule() const { return s_; }
    double rate(std::size_t i, std::size_t n, double base) const { return s_.rate(i, n, base); }

    template <class C>
    void on_batch_begin(C& c) {
        c.set_learning_rate(s_.rate(c.run_batch(), c.run_batches(), c.base_learning_rate()));
    }

private:
    S s_;
};
template <class S>
PerBatch<S> per_batch(S s) {
    return PerBatch<S>(std::move(s));
}

// --- step ----------------------------------------------------------------------

struct StepDecayOptions {
    std::size_t step_size = 10;  // steps (epochs, or batches per_batch) between reductions
    double factor = 0.1;         // the rate is multiplied by this every step_size steps
};
/// base * factor^floor(i / step_size).
class StepDecay : public schedule_detail::PerEpoch<StepDecay> {
public:
    using Options = StepDecayOptions;
    static constexpr const char* name = "StepDecay";
    explicit StepDecay(Options o = {}) : o_(o) {
        detail::require(o.step_size >= 1, "StepDecay: step_size must be at least 1");
        detail::require(o.factor > 0.0, "StepDecay: factor must be positive (got " + std::to_string(o.factor) + ")");
    }
    double rate(std::size_t i, std::size_t /*n*/, double base) const {
        return base * std::pow(o_.factor, double(i / o_.step_size));
    }
    const Options& options() const { return o_; }

private:
    Options o_;
};

// --- exponential ---------------------------------------------------------------

struct ExponentialDecayOptions {
    double factor = 0.96;      // the rate is multiplied by this every decay_steps steps
    double decay_steps = 1.0;  // (Keras' decay_rate and decay_steps)
    bool staircase = false;    // true: whole periods only, as a step decay
};
/// base * factor^(i / decay_steps), the exponent floored with staircase.
class ExponentialDecay : public schedule_detail::PerEpoch<ExponentialDecay> {
public:
    using Options = ExponentialDecayOptions;
    static constexpr const char* name = "ExponentialDecay";
    explicit ExponentialDecay(Options o = {}) : o_(o) {
        detail::require(o.factor > 0.0, "ExponentialDecay: factor must be positive (got " + std::to_string(o.factor) + ")");
        detail::require(o.decay_steps > 0.0,
                        "ExponentialDecay: decay_steps must be positive (got " + std::to_string(o.decay_steps) + ")");
    }
    double rate(std::size_t i, std::size_t /*n*/, double base) const {
        const double p = double(i) / o_.decay_steps;
        return base * std::pow(o_.factor, o_.staircase ? std::floor(p) : p);
    }
    const Options& options() const { return o_; }

private:
    Options o_;
};

// --- cosine with warm-up ---------------------------------------------------------

struct CosineDecayOptions {
    std::size_t warmup = 0;  // steps of linear warm-up: base * (i + 1) / warmup
    double min_lr = 0.0;     // the rate the cosine falls towards
};
/// Linear warm-up to base over `warmup` steps, then a half cosine from base
/// towards min_lr: min_lr + (base - min_lr) (1 + cos(pi (i - warmup) / (n - warmup))) / 2.
class CosineDecay : public schedule_detail::PerEpoch<CosineDecay> {
public:
    using Options = CosineDecayOptions;
    static constexpr const char* name = "CosineDecay";
    explicit CosineDecay(Options o = {}) : o_(o) {
        detail::require(o.min_lr >= 0.0, "CosineDecay: min_lr must be >= 0 (got " + std::to_string(o.min_lr) + ")");
    }
    double rate(std::size_t i, std::size_t n, double base) const {
        if (i < o_.warmup) return base * double(i + 1) / double(o_.warmup);
        if (n <= o_.warmup) return base;
        const double p = double(i - o_.warmup) / double(n - o_.warmup);
        return schedule_detail::cosine_anneal(base, o_.min_lr, p);
    }
    const Options& options() const { return o_; }

private:
    Options o_;
};

// --- one-cycle -----------------------------------------------------------------

struct OneCycleOptions {
    double pct_start = 0.3;           // the share of the steps spent rising
    double div_factor = 25.0;         // the first rate is base / div_factor
    double final_div_factor = 1e4;    // the last is base / div_factor / final_div_factor
};
/// Smith's one-cycle policy as PyTorch's OneCycleLR (cosine annealing, two
/// phases; learning rate only): from base / div_factor up to base over the
/// first pct_start of the steps, then down to base / div_factor /
/// final_div_factor at the last step. Usually per_batch(OneCycle{...}).
class OneCycle : public schedule_detail::PerEpoch<OneCycle> {
public:
    using Options = OneCycleOptions;
    static constexpr const char* name = "OneCycle";
    explicit OneCycle(Options o = {}) : o_(o) {
        detail::require(o.pct_start > 0.0 && o.pct_start < 1.0,
                        "OneCycle: pct_start must be in (0, 1) (got " + std::to_string(o.pct_start) + ")");
        detail::require(o.div_factor > 0.0 && o.final_div_factor > 0.0,
                        "OneCycle: div_factor and final_div_factor must be positive");
    }
    double rate(std::size_t i, std::size_t n, double base) const {
        const double initial = base / o_.div_factor, last = initial / o_.final_div_factor;
        const double peak_step = o_.pct_start * double(n) - 1.0, end_step = double(n) - 1.0;
        const double t = double(i);
        // (Guards for runs too short for a phase, where PyTorch divides by zero.)
        if (t <= peak_step) return schedule_detail::cosine_anneal(initial, base, peak_step > 0.0 ? t / peak_step : 1.0);
        return schedule_detail::cosine_anneal(base, last, end_step > peak_step ? (t - peak_step) / (end_step - peak_step) : 1.0);
    }
    const Options& options() const { return o_; }

private:
    Options o_;
};

}  // namespace typenet
