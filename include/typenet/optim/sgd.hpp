// typenet/optim/sgd.hpp - stochastic gradient descent with momentum, Nesterov and decay.
#pragma once

#include "optimizer.hpp"

namespace typenet {

/// Hyper-parameters of SGD.
struct SGDOptions {
    double learning_rate = 0.01;
    double momentum = 0.0;
    bool nesterov = false;
    double decay = 0.0;  // lr_t = lr / (1 + decay * iterations), as Keras' legacy SGD
    Penalty penalty{};
};

class SGD : public OptimizerBase<SGDOptions> {
public:
    using Options = SGDOptions;
    static constexpr const char* name = "SGD";
    static constexpr std::size_t state_slots = 1;

    explicit SGD(Options o = {}) : OptimizerBase(o, name) {
        optim_detail::check_unit(o.momentum, "momentum", name);
        detail::require(!o.nesterov || o.momentum > 0.0, "SGD: nesterov needs a momentum > 0");
    }

    template <class M>
    void step(M& model) const {
        using T = typename M::scalar;
        auto& state = model.optimizer_state();
        T* v = state.claim(name, state_slots);
        T* w = model.parameters().data();
        const T* g = model.gradients().data();
        const T lr = T(learning_rate(state));
        optim_detail::for_each_run(model, [&](std::size_t off, std::size_t n, bool reg) {
            const auto [l1, l2] = penalties<T>(reg);
            sgd_update(model.backend(), n, w + off, g + off, v + off, lr, T(o_.momentum), o_.nesterov, l1, l2);
        });
        state.increment_step();
    }
};

}  // namespace typenet
