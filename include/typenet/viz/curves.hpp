// typenet/viz/curves.hpp - learning curves of a History as a PNG: loss
// (left panel) and accuracy (right panel) per epoch, the training series in
// blue and the validation series in orange (legend: swatch + T / V).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../train/history.hpp"
#include "font.hpp"
#include "image.hpp"

namespace typenet::viz {

inline constexpr Rgb train_color{31, 119, 180}, validation_color{255, 127, 14};

/// A line from (x0, y0) to (x1, y1), `thickness` pixels wide (Bresenham).
inline void draw_line(Image& img, long x0, long y0, long x1, long y1, Rgb c, long thickness = 1) {
    const long dx = std::labs(x1 - x0), dy = -std::labs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    long err = dx + dy;
    for (;;) {
        img.fill_rect(x0 - thickness / 2, y0 - thickness / 2, thickness, thickness, c);
        if (x0 == x1 && y0 == y1) break;
        const long e2 = 2 * err;
        if (e2 >= dy) err += dy, x0 += sx;
        if (e2 <= dx) err += dx, y0 += sy;
    }
}

namespace detail {
inline std::string tick_label(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, std::fabs(v) >= 10 ? "%.0f" : (std::fabs(v) >= 1 ? "%.1f" : "%.2f"), v);
    std::string s = buf;
    if (s.rfind("0.", 0) == 0) s.erase(0, 1);  // ".25": saves a glyph in the narrow margin
    return s;
}

struct Series {
    std::vector<double> values;  // one per epoch; NaN = missing
    Rgb color;
};

/// One panel: axes, y ticks at min / mid / max, x ticks at epochs, series
/// as lines with a 3x3 marker per epoch (so a 1-epoch run still shows).
inline void draw_panel(Image& img, long left, long top, long w, long h, const std::string& title, double lo, double hi,
                       const std::vector<Series>& series) {
    const Rgb black{0, 0, 0}, grid_gray{225, 225, 225};
    const std::size_t n = series.front().values.size();
    const auto px = [&](std::size_t i) { return n == 1 ? left + w / 2 : left + long(std::lround(double(i) * double(w - 1) / double(n - 1))); };
    const auto py = [&](double v) { return top + long(std::lround((hi - v) / (hi - lo) * double(h - 1))); };
    for (int k = 0; k <= 4; ++k) {
        const double v = lo + (hi - lo) * k / 4.0;
        draw_line(img, left, py(v), left + w - 1, py(v), grid_gray);
        if (k % 2 == 0) draw_text(img, left - 4 - text_width(tick_label(v)), py(v) - 2, tick_label(v), black);
    }
    draw_line(img, left - 1, top, left - 1, top + h, black);
    draw_line(img, left - 1, top + h, left + w - 1, top + h, black);
    const std::size_t every = std::max<std::size_t>(1, (n + 9) / 10);
    for (std::size_t i = 0; i < n; i += every) {
        draw_line(img, px(i), top + h, px(i), top + h + 2, black);
        const std::string e = std::to_string(i + 1);
        draw_text(img, px(i) - text_width(e) / 2, top + h + 5, e, black);
    }
    draw_text(img, left + (w - text_width(title, 2)) / 2, top - 16, title, black, 2);
    for (const auto& s : series) {
        for (std::size_t i = 0; i + 1 < n; ++i)
            if (std::isfinite(s.values[i]) && std::isfinite(s.values[i + 1]))
                draw_line(img, px(i), py(s.values[i]), px(i + 1), py(s.values[i + 1]), s.color, 2);
        for (std::size_t i = 0; i < n; ++i)
            if (std::isfinite(s.values[i])) img.fill_rect(px(i) - 2, py(s.values[i]) - 2, 5, 5, s.color);
    }
}
}  // namespace detail

/// Loss and accuracy per epoch (x axis: epoch 1..n), train and validation.
/// Loss runs from 0 to its maximum; accuracy from its minimum (rounded down
/// to a tenth) to 1.
inline Image learning_curves_image(const History& h) {
    typenet::detail::require(!h.epochs.empty(), "learning_curves_image: the history has no epochs");
    detail::Series loss{{}, train_color}, val_loss{{}, validation_color}, acc{{}, train_color},
        val_acc{{}, validation_color};
    for (const auto& e : h.epochs) {
        loss.values.push_back(e.loss);
        acc.values.push_back(e.accuracy);
        val_loss.values.push_back(e.has_validation() ? e.val_loss : std::nan(""));
        val_acc.values.push_back(e.has_validation() ? e.val_accuracy : std::nan(""));
    }
    double loss_hi = 0, acc_lo = 1;
    for (const auto* s : {&loss, &val_loss})
        for (double v : s->values) if (std::isfinite(v)) loss_hi = std::max(loss_hi, v);
    for (const auto* s : {&acc, &val_acc})
        for (double v : s->values) if (std::isfinite(v)) acc_lo = std::min(acc_lo, v);
    loss_hi = loss_hi > 0 ? loss_hi * 1.05 : 1.0;
    acc_lo = std::clamp(std::floor(acc_lo * 10 - 1e-9) / 10, 0.0, 0.9);

    const long pw = 300, ph = 200, left = 30, top = 30, gap = 60;
    Image img(std::size_t(left + pw + gap + pw + 20), std::size_t(top + ph + 40), 3, 255);
    detail::draw_panel(img, left, top, pw, ph, "LOSS", 0.0, loss_hi, {loss, val_loss});
    detail::draw_panel(img, left + pw + gap, top, pw, ph, "ACC", acc_lo, 1.0, {acc, val_acc});
    // Legend, top right: training (T) and validation (V).
    const long lx = long(img.width) - 40, ly = 6;
    img.fill_rect(lx, ly, 8, 5, train_color);
    draw_text(img, lx + 10, ly, "T", {0, 0, 0});
    img.fill_rect(lx + 18, ly, 8, 5, validation_color);
    draw_text(img, lx + 28, ly, "V", {0, 0, 0});
    return img;
}

inline Image learning_curves_png(const History& h, const std::filesystem::path& path) {
    Image img = learning_curves_image(h);
    img.save_png(path);
    return img;
}

}  // namespace typenet::viz
