// typenet/viz/image.hpp - an 8-bit raster image and the grid of tiles the
// visualisations are made of (feature maps, filters, misclassified digits).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "png.hpp"

namespace typenet::viz {

using Rgb = std::array<std::uint8_t, 3>;

/// width x height pixels of `channels` bytes (1 gray, 3 RGB), rows top to bottom.
struct Image {
    std::size_t width = 0, height = 0, channels = 1;
    std::vector<std::uint8_t> pixels;  // (height, width, channels)

    Image() = default;
    Image(std::size_t w, std::size_t h, std::size_t c, std::uint8_t fill = 0)
        : width(w), height(h), channels(c), pixels(w * h * c, fill) {}

    std::uint8_t* at(std::size_t x, std::size_t y) { return pixels.data() + (y * width + x) * channels; }
    const std::uint8_t* at(std::size_t x, std::size_t y) const { return pixels.data() + (y * width + x) * channels; }
    /// Sets a pixel; coordinates outside the image are ignored, so drawing
    /// code may run off the edges.
    void set(long x, long y, Rgb c) {
        if (x < 0 || y < 0 || std::size_t(x) >= width || std::size_t(y) >= height) return;
        std::uint8_t* p = at(std::size_t(x), std::size_t(y));
        if (channels == 1) p[0] = std::uint8_t((c[0] + c[1] + c[2]) / 3);  // gray images take the mean
        else for (std::size_t k = 0; k < 3; ++k) p[k] = c[k];
    }
    void fill_rect(long x, long y, long w, long h, Rgb c) {
        for (long j = y; j < y + h; ++j)
            for (long i = x; i < x + w; ++i) set(i, j, c);
    }
    /// Copies `tile` with its top-left corner at (x, y); same channel count.
    void paste(const Image& tile, std::size_t x, std::size_t y) {
        TYPENET_ASSERT(tile.channels == channels && x + tile.width <= width && y + tile.height <= height);
        for (std::size_t j = 0; j < tile.height; ++j)
            std::copy_n(tile.at(0, j), tile.width * channels, at(x, y + j));
    }
    void save_png(const std::filesystem::path& path) const { write_png(path, width, height, channels, pixels); }
};

/// A gray image of an h x w map, linearly stretched so its minimum is 0 and
/// maximum 255 (each map on its own scale: the pattern matters, not the
/// magnitude). A constant map becomes mid-gray.
template <class T>
Image normalized_map(std::span<const T> values, std::size_t w, std::size_t h) {
    TYPENET_ASSERT(values.size() == w * h);
    Image img(w, h, 1, 128);
    const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
    const double a = double(*lo), range = double(*hi) - a;
    if (!(range > 0) || !std::isfinite(range)) return img;
    for (std::size_t i = 0; i < w * h; ++i) img.pixels[i] = std::uint8_t(std::lround(255.0 * (double(values[i]) - a) / range));
    return img;
}

/// Pixel values in [0, 1] as a gray image, without stretching (dataset images).
template <class T>
Image unit_image(std::span<const T> values, std::size_t w, std::size_t h) {
    TYPENET_ASSERT(values.size() == w * h);
    Image img(w, h, 1);
    for (std::size_t i = 0; i < w * h; ++i)
        img.pixels[i] = std::uint8_t(std::lround(255.0 * std::clamp(double(values[i]), 0.0, 1.0)));
    return img;
}

/// Each pixel becomes a factor x factor block (nearest neighbour), so a 3x3
/// kernel is visible at all.
inline Image upscale(const Image& src, std::size_t factor) {
    Image out(src.width * factor, src.height * factor, src.channels);
    for (std::size_t y = 0; y < out.height; ++y)
        for (std::size_t x = 0; x < out.width; ++x)
            std::copy_n(src.at(x / factor, y / factor), src.channels, out.at(x, y));
    return out;
}

/// Layout of n equal tiles in a grid with 1-pixel gaps between (and around) them.
struct GridLayout {
    std::size_t columns = 0, rows = 0, tile_width = 0, tile_height = 0, gap = 1;
    std::size_t width() const { return columns * (tile_width + gap) + gap; }
    std::size_t height() const { return rows * (tile_height + gap) + gap; }
    std::size_t x(std::size_t i) const { return gap + (i % columns) * (tile_width + gap); }
    std::size_t y(std::size_t i) const { return gap + (i / columns) * (tile_height + gap); }
};

/// A near-square grid for n tiles: ceil(sqrt(n)) columns, unless `columns` is given.
inline GridLayout grid_layout(std::size_t n, std::size_t tile_width, std::size_t tile_height, std::size_t columns = 0) {
    typenet::detail::require(n > 0 && tile_width > 0 && tile_height > 0, "grid_layout: needs at least one non-empty tile");
    if (columns == 0) columns = std::size_t(std::ceil(std::sqrt(double(n))));
    columns = std::min(columns, n);
    return {columns, (n + columns - 1) / columns, tile_width, tile_height, 1};
}

/// Tiles (all the same size and channel count) in an RGB grid on a
/// background of `gap_color`; gray tiles become RGB, so the (blue) gaps stay
/// visible between gray maps of any brightness.
inline Image grid(const std::vector<Image>& tiles, std::size_t columns = 0, Rgb gap_color = {40, 90, 220}) {
    typenet::detail::require(!tiles.empty(), "viz::grid: no tiles to arrange");
    const Image& first = tiles.front();
    for (const auto& t : tiles)
        typenet::detail::require(t.width == first.width && t.height == first.height && t.channels == first.channels,
                                 "viz::grid: all tiles must have the same size and channel count");
    const GridLayout g = grid_layout(tiles.size(), first.width, first.height, columns);
    Image out(g.width(), g.height(), 3);
    out.fill_rect(0, 0, long(out.width), long(out.height), gap_color);
    for (std::size_t i = 0; i < tiles.size(); ++i) {
        if (first.channels == 3) {
            out.paste(tiles[i], g.x(i), g.y(i));
            continue;
        }
        for (std::size_t y = 0; y < first.height; ++y)
            for (std::size_t x = 0; x < first.width; ++x) {
                const std::uint8_t v = *tiles[i].at(x, y);
                out.set(long(g.x(i) + x), long(g.y(i) + y), {v, v, v});
            }
    }
    return out;
}

}  // namespace typenet::viz
