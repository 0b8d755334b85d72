// typenet/optim/optimizer.hpp - the Optimizer contract and shared helpers.
//
// An optimizer is a value: hyper-parameters only. Everything that changes
// from step to step (moments, step count) is the model's OptimizerState
// (optim/state.hpp), which each step claims, so a checkpoint, a restore or a
// reset is about one object, and one optimizer value can train many models.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "../core/error.hpp"
#include "state.hpp"
#include "update_rules.hpp"

namespace typenet {

/// An optimizer O of models M, as fit, save_checkpoint and load_checkpoint use it.
// requires: o.step(model) runs after model.backward(), so that model.gradients()
//           hold the mean-loss gradients of the last batch.
// ensures:  o.step(model) updates every parameter once and leaves
//           model.optimizer_state() claimed by (O::name, O::state_slots) with its
//           step count one higher.
template <class O, class M>
concept Optimizer = requires(const O& o, M& model) {
    { O::name } -> std::convertible_to<const char*>;
    { O::state_slots } -> std::convertible_to<std::size_t>;
    { model.optimizer_state() } -> std::same_as<OptimizerState<typename M::scalar, typename M::device>&>;
    o.step(model);
};

/// L1 / L2 weight penalties (weights only, never biases): the loss gains
/// l1 * sum|w| + l2 * sum w^2, as Keras' regularizers.
struct Penalty {
    double l1 = 0.0;
    double l2 = 0.0;
};

namespace optim_detail {
inline void check_positive(double v, const char* what, const char* opt) {
    detail::require(v > 0.0, std::string(opt) + ": " + what + " must be positive (got " + std::to_string(v) + ")");
}
inline void check_unit(double v, const char* what, const char* opt) {
    detail::require(v >= 0.0 && v < 1.0,
                    std::string(opt) + ": " + what + " must be in [0, 1) (got " + std::to_string(v) + ")");
}
inline void check_penalty(const Penalty& p, const char* opt) {
    detail::require(p.l1 >= 0.0 && p.l2 >= 0.0, std::string(opt) + ": penalties l1 and l2 must be >= 0");
}

/// Calls f(offset, size, regularized) once per run of adjacent parameter
/// segments that share the regularized flag (weights vs biases).
template <class M, class F>
void for_each_run(const M& model, F&& f) {
    const auto& segs = model.segments();
    std::size_t i = 0;
    while (i < segs.size()) {
        std::size_t j = i;
        std::size_t size = 0;
        while (j < segs.size() && segs[j].regularized == segs[i].regularized) size += segs[j++].size;
        f(segs[i].offset, size, segs[i].regularized);
        i = j;
    }
}
}  // namespace optim_detail

/// What SGD, RMSprop and Adam share: the options, the decayed learning rate
/// and the checks every option set needs.
template <class Options>
class OptimizerBase {
public:
    /// The learning rate of the step after `steps` steps (a model's
    /// optimizer_state().step()): lr / (1 + decay * steps).
    double learning_rate_at(std::uint64_t steps) const {
        return rules::decayed_learning_rate(o_.learning_rate, o_.decay, double(steps));
    }
    /// The learning rate of the next step on a model with this state: the
    /// rate a schedule set on it (else options().learning_rate), decayed.
    template <class T, class Device>
    double learning_rate(const OptimizerState<T, Device>& state) const {
        return rules::decayed_learning_rate(state.learning_rate().value_or(o_.learning_rate), o_.decay,
                                            double(state.step()));
    }
    /// The rate schedules start from and scale: options().learning_rate.
    double base_learning_rate() const { return o_.learning_rate; }
    const Options& options() const { return o_; }

protected:
    OptimizerBase(const Options& o, const char* name) : o_(o) {
        optim_detail::check_positive(o.learning_rate, "learning_rate", name);
        detail::require(o.decay >= 0.0, std::string(name) + ": decay must be >= 0 (got " + std::to_string(o.decay) + ")");
        optim_detail::check_penalty(o.penalty, name);
    }
    /// The penalties for a run of parameters: zero for biases.
    template <class T>
    std::pair<T, T> penalties(bool regularized) const {
        return regularized ? std::pair<T, T>{T(o_.penalty.l1), T(o_.penalty.l2)} : std::pair<T, T>{T(0), T(0)};
    }

    Options o_;
};

}  // namespace typenet
