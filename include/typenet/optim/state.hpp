// typenet/optim/state.hpp - an optimizer's state on one model, in one object.
//
// What an optimizer carries from one step to the next - whose state it is,
// how many steps it has taken, its moments (momentum, running averages) - is
// one value with one owner: the Model holds exactly one OptimizerState, next
// to its flat parameter buffer, and optimizers hold only hyper-parameters.
// The step count and the moments change together, so a checkpoint, a
// snapshot restore or a reset handles one object, and Adam's bias correction
// never runs at a step count its moments have not seen.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace typenet {

template <class T, class Device>
class OptimizerState {
public:
    /// The state of a model with `parameter_count` parameters, as new: no
    /// owner, no moments, step 0.
    explicit OptimizerState(std::size_t parameter_count) : parameter_count_(parameter_count) {}

    /// Claims the state for the optimizer `owner` with `slots` moment arrays
    /// and returns them (slot k at k * parameter_count()). When another
    /// optimizer or slot count held it, the moments are zeroed and the step
    /// count restarts at 0 first, so one optimizer's velocity is never read
    /// as another's running average (and a scheduled learning rate is dropped).
    T* claim(std::string_view owner, std::size_t slots) {
        if (slots != slots_ || owner != owner_) {
            moments_.resize(Dims{std::max<std::size_t>(slots * parameter_count_, 1)});
            moments_.zero();
            slots_ = slots;
            owner_ = owner;
            step_ = 0;
            learning_rate_ = 0.0;
        }
        return moments_.data();
    }

    /// Forgets everything, as in a new model: no owner, no moments, step 0,
    /// no scheduled learning rate.
    void reset() {
        moments_.resize(Dims{1});
        moments_.zero();
        slots_ = 0;
        owner_.clear();
        step_ = 0;
        learning_rate_ = 0.0;
    }

    /// Puts back a state saved elsewhere (a checkpoint): `owner`'s `slots`
    /// arrays from `moments` (slots * parameter_count() values, or none for
    /// zeros) after `step` steps. Exact: nothing else is kept.
    void assign(std::string_view owner, std::size_t slots, std::uint64_t step, std::span<const T> moments) {
        detail::require(moments.empty() || moments.size() == slots * parameter_count_,
                        "OptimizerState::assign: got " + std::to_string(moments.size()) + " moment values for " +
                            std::to_string(slots) + " slots of " + std::to_string(parameter_count_) + " parameters");
        reset();
        claim(owner, slots);
        if (!moments.empty()) moments_.from_host(moments);
        step_ = step;
    }

    /// The optimizer that last claimed the state ("" when none has).
    const std::string& owner() const { return owner_; }
    /// Its number of moment arrays (0 when none has claimed the state).
    std::size_t slots() const { return slots_; }
    std::size_t parameter_count() const { return parameter_count_; }

    /// Steps the owner has taken since it claimed the state: learning-rate
    /// decay and Adam's bias correction read it.
    std::uint64_t step() const { return step_; }
    /// Called by the owner once per step, after reading step().
    void increment_step() { ++step_; }
    /// Sets the step count (e.g. to continue a schedule from a known step).
    void set_step(std::uint64_t step) { step_ = step; }

    /// The learning rate a schedule (train/callbacks.hpp) has set, which the
    /// owner's steps use instead of its options' learning_rate (its decay
    /// still applies); nullopt when none has. It lives here, next to the step
    /// count, so a checkpoint carries it and a resumed run continues with it.
    std::optional<double> learning_rate() const {
        return learning_rate_ > 0.0 ? std::optional<double>(learning_rate_) : std::nullopt;
    }
    void set_learning_rate(double lr) {
        // (The message as a lambda: schedules call this every batch, and must not allocate.)
        detail::require(std::isfinite(lr) && lr > 0.0, [&] {
            return "OptimizerState::set_learning_rate: the learning rate must be positive and finite (got " +
                   std::to_string(lr) + ")";
        });
        learning_rate_ = lr;
    }
    /// Back to the optimizer's own learning rate.
    void clear_learning_rate() { learning_rate_ = 0.0; }

    /// The moments, slots() arrays of parameter_count() values on the
    /// model's device (at least one element, so the tensor is never empty
    /// once claimed or reset).
    Tensor<T, Device>& moments() { return moments_; }
    const Tensor<T, Device>& moments() const { return moments_; }

private:
    std::size_t parameter_count_;
    Tensor<T, Device> moments_;
    std::size_t slots_ = 0;
    std::string owner_;
    std::uint64_t step_ = 0;
    double learning_rate_ = 0.0;  // 0: none set (a set rate is positive); not an optional, which GCC 12 misreads as uninitialised
};

}  // namespace typenet
