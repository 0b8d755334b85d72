// typenet/train/history.hpp - what fit returns: one row of metrics per epoch.
#pragma once

#include <cmath>
#include <cstddef>
#include <ostream>
#include <sstream>
#include <string>
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
    double seconds = 0.0;  // training time of the epoch (validation excluded)
    std::size_t skipped_batches = 0;  // batches left out for a non-finite loss or gradient (OnNonFinite::skip_batch)
    bool has_validation() const { return !std::isnan(val_accuracy); }
};

struct History {
    std::vector<EpochStats> epochs;

    const EpochStats& last() const { return epochs.back(); }
    double total_seconds() const {
        double s = 0;
        for (const auto& e : epochs) s += e.seconds;
        return s;
    }
    /// Learning curves as CSV: epoch,loss,accuracy,val_loss,val_accuracy,seconds,skipped_batches.
    std::string to_csv() const {
        std::ostringstream o;
        o.precision(8);
        o << "epoch,loss,accuracy,val_loss,val_accuracy,seconds,skipped_batches\n";
        for (const auto& e : epochs) {
            o << e.epoch << ',' << e.loss << ',' << e.accuracy << ',';
            if (e.has_validation()) o << e.val_loss << ',' << e.val_accuracy;
            else o << ',';
            o << ',' << e.seconds << ',' << e.skipped_batches << '\n';
        }
        return o.str();
    }
};

}  // namespace typenet
