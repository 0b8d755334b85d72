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

class SGD {
public:
    using Options = SGDOptions;
    static constexpr const char* name = "SGD";
    static constexpr std::size_t state_slots = 1;

    explicit SGD(Options o = {}) : o_(o) {
        optim_detail::check_positive(o.learning_rate, "learning_rate", name);
        optim_detail::check_unit(o.momentum, "momentum", name);
        detail::require(o.decay >= 0.0, "SGD: decay must be >= 0");
        detail::require(!o.nesterov || o.momentum > 0.0, "SGD: nesterov needs a momentum > 0");
        optim_detail::check_penalty(o.penalty, name);
    }

    /// The learning rate the next step will use.
    double current_learning_rate() const { return o_.learning_rate / (1.0 + o_.decay * double(t_)); }

    template <class M>
    void step(M& model) {
        using T = typename M::scalar;
        T* w = model.parameters().data();
        const T* g = model.gradients().data();
        T* v = model.optimizer_state(state_slots, name);
        const T lr = T(current_learning_rate());
        optim_detail::for_each_run(model, [&](std::size_t off, std::size_t n, bool reg) {
            sgd_update(model.backend(), n, w + off, g + off, v + off, lr, T(o_.momentum), o_.nesterov,
                       T(reg ? o_.penalty.l1 : 0.0), T(reg ? o_.penalty.l2 : 0.0));
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
