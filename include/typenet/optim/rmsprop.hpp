// typenet/optim/rmsprop.hpp - RMSprop with Keras' defaults (rho 0.9, epsilon 1e-7).
#pragma once

#include "optimizer.hpp"

namespace typenet {

/// Hyper-parameters of RMSprop.
struct RMSpropOptions {
    double learning_rate = 1e-3;
    double rho = 0.9;
    double epsilon = 1e-7;
    double decay = 0.0;  // lr_t = lr / (1 + decay * iterations), as Keras' legacy optimizers
    Penalty penalty{};
};

class RMSprop {
public:
    using Options = RMSpropOptions;
    static constexpr const char* name = "RMSprop";
    static constexpr std::size_t state_slots = 1;

    explicit RMSprop(Options o = {}) : o_(o) {
        optim_detail::check_positive(o.learning_rate, "learning_rate", name);
        optim_detail::check_unit(o.rho, "rho", name);
        optim_detail::check_positive(o.epsilon, "epsilon", name);
        optim_detail::check_penalty(o.penalty, name);
        detail::require(o.decay >= 0.0, std::string(name) + ": decay must be >= 0");
    }

    /// The learning rate the next step will use.
    double current_learning_rate() const { return o_.learning_rate / (1.0 + o_.decay * double(t_)); }

    template <class M>
    void step(M& model) {
        using T = typename M::scalar;
        T* w = model.parameters().data();
        const T* g = model.gradients().data();
        T* s = model.optimizer_state(state_slots, name);
        optim_detail::for_each_run(model, [&](std::size_t off, std::size_t n, bool reg) {
            rmsprop_update(model.backend(), n, w + off, g + off, s + off, T(current_learning_rate()), T(o_.rho),
                           T(o_.epsilon), T(reg ? o_.penalty.l1 : 0.0), T(reg ? o_.penalty.l2 : 0.0));
        });
        ++t_;
    }

    std::uint64_t iterations() const { return t_; }
    void set_iterations(std::uint64_t t) { t_ = t; }
    const Options& options() const { return o_; }

private:
    Options o_;
    std::uint64_t t_ = 0;
};

}  // namespace typenet
