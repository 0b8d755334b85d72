// typenet/viz/confusion.hpp - images of a classifier's errors: the confusion
// matrix as a heat map and the misclassified samples with their labels.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../data/dataset.hpp"
#include "../train/inspect.hpp"
#include "font.hpp"
#include "image.hpp"

namespace typenet::viz {

/// Heat map of a confusion matrix: row = true class, column = predicted
/// class, class numbers along the top and left. A cell's blue deepens with
/// its share of its row (square-root scale, so a few dozen errors among a
/// thousand still show); the count is written in it when it fits.
inline Image confusion_image(const ConfusionMatrix& m, std::size_t cell = 24) {
    typenet::detail::require(m.classes > 0 && m.counts.size() == m.classes * m.classes,
                             "confusion_image: the matrix is empty or its counts are not classes x classes");
    const long K = long(m.classes), c = long(cell);
    const long margin = text_width(std::to_string(K - 1)) + 6;
    Image img(std::size_t(margin + K * c + 1), std::size_t(margin + K * c + 1), 3, 255);
    for (long t = 0; t < K; ++t) {
        const double total = double(std::max<std::size_t>(m.row_total(std::size_t(t)), 1));
        for (long p = 0; p < K; ++p) {
            const std::size_t n = m(std::size_t(t), std::size_t(p));
            const double s = std::sqrt(double(n) / total);
            const Rgb color{std::uint8_t(255 - s * (255 - 8)), std::uint8_t(255 - s * (255 - 48)),
                            std::uint8_t(255 - s * (255 - 107))};
            const long x = margin + p * c, y = margin + t * c;
            img.fill_rect(x, y, c + 1, c + 1, {200, 200, 200});  // 1-px grid lines
            img.fill_rect(x + 1, y + 1, c - 1, c - 1, color);
            const std::string label = std::to_string(n);
            if (n > 0 && text_width(label) <= c - 2)
                draw_text(img, x + (c + 1 - text_width(label)) / 2, y + (c + 1 - glyph_height) / 2, label,
                          s > 0.55 ? Rgb{255, 255, 255} : Rgb{0, 0, 0});
        }
    }
    for (long k = 0; k < K; ++k) {
        const std::string s = std::to_string(k);
        draw_text(img, margin + k * c + (c + 1 - text_width(s)) / 2, (margin - glyph_height) / 2, s, {0, 0, 0});
        draw_text(img, (margin - text_width(s)) / 2, margin + k * c + (c + 1 - glyph_height) / 2, s, {0, 0, 0});
    }
    return img;
}

inline Image confusion_png(const ConfusionMatrix& m, const std::filesystem::path& path, std::size_t cell = 24) {
    Image img = confusion_image(m, cell);
    img.save_png(path);
    return img;
}

/// The samples of `mistakes` (from most_confident_mistakes) in a grid, each
/// upscaled by `scale` above a strip reading "T<true> P<predicted> <p>%":
/// the true label in green, the prediction and its probability in red.
/// Images (N, C, H, W) with values in [0, 1] are drawn from their first channel.
template <class T>
Image mistakes_image(const BasicDataset<T>& data, const std::vector<Mistake>& mistakes, std::size_t scale = 2,
                     std::size_t columns = 0) {
    typenet::detail::require(!mistakes.empty(), "mistakes_image: there are no mistakes to draw");
    typenet::detail::require(data.images.dims().rank == 4, "mistakes_image: dataset '" + data.name + "' holds " +
                                                               data.images.dims().str() +
                                                               ", not (N, C, H, W) images");
    const std::size_t H = data.images.dim(2), W = data.images.dim(3);
    const long strip = glyph_height + 4;
    std::vector<Image> tiles;
    for (const auto& m : mistakes) {
        const auto sample = data.sample(m.index);  // throws when the index is not in data
        const Image gray = upscale(unit_image<T>(sample.first(H * W), W, H), scale);
        // Built with append: GCC 12 gives a false -Wrestrict on "T" + std::string.
        std::string truth = "T", pred = "P";
        truth.append(std::to_string(m.truth));
        pred.append(std::to_string(m.predicted)).append(" ");
        pred.append(std::to_string(int(std::lround(m.probability * 100)))).append("%");
        const long width = std::max<long>(long(gray.width), text_width(truth + " " + pred) + 4);
        Image tile(std::size_t(width), gray.height + std::size_t(strip), 3, 255);
        for (std::size_t y = 0; y < gray.height; ++y)
            for (std::size_t x = 0; x < gray.width; ++x) {
                const std::uint8_t v = *gray.at(x, y);
                tile.set(long(x + (tile.width - gray.width) / 2), long(y), {v, v, v});
            }
        const long tx = (width - text_width(truth + " " + pred)) / 2, ty = long(gray.height) + 2;
        draw_text(tile, tx, ty, truth, {0, 140, 0});
        draw_text(tile, tx + text_width(truth + " "), ty, pred, {200, 0, 0});
        tiles.push_back(std::move(tile));
    }
    return grid(tiles, columns);
}

template <class T>
Image mistakes_png(const BasicDataset<T>& data, const std::vector<Mistake>& mistakes, const std::filesystem::path& path,
                   std::size_t scale = 2, std::size_t columns = 0) {
    Image img = mistakes_image(data, mistakes, scale, columns);
    img.save_png(path);
    return img;
}

}  // namespace typenet::viz
