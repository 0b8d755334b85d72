// typenet/optim/optimizer.hpp - the Optimizer contract and shared helpers.
//
// An optimizer holds hyper-parameters and a step counter; its per-parameter
// state (momentum, running averages) lives in the model, next to the flat
// parameter buffer, so a checkpoint is one copy.
//
// requires: o.step(model) after model.backward(); model.gradients() hold the
//           mean-loss gradients of the last batch.
// ensures:  every parameter is updated once; o.iterations() grows by one.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>

#include "../core/error.hpp"

namespace typenet {

template <class O>
concept Optimizer = requires(O& o) {
    { o.iterations() } -> std::convertible_to<std::uint64_t>;
    { O::state_slots } -> std::convertible_to<std::size_t>;
    { O::name } -> std::convertible_to<const char*>;
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

}  // namespace typenet
