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

class RMSprop : public OptimizerBase<RMSpropOptions> {
public:
    using Options = RMSpropOptions;
    static constexpr const char* name = "RMSprop";
    static constexpr std::size_t state_slots = 1;

    explicit RMSprop(Options o = {}) : OptimizerBase(o, name) {
        optim_detail::check_unit(o.rho, "rho", name);
        optim_detail::check_positive(o.epsilon, "epsilon", name);
    }

    template <class M>
    void step(M& model) const {
        using T = typename M::scalar;
        auto& state = model.optimizer_state();
        T* s = state.claim(name, state_slots);
        T* w = model.parameters().data();
        const T* g = model.gradients().data();
        const T lr = T(learning_rate(state));
        optim_detail::for_each_run(model, [&](std::size_t off, std::size_t n, bool reg) {
            const auto [l1, l2] = penalties<T>(reg);
            rmsprop_update(model.backend(), n, w + off, g + off, s + off, lr, T(o_.rho), T(o_.epsilon), l1, l2);
        });
        state.increment_step();
    }
};

}  // namespace typenet
