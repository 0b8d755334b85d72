// typenet/viz/maximize.hpp - the input pattern that most excites a feature
// map, found by gradient ascent on the input (the reference articles'
// "patterns that strongly activate a map").
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/random.hpp"
#include "../core/tensor.hpp"
#include "image.hpp"

namespace typenet::viz {

template <class T>
struct ActivationPattern {
    std::vector<T> image;   // (input shape...) values in [0, 1]
    double before = 0.0;    // mean activation of the map for the starting noise
    double after = 0.0;     // ... and for the returned image
    std::size_t steps = 0;  // steps taken (fewer than asked when the gradient vanished)
};

/// Gradient ascent on the input of `model` to maximise the mean of map
/// `channel` of layer `layer_index`'s output (a (C,H,W) layer: one of its C
/// maps; a flat layer: unit `channel`). Starts from mid-gray plus small
/// uniform noise (+-0.05, from `seed`; see the restart below), runs the network in eval mode, and
/// each step moves the input by step_size along the gradient divided by its
/// RMS (so step_size is in pixel units whatever the layer's scale), then
/// clips it to [0, 1], the range of the training images.
/// Side effect: overwrites the model's parameter gradients (not its weights).
template <class M>
ActivationPattern<typename M::scalar> maximize_activation(M& model, std::size_t layer_index, std::size_t channel,
                                                          std::size_t steps = 100, double step_size = 0.05,
                                                          std::uint64_t seed = 1) {
    using T = typename M::scalar;
    using D = typename M::device;
    const std::string who = "maximize_activation(layer " + std::to_string(layer_index) + ", map " + std::to_string(channel) + ")";
    typenet::detail::require(layer_index < M::layer_count, who + ": layer " + std::to_string(layer_index) +
                                                               " does not exist (the network has " +
                                                               std::to_string(M::layer_count) + " layers)");
    typenet::detail::require(step_size > 0, who + ": step_size must be positive");

    ActivationPattern<T> r;
    r.image.resize(M::input_size);
    Rng rng(seed);
    for (auto& v : r.image) v = T(0.5 + rng.uniform(-0.05, 0.05));

    Tensor<T, D> x(Dims{M::input_size}), dx(Dims{M::input_size});
    std::size_t map_offset = 0, map_size = 0, layer_size = 0;
    std::vector<T> host_map, g(M::input_size);
    // Forward of the current image; returns the map's mean activation.
    const auto activation = [&] {
        D::from_host(x.data(), r.image.data(), M::input_size * sizeof(T));
        model.forward(x.data(), 1, false);
        const auto out = model.layer_output(layer_index);  // (1, C, H, W) or (1, F)
        const std::size_t C = out.dim(1);
        typenet::detail::require(channel < C, who + ": layer " + std::to_string(layer_index) + " (" +
                                                  M::layer_names()[layer_index] + ") outputs " + out.dims.str() +
                                                  ", which has no map " + std::to_string(channel));
        layer_size = out.size();
        map_size = layer_size / C;
        map_offset = channel * map_size;
        host_map.resize(map_size);
        D::to_host(host_map.data(), out.data + map_offset, map_size * sizeof(T));
        double s = 0;
        for (T v : host_map) s += double(v);
        return s / double(map_size);
    };

    r.before = activation();
    // d(mean of the map)/d(layer output): 1/(H*W) on the map, 0 elsewhere.
    std::vector<T> host_dout(layer_size, T(0));
    std::fill_n(host_dout.begin() + long(map_offset), map_size, T(1) / T(map_size));
    Tensor<T, D> dout(Dims{layer_size});
    D::from_host(dout.data(), host_dout.data(), layer_size * sizeof(T));

    // After a ReLU a map can be zero everywhere for the starting image, with
    // no gradient to follow; then restart (up to 8 times) from noise over the
    // whole [0, 1] range, which usually wakes some unit up.
    int restarts = 0;
    while (r.steps < steps) {
        if (r.steps > 0) activation();  // the forward that backward_from needs
        model.backward_from(layer_index, dout.data(), dx.data());
        D::to_host(g.data(), dx.data(), M::input_size * sizeof(T));
        double sq = 0;
        for (T v : g) sq += double(v) * double(v);
        const double rms = std::sqrt(sq / double(M::input_size));
        if (!(rms > 1e-12)) {  // no unit on the path is active: no direction to climb
            if (r.steps > 0 || ++restarts > 8) break;
            for (auto& v : r.image) v = T(rng.uniform());
            r.before = activation();
            continue;
        }
        for (std::size_t i = 0; i < M::input_size; ++i)
            r.image[i] = T(std::clamp(double(r.image[i]) + step_size * double(g[i]) / rms, 0.0, 1.0));
        ++r.steps;
    }
    r.after = activation();
    return r;
}

/// A pattern of a network with (1, H, W) or (C, H, W) input as a gray image
/// of its first channel, stretched to 0-255 and upscaled by `scale`.
template <class M>
Image pattern_image(const ActivationPattern<typename M::scalar>& p, std::size_t scale = 4) {
    using S = typename M::input_shape;
    static_assert(S::rank == 3, "pattern_image needs a network with a (C,H,W) image input");
    using T = typename M::scalar;
    return upscale(normalized_map<T>(std::span<const T>(p.image).first(height_of<S> * width_of<S>), width_of<S>, height_of<S>),
                   scale);
}

}  // namespace typenet::viz
