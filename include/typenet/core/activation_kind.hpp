// typenet/core/activation_kind.hpp - the elementwise activations every backend implements.
#pragma once

namespace typenet {

/// Elementwise activation functions. ELU uses alpha = 1 (Keras' default);
/// SELU uses the fixed constants of Klambauer et al. (2017).
enum class ActivationKind { identity, relu, sigmoid, tanh, elu, selu };

inline constexpr double selu_alpha = 1.6732632423543772848170429916717;
inline constexpr double selu_scale = 1.0507009873554804934193349852946;

}  // namespace typenet
