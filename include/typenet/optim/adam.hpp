// typenet/optim/adam.hpp - Adam with bias correction.
#pragma once

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
    void step(M& model) const {
        using T = typename M::scalar;
        auto& state = model.optimizer_state();
        T* m = state.claim(name, state_slots);
        T* v = m + M::parameter_count;
        T* w = model.parameters().data();
        const T* g = model.gradients().data();
        const T lr = T(learning_rate(state));
        state.increment_step();  // this is step t = state.step(), bias-corrected as such
        const auto [c1d, c2d] = rules::adam_corrections(o_.beta1, o_.beta2, double(state.step()));
        const T c1 = T(c1d), c2 = T(c2d);
        optim_detail::for_each_run(model, [&](std::size_t off, std::size_t n, bool reg) {
            const auto [l1, l2] = penalties<T>(reg);
            adam_update(model.backend(), n, w + off, g + off, m + off, v + off, lr, T(o_.beta1), T(o_.beta2),
                        T(o_.epsilon), c1, c2, l1, l2);
        });
    }
};

}  // namespace typenet
