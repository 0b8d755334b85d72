// typenet/viz/font.hpp - a 3x5 pixel font for labels in images: the ten
// digits, '.', '-', '%', ':' and the few capitals the plots use. Not a text
// renderer: just enough for class labels, counts and axis values.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "image.hpp"

namespace typenet::viz {

namespace detail {
/// Five rows of three bits each, bit 2 = left column.
struct Glyph {
    char c;
    std::array<std::uint8_t, 5> rows;
};
inline constexpr std::array<Glyph, 25> glyphs{{
    {'0', {7, 5, 5, 5, 7}}, {'1', {2, 6, 2, 2, 7}}, {'2', {7, 1, 7, 4, 7}}, {'3', {7, 1, 7, 1, 7}},
    {'4', {5, 5, 7, 1, 1}}, {'5', {7, 4, 7, 1, 7}}, {'6', {7, 4, 7, 5, 7}}, {'7', {7, 1, 1, 2, 2}},
    {'8', {7, 5, 7, 5, 7}}, {'9', {7, 5, 7, 1, 7}}, {'.', {0, 0, 0, 0, 2}}, {'-', {0, 0, 7, 0, 0}},
    {'%', {5, 1, 2, 4, 5}}, {':', {0, 2, 0, 2, 0}}, {'A', {2, 5, 7, 5, 5}}, {'C', {7, 4, 4, 4, 7}},
    {'E', {7, 4, 6, 4, 7}}, {'L', {4, 4, 4, 4, 7}}, {'O', {7, 5, 5, 5, 7}}, {'P', {6, 5, 6, 4, 4}},
    {'S', {7, 4, 7, 1, 7}}, {'T', {7, 2, 2, 2, 2}}, {'V', {5, 5, 5, 5, 2}}, {'R', {6, 5, 6, 5, 5}},
    {'N', {5, 7, 7, 7, 5}},
}};
}  // namespace detail

inline constexpr long glyph_width = 3, glyph_height = 5;

/// Width in pixels of `text` drawn at `scale` (one blank column between glyphs).
inline long text_width(std::string_view text, long scale = 1) {
    return text.empty() ? 0 : (long(text.size()) * (glyph_width + 1) - 1) * scale;
}

/// Draws text with its top-left corner at (x, y); characters without a glyph
/// (lower case, most punctuation) are left blank.
inline void draw_text(Image& img, long x, long y, std::string_view text, Rgb color, long scale = 1) {
    for (char c : text) {
        for (const auto& g : detail::glyphs) {
            if (g.c != c) continue;
            for (long r = 0; r < glyph_height; ++r)
                for (long b = 0; b < glyph_width; ++b)
                    if (g.rows[std::size_t(r)] & (4 >> b)) img.fill_rect(x + b * scale, y + r * scale, scale, scale, color);
        }
        x += (glyph_width + 1) * scale;
    }
}

}  // namespace typenet::viz
