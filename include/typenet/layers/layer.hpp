// typenet/layers/layer.hpp - the Layer contract.
//
// A layer *description* (Dense<70>, ReLU, Conv2D<32,3>, ...) is a small type
// whose template arguments are its hyper-parameters. Given its input shape it
// binds to a *bound layer*: `typename L::template bind<InShape>`. A bound
// layer is stateless; all memory it touches is handed to it in a LayerIo.
//
// requires (bound layer BL):
//   BL::input_shape, BL::output_shape          per-sample Shapes
//   BL::parameter_count                        trainable values, in BL::params order
//   BL::params                                 std::array<ParamSpec, K>
//   BL::buffer_count                           persistent non-trainable values (e.g. running stats)
//   BL::scratch_per_sample                     values per sample kept from forward to backward
//   BL::index_scratch_per_sample               int32 values per sample kept likewise
//   BL::workspace(be, n)                       temporary values needed for a batch of n on backend be
//   BL::name()                                 "Dense<70>", for summary and errors
//   BL::forward(io), BL::backward(io)          calls to backend ops only
// ensures: forward writes io.y; backward writes io.dw (overwriting) and, when
//          io.dx is not null, io.dx.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "../core/random.hpp"
#include "../core/shape.hpp"

namespace typenet {

/// One trainable (or buffer) tensor of a layer, in PyTorch layout.
struct ParamSpec {
    const char* name;        // "weight", "bias", ... (PyTorch state_dict suffix)
    Dims dims;               // e.g. (out, in) for Dense, (out, in, kh, kw) for Conv2D
    std::size_t fan_in = 0;  // inputs per output unit, for initialisers
    std::size_t fan_out = 0;
    bool regularized = false;  // L1 / L2 penalties apply (weights yes, biases no)
    bool is_bias = false;      // initialised to zero
};

/// Everything a bound layer's forward / backward may touch for one batch.
template <class T, class B>
struct LayerIo {
    B& be;
    std::size_t n = 0;                // batch size of this call
    const T* x = nullptr;             // (n, input_shape...)
    T* y = nullptr;                   // (n, output_shape...)
    const T* w = nullptr;             // this layer's parameters, flat, in params order
    T* dw = nullptr;                  // their gradients (backward)
    T* buffers = nullptr;             // buffer_count persistent values
    T* scratch = nullptr;             // n * scratch_per_sample values
    std::int32_t* index_scratch = nullptr;  // n * index_scratch_per_sample values
    T* workspace = nullptr;           // workspace(n) values, valid during one call
    const T* dy = nullptr;            // (n, output_shape...) (backward)
    T* dx = nullptr;                  // (n, input_shape...) or null: no input gradient wanted
    bool training = false;
    Rng* rng = nullptr;               // for stochastic layers (dropout)
};

/// Default (empty) parameter list for parameter-free layers.
inline constexpr std::array<ParamSpec, 0> no_params{};

template <class BL>
concept BoundLayer = requires(std::size_t n) {
    typename BL::input_shape;
    typename BL::output_shape;
    { BL::parameter_count } -> std::convertible_to<std::size_t>;
    { BL::buffer_count } -> std::convertible_to<std::size_t>;
    { BL::scratch_per_sample } -> std::convertible_to<std::size_t>;
    { BL::index_scratch_per_sample } -> std::convertible_to<std::size_t>;
    { BL::name() } -> std::convertible_to<std::string>;
    BL::params.size();
};

/// Helper base for bound layers: no parameters, buffers, scratch or workspace.
template <class In, class Out>
struct LayerBase {
    using input_shape = In;
    using output_shape = Out;
    static constexpr std::size_t parameter_count = 0;
    static constexpr std::size_t buffer_count = 0;
    static constexpr std::size_t scratch_per_sample = 0;
    static constexpr std::size_t index_scratch_per_sample = 0;
    static constexpr const auto& params = no_params;
    static constexpr const auto& buffers = no_params;
    template <class B>
    static std::size_t workspace(const B&, std::size_t) {
        return 0;
    }
    /// True when the outputs are probabilities (Softmax, Sigmoid), so predict
    /// does not apply a softmax on top.
    static constexpr bool outputs_probabilities = false;
};

}  // namespace typenet

namespace typenet {

/// Fills a layer's flat parameters in params order: weights by Init, biases zero.
template <class Init, class T, std::size_t K>
void initialize_params(Rng& rng, std::span<T> w, const std::array<ParamSpec, K>& specs) {
    std::size_t off = 0;
    for (const auto& p : specs) {
        auto part = w.subspan(off, p.dims.size());
        if (p.is_bias)
            for (auto& v : part) v = T(0);
        else
            Init::fill(rng, part, p.fan_in, p.fan_out);
        off += p.dims.size();
    }
}

}  // namespace typenet
