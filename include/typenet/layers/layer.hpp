// typenet/layers/layer.hpp - the layer contracts: descriptions and bound layers.
//
// A layer *description* (Dense<70>, ReLU, Conv2D<32,3>, ...) is a small type
// whose template arguments are its hyper-parameters. Given its input shape it
// binds to a *bound layer*: `typename L::template bind<InShape>`. A bound
// layer is stateless; all memory it touches is handed to it in a LayerIo, and
// it calls backend ops only (of the families in BL::ops, core/backend.hpp).
//
// The backward contract, for every layer: backward(io) overwrites io.dw (its
// parameter gradients, for the batch io.n) and, when io.dx is not null,
// overwrites io.dx with the input gradient; it reads io.x, io.y, io.dy and
// what forward(io) left in io.scratch / io.index_scratch, and accumulates
// into nothing.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "../core/backend.hpp"
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
    bool fuse_relu = false;           // forward: also apply the ReLU layer that follows (BL::fuses_relu)
    bool relu_mask = false;           // backward: also do the ReLU's before it: dx = 0 where x <= 0
};

/// Default (empty) parameter list for parameter-free layers.
inline constexpr std::array<ParamSpec, 0> no_params{};

/// A bound layer (see the top of this file), checked for what Model calls.
/// Parameterised layers also have initialize(rng, span) (weights in params
/// order); layers with buffers have initialize_buffers(span).
template <class BL>
concept BoundLayer = requires(std::size_t n, Rng& rng, std::span<float> values) {
    typename BL::input_shape;
    typename BL::output_shape;
    { BL::parameter_count } -> std::convertible_to<std::size_t>;
    { BL::buffer_count } -> std::convertible_to<std::size_t>;
    { BL::scratch_per_sample } -> std::convertible_to<std::size_t>;
    { BL::index_scratch_per_sample } -> std::convertible_to<std::size_t>;
    { BL::outputs_probabilities } -> std::convertible_to<bool>;
    { BL::ops } -> std::convertible_to<OpFamily>;
    { BL::passes_through(true) } -> std::convertible_to<bool>;
    { BL::name() } -> std::convertible_to<std::string>;
    BL::params.size();
    BL::buffers.size();
    requires BL::parameter_count == 0 || requires { BL::initialize(rng, values); };
    requires BL::buffer_count == 0 || requires { BL::initialize_buffers(values); };
};

/// A layer description: binds to input shape In as a BoundLayer.
template <class L, class In>
concept LayerDescription = requires { typename L::template bind<In>; } && BoundLayer<typename L::template bind<In>>;

/// Bound layer BL can run on backend B with scalars T: its forward, backward
/// and workspace calls resolve (each is constrained on its op families).
template <class BL, class B, class T>
concept LayerRunsOn = requires(LayerIo<T, B>& io, const B& be, std::size_t n) {
    BL::forward(io);
    BL::backward(io);
    { BL::workspace(be, n) } -> std::convertible_to<std::size_t>;
};

/// BL::fuses_relu / is_relu / folds_relu_backward (LayerBase below), false for layers without them.
template <class BL>
inline constexpr bool fuses_relu = requires { requires BL::fuses_relu; };
template <class BL>
inline constexpr bool is_relu_layer = requires { requires BL::is_relu; };
template <class BL>
inline constexpr bool folds_relu_backward = requires { requires BL::folds_relu_backward; };
/// BL::fuses_relu_maxpool (Conv2D: forward_relu_maxpool) and BL::is_max_pool (MaxPool2D).
template <class BL>
inline constexpr bool fuses_relu_maxpool = requires { requires BL::fuses_relu_maxpool; };
template <class BL>
inline constexpr bool is_max_pool_layer = requires { requires BL::is_max_pool; };

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
    /// The backend op families forward / backward call.
    static constexpr OpFamily ops = OpFamily::none;
    /// True when, in this mode, the output is the input itself (Flatten,
    /// Identity, Dropout in evaluation): Model then hands the input pointer
    /// on (and dy back as dx) instead of calling forward / backward.
    static constexpr bool passes_through(bool /*training*/) { return false; }
    /// True when forward honours io.fuse_relu (writes max(0, y)): Model then
    /// runs a following ReLU inside it in training (see model.hpp).
    static constexpr bool fuses_relu = false;
    /// True for the ReLU layer, the one a fuses_relu layer can absorb.
    static constexpr bool is_relu = false;
    /// True when backward honours io.relu_mask (MaxPool2D): Model then folds
    /// the backward of a ReLU just before it into this layer's.
    static constexpr bool folds_relu_backward = false;
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
