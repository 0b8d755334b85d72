// typenet/losses/loss.hpp - the Loss contract and the compile-time width check.
//
// A loss is a small value type. Its call operator, given a batch of network
// outputs (rows, cols) and int32 class labels on the backend's device, adds
// the summed per-sample loss and the correct-prediction count to a two-double
// accumulator and, when grad is not null, writes grad = scale * dloss/doutput
// (fit passes scale = 1/rows, so the loss is a batch mean).
//
// A loss may fix its width, e.g. SoftmaxCrossEntropy<10>; 0 means "any".
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../core/backend.hpp"

namespace typenet {

/// Loss<L>: L names its width and name. Loss<L, B, T>: and it can be called
/// on backend B with scalars T, as fit and evaluate call it:
///   requires: out (rows, cols) and labels (rows) on B's device; grad null or (rows, cols).
///   ensures:  acc[0] += summed loss, acc[1] += correct predictions; grad
///             (when not null) overwritten with scale * dloss/dout.
template <class L, class B = void, class T = float>
concept Loss = requires {
    { L::width } -> std::convertible_to<std::size_t>;
    { L::name } -> std::convertible_to<const char*>;
} && (std::is_void_v<B> || requires(const L& l, B& be, std::size_t n, const T* out, const std::int32_t* labels, T* grad,
                                    T scale, double* acc) { l(be, n, n, out, labels, grad, scale, acc); });

/// Compile-time check that loss L can be applied to a network with output Out.
template <class L, class Out>
constexpr bool check_loss_fits() {
    static_assert(Out::rank == 1,
                  "the loss needs a flat (1-D) network output, one value per class; end the network with Flatten and "
                  "a Dense layer");
    static_assert(L::width == 0 || L::width == Out::size,
                  "the loss's class count differs from the width of the network's last layer; make the last Dense "
                  "layer as wide as the loss (e.g. Dense<10> with SoftmaxCrossEntropy<10>)");
    return true;
}

}  // namespace typenet
