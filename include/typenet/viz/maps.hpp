// typenet/viz/maps.hpp - what a convolutional network computes: the feature
// maps one input produces after a layer, and the first layer's filters.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "image.hpp"

namespace typenet::viz {

/// The maps of layer `layer_index` for one sample (host values,
/// model input shape), each normalised to 0-255 and upscaled by `scale`, in
/// a near-square grid. The layer's output must be (C,H,W) - a convolution,
/// activation or pooling layer - not a flat vector.
template <class M>
Image feature_maps_image(M& model, std::span<const typename M::scalar> sample, std::size_t layer_index,
                         std::size_t scale = 4) {
    using T = typename M::scalar;
    typenet::detail::require(sample.size() == M::input_size,
                             "feature_maps: the sample has " + std::to_string(sample.size()) +
                                 " values but the network input " + shape_string<typename M::input_shape>() +
                                 " takes " + std::to_string(M::input_size));
    typenet::detail::require(layer_index < M::layer_count,
                             "feature_maps: layer " + std::to_string(layer_index) + " does not exist (the network has " +
                                 std::to_string(M::layer_count) + " layers, 0 to " + std::to_string(M::layer_count - 1) + ")");
    Tensor<T, typename M::device> x(Dims{M::input_size});
    M::device::from_host(x.data(), sample.data(), M::input_size * sizeof(T));
    model.forward(x.data(), 1, false);
    const auto out = model.layer_output(layer_index);  // (1, C, H, W)
    typenet::detail::require(out.rank() == 4, "feature_maps: layer " + std::to_string(layer_index) + " (" +
                                                  M::layer_names()[layer_index] + ") outputs " + out.dims.str() +
                                                  ", not (1, C, H, W) feature maps; pick a convolution, activation "
                                                  "or pooling layer before Flatten");
    const std::size_t C = out.dim(1), H = out.dim(2), W = out.dim(3);
    std::vector<T> host(C * H * W);
    M::device::to_host(host.data(), out.data, host.size() * sizeof(T));
    std::vector<Image> tiles;
    for (std::size_t c = 0; c < C; ++c)
        tiles.push_back(upscale(normalized_map<T>(std::span<const T>(host).subspan(c * H * W, H * W), W, H), scale));
    return grid(tiles);
}

/// Writes feature_maps_image to a PNG file and returns the image.
template <class M>
Image feature_maps_png(M& model, std::span<const typename M::scalar> sample, std::size_t layer_index,
                       const std::filesystem::path& path, std::size_t scale = 4) {
    Image img = feature_maps_image(model, sample, layer_index, scale);
    img.save_png(path);
    return img;
}

/// The first convolution's filters: one tile per (filter, input channel)
/// kernel, normalised on its own and upscaled by `scale` so a 3x3 kernel is
/// visible. Filters are rows when there are several input channels.
template <class M>
Image filters_image(const M& model, std::size_t scale = 8) {
    using T = typename M::scalar;
    for (const auto& seg : model.segments()) {
        if (seg.dims.rank != 4) continue;  // the first (F, C, kh, kw) weight is the first convolution's
        const std::size_t F = seg.dims[0], C = seg.dims[1], KH = seg.dims[2], KW = seg.dims[3];
        std::vector<T> w(seg.size);
        M::device::to_host(w.data(), model.parameters().data() + seg.offset, seg.size * sizeof(T));
        std::vector<Image> tiles;
        for (std::size_t k = 0; k < F * C; ++k)
            tiles.push_back(upscale(normalized_map<T>(std::span<const T>(w).subspan(k * KH * KW, KH * KW), KW, KH), scale));
        return grid(tiles, C > 1 ? C : 0);
    }
    throw ArgumentError("filters_image: the network has no convolution (no parameter of shape (F, C, kh, kw)); "
                        "there are no filters to draw");
}

/// Writes filters_image to a PNG file and returns the image.
template <class M>
Image filters_png(const M& model, const std::filesystem::path& path, std::size_t scale = 8) {
    Image img = filters_image(model, scale);
    img.save_png(path);
    return img;
}

}  // namespace typenet::viz
