// typenet/optim/adam.hpp - Adam with bias correction.
#pragma once

#include <cmath>

#include "optimizer.hpp"

namespace typenet {

/// Hyper-parameters of Adam.
struct AdamOptions {
    double learning_rate = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double epsilon = 1e-7;
    double decay = 0.0;  // lr_t = lr / (1 + decay * iterations), as Keras' legacy optimizers
    Penalty penalty{};
};

class Adam : public OptimizerBase<AdamOptions> {
public:
    using Options = AdamOptions;
    static constexpr const char* name = "Adam";
    static constexpr std::size_t state_slots = 2;

    explicit Adam(Options o = {}) : OptimizerBase(o, name) {
        optim_detail::check_unit(o.beta1, "beta1", name);
        optim_detail::check_unit(o.beta2, "beta2", name);
        optim_detail::check_positive(o.epsilon, "epsilon", name);
    }

    template <class M>
    void step(M& model) {
        using T = typename M::scalar;
        T* w = model.parameters().data();
        const T* g = model.gradients().data();
        T* m = model.optimizer_state(state_slots, name);
        T* v = m + M::parameter_count;
        const T lr = T(current_learning_rate());
        ++t_;
        const T c1 = T(1.0 - std::pow(o_.beta1, double(t_)));
        const T c2 = T(1.0 - std::pow(o_.beta2, double(t_)));
        optim_detail::for_each_run(model, [&](std::size_t off, std::size_t n, bool reg) {
            const auto [l1, l2] = penalties<T>(reg);
            adam_update(model.backend(), n, w + off, g + off, m + off, v + off, lr, T(o_.beta1), T(o_.beta2),
                        T(o_.epsilon), c1, c2, l1, l2);
        });
    }
};

}  // namespace typenet
