// typenet/train/history.hpp - what fit returns: one row of metrics per epoch.
#pragma once

#include <charconv>
#include <cmath>
#include <cstddef>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace typenet {

/// Loss and accuracy over a dataset. loss is NaN when no loss was given.
struct Metrics {
    double loss = std::nan("");
    double accuracy = 0.0;
    std::size_t samples = 0;
};

struct EpochStats {
    std::size_t epoch = 0;  // 1-based
    double loss = 0.0;      // mean training loss over the epoch
    double accuracy = 0.0;  // training accuracy over the epoch
    double val_loss = std::nan("");
    double val_accuracy = std::nan("");
    double learning_rate = std::nan("");  // the rate of the epoch's last step (decay included); NaN if unknown
    double seconds = 0.0;  // training time of the epoch (validation excluded)
    std::size_t skipped_batches = 0;  // batches left out for a non-finite loss or gradient (OnNonFinite::skip_batch)
    bool has_validation() const { return !std::isnan(val_accuracy); }
};

/// The metrics a callback can monitor, by the names of History's CSV columns.
inline constexpr std::string_view monitorable_metrics[] = {"loss", "accuracy", "val_loss", "val_accuracy"};

/// The value of metric `name` (one of monitorable_metrics) in `s`; NaN for any other name.
inline double metric_value(const EpochStats& s, std::string_view name) {
    if (name == "loss") return s.loss;
    if (name == "accuracy") return s.accuracy;
    if (name == "val_loss") return s.val_loss;
    if (name == "val_accuracy") return s.val_accuracy;
    return std::nan("");
}

namespace detail {
inline constexpr const char* csv_header = "epoch,loss,accuracy,val_loss,val_accuracy,learning_rate,seconds,skipped_batches\n";
/// One CSV row of `s` (with its newline) into buf; returns its length. Fixed
/// buffer and to_chars, so CSVLogger writes rows without allocating.
/// Numbers as "%.8g"; no validation, or no known rate: empty fields.
inline std::size_t csv_row(const EpochStats& s, char (&buf)[256]) {
    char* p = buf;
    char* const end = buf + sizeof buf;
    const auto num = [&](double v) {
        if (!std::isnan(v)) p = std::to_chars(p, end, v, std::chars_format::general, 8).ptr;
        *p++ = ',';
    };
    p = std::to_chars(p, end, s.epoch).ptr;
    *p++ = ',';
    num(s.loss);
    num(s.accuracy);
    num(s.has_validation() ? s.val_loss : std::nan(""));
    num(s.has_validation() ? s.val_accuracy : std::nan(""));
    num(s.learning_rate);
    num(s.seconds);
    p = std::to_chars(p, end, s.skipped_batches).ptr;
    *p++ = '\n';
    return std::size_t(p - buf);
}
}  // namespace detail

struct History {
    std::vector<EpochStats> epochs;

    const EpochStats& last() const { return epochs.back(); }
    double total_seconds() const {
        double s = 0;
        for (const auto& e : epochs) s += e.seconds;
        return s;
    }
    /// Learning curves as CSV:
    /// epoch,loss,accuracy,val_loss,val_accuracy,learning_rate,seconds,skipped_batches
    /// (CSVLogger writes the same rows as training goes).
    std::string to_csv() const {
        std::string o = detail::csv_header;
        char row[256];
        for (const auto& e : epochs) o.append(row, detail::csv_row(e, row));
        return o;
    }
};

}  // namespace typenet
