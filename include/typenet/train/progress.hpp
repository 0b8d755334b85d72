// typenet/train/progress.hpp - the progress display of fit.
//
// On a terminal: a Keras-like bar redrawn in place (batch count, running loss
// and accuracy, elapsed time and ETA). Elsewhere (logs, CI, pipes): one plain
// line per epoch, so logs stay readable.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <ostream>
#include <sstream>
#include <string>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

#include "history.hpp"

namespace typenet {

enum class Verbosity {
    automatic,  // bar on a terminal, one line per epoch otherwise
    bar,
    lines,
    silent,
};

namespace progress_detail {
inline bool stdout_is_terminal() {
#if defined(__unix__) || defined(__APPLE__)
    return ::isatty(STDOUT_FILENO) == 1;
#else
    return false;
#endif
}
inline std::string format_seconds(double s) {
    std::ostringstream o;
    if (s < 60) o << std::fixed << std::setprecision(s < 10 ? 1 : 0) << s << "s";
    else o << int(s) / 60 << "m" << std::setw(2) << std::setfill('0') << int(s) % 60 << "s";
    return o.str();
}
}  // namespace progress_detail

class Progress {
public:
    using clock = std::chrono::steady_clock;

    Progress(Verbosity v, std::ostream& out, std::size_t epochs)
        : out_(out), epochs_(epochs),
          mode_(v == Verbosity::automatic
                    ? (&out == &std::cout && progress_detail::stdout_is_terminal() ? Verbosity::bar : Verbosity::lines)
                    : v) {}

    /// Whether update() wants running metrics (reading them may cost a device sync).
    bool wants_updates() const { return mode_ == Verbosity::bar; }

    /// One line before the first epoch naming what trains (e.g. "CPU
    /// backend: 2 threads, AVX-512"), unless silent.
    void describe(const std::string& what) {
        if (mode_ != Verbosity::silent) out_ << "fit: " << what << "\n";
    }

    void start_epoch(std::size_t epoch, std::size_t batches) {
        epoch_ = epoch;
        batches_ = batches;
        start_ = clock::now();
        last_draw_ = start_ - std::chrono::seconds(1);
    }

    /// Redraws the bar at most ~10 times a second (and always on the last batch).
    bool due(std::size_t batch) const {
        return mode_ == Verbosity::bar && (batch == batches_ || clock::now() - last_draw_ > std::chrono::milliseconds(100));
    }

    /// `learning_rate`: the rate of the latest step, shown when not NaN.
    void update(std::size_t batch, double loss, double accuracy, double learning_rate = std::nan("")) {
        if (!due(batch)) return;
        last_draw_ = clock::now();
        const double elapsed = std::chrono::duration<double>(last_draw_ - start_).count();
        const double eta = batch ? elapsed * double(batches_ - batch) / double(batch) : 0.0;
        constexpr int width = 30;
        const int filled = int(double(width) * double(batch) / double(std::max<std::size_t>(batches_, 1)));
        std::string bar(std::size_t(width), '.');
        for (int i = 0; i < filled; ++i) bar[std::size_t(i)] = '=';
        if (filled < width) bar[std::size_t(filled)] = '>';
        std::ostringstream o;
        o << "\rEpoch " << epoch_ << "/" << epochs_ << " [" << bar << "] " << std::setw(int(digits(batches_)))
          << batch << "/" << batches_ << "  loss " << std::fixed << std::setprecision(4) << loss << "  acc "
          << accuracy;
        if (!std::isnan(learning_rate)) o << "  lr " << std::defaultfloat << std::setprecision(4) << learning_rate;
        o << "  " << progress_detail::format_seconds(elapsed);
        if (batch < batches_) o << "  ETA " << progress_detail::format_seconds(eta);
        o << "   ";
        out_ << o.str() << std::flush;
    }

    void end_epoch(const EpochStats& s) {
        if (mode_ == Verbosity::silent) return;
        if (mode_ == Verbosity::bar) out_ << "\n";
        std::ostringstream o;
        o << "epoch " << s.epoch << "/" << epochs_ << "  loss " << std::fixed << std::setprecision(4) << s.loss
          << "  acc " << s.accuracy;
        if (s.has_validation()) o << "  val_loss " << s.val_loss << "  val_acc " << s.val_accuracy;
        if (!std::isnan(s.learning_rate))
            o << "  lr " << std::defaultfloat << std::setprecision(4) << s.learning_rate << std::fixed;
        o << "  " << std::setprecision(2) << s.seconds << " s";
        if (s.skipped_batches) o << "  (skipped " << s.skipped_batches << " non-finite batches)";
        out_ << o.str() << std::endl;
    }

private:
    static std::size_t digits(std::size_t v) {
        std::size_t d = 1;
        while (v >= 10) v /= 10, ++d;
        return d;
    }
    std::ostream& out_;
    std::size_t epochs_;
    Verbosity mode_;
    std::size_t epoch_ = 0, batches_ = 0;
    clock::time_point start_, last_draw_;
};

}  // namespace typenet
