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

class Adam {
public:
    using Options = AdamOptions;
    static constexpr const char* name = "Adam";
    static constexpr std::size_t state_slots = 2;

    explicit Adam(Options o = {}) : o_(o) {
        optim_detail::check_positive(o.learning_rate, "learning_rate", name);
        optim_detail::check_unit(o.beta1, "beta1", name);
        optim_detail::check_unit(o.beta2, "beta2", name);
        optim_detail::check_positive(o.epsilon, "epsilon", name);
        optim_detail::check_penalty(o.penalty, name);
        detail::require(o.decay >= 0.0, std::string(name) + ": decay must be >= 0");
    }

    /// The learning rate the next step will use.
    double current_learning_rate() const { return o_.learning_rate / (1.0 + o_.decay * double(t_)); }

    template <class M>
    void step(M& model) {
        using T = typename M::scalar;
        const std::size_t P = M::parameter_count;
        T* w = model.parameters().data();
        const T* g = model.gradients().data();
        T* m = model.optimizer_state(state_slots, name);
        T* v = m + P;
        const T lr = T(current_learning_rate());
        ++t_;
        const T c1 = T(1.0 - std::pow(o_.beta1, double(t_)));
        const T c2 = T(1.0 - std::pow(o_.beta2, double(t_)));
        optim_detail::for_each_run(model, [&](std::size_t off, std::size_t n, bool reg) {
            adam_update(model.backend(), n, w + off, g + off, m + off, v + off, lr, T(o_.beta1),
                        T(o_.beta2), T(o_.epsilon), c1, c2, T(reg ? o_.penalty.l1 : 0.0),
                        T(reg ? o_.penalty.l2 : 0.0));
        });
    }

    std::uint64_t iterations() const { return t_; }
    void set_iterations(std::uint64_t t) { t_ = t; }
    const Options& options() const { return o_; }

private:
    Options o_;
    std::uint64_t t_ = 0;
};

}  // namespace typenet
