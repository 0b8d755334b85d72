// typenet/train/callbacks.hpp - what fit calls back while it trains.
//
// A callback is any object with some of these member functions, each taking
// the TrainingContext (templates are fine; a generic lambda works too):
//   on_train_begin(c)  on_epoch_begin(c)  on_batch_begin(c)
//   on_batch_end(c)    on_epoch_end(c)    on_train_end(c)
// fit detects each with `requires` and calls only what exists, inlined: a
// callback without on_batch_* costs nothing per batch. To be resumed bit for
// bit, a callback with state also has save_state(c, TrainingState&, prefix)
// and load_state(c, const TrainingState&, prefix); fit puts that state into
// its checkpoints. One that sets the learning rate says so with
// `static constexpr bool sets_learning_rate = true` (at most one per fit).
// Schedules are in train/schedules.hpp.
#pragma once

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../io/checkpoint.hpp"
#include "../io/save_load.hpp"
#include "history.hpp"

namespace typenet {

/// What fit shows a callback: the model, the optimizer and where the run is.
template <class M, class O>
struct TrainingContext {
    using model_type = M;
    using scalar = typename M::scalar;

    M& model;
    const O& optimizer;
    const History& history;  // the epochs this fit has trained; at on_epoch_end its last row is this epoch's
    std::size_t epochs = 0;       // the epoch the run trains to (FitOptions::epochs)
    std::size_t batches = 0;      // batches per epoch
    bool has_validation = false;  // whether val_loss / val_accuracy are measured
    std::ostream* log = nullptr;  // where callbacks report what they did; null when fit is silent
    std::size_t first_epoch = 1;  // > 1 when the run resumed from a checkpoint
    std::size_t epoch = 0;        // the current epoch, 1-based
    std::size_t batch = 0;        // the current batch in the epoch, 0-based (on_batch_*)
    std::size_t batch_samples = 0;  // samples in the current batch (on_batch_*)
    bool stop_training = false;   // set by a callback: fit ends after this epoch
    int rank = 0;                 // data-parallel fit (FitOptions::communicator): this process's rank,
    int ranks = 1;                // and how many train together; only rank 0 writes files

    /// The current epoch's metrics (in on_epoch_end).
    const EpochStats& stats() const { return history.last(); }
    /// The current batch counted over the whole run, 0-based: what per-batch schedules read.
    std::size_t run_batch() const { return (epoch - 1) * batches + batch; }
    std::size_t run_batches() const { return epochs * batches; }

    static constexpr bool schedulable = requires(const O& o) { o.base_learning_rate(); };
    /// The rate schedules scale: the optimizer's options().learning_rate.
    double base_learning_rate() const
        requires schedulable
    {
        return optimizer.base_learning_rate();
    }
    /// The scheduled learning rate now in force, before the optimizer's decay.
    double learning_rate() const
        requires schedulable
    {
        return model.optimizer_state().learning_rate().value_or(optimizer.base_learning_rate());
    }
    /// Sets the learning rate of the following steps (the optimizer's decay
    /// still applies). It is kept in the model's optimizer state.
    void set_learning_rate(double lr)
        requires schedulable
    {
        model.optimizer_state().set_learning_rate(lr);
    }
};

/// Whether a metric should fall (loss) or rise (accuracy); automatic: rise
/// for names containing "accuracy", fall otherwise.
enum class MonitorMode { automatic, min, max };

namespace callback_detail {

/// One monitored metric and the best value seen (shared by EarlyStopping,
/// ReduceLROnPlateau and ModelCheckpoint).
struct Monitor {
    std::string name;
    MonitorMode mode = MonitorMode::automatic;
    double min_delta = 0.0;
    bool maximize = false;
    double best = std::numeric_limits<double>::infinity();

    /// At fit start: an unknown name, or a validation metric without a
    /// validation set, is an ArgumentError naming the callback and the valid names.
    void start(const char* callback, bool has_validation) {
        std::string valid;
        bool known = false;
        for (const auto n : monitorable_metrics) {
            const bool measured = has_validation || !n.starts_with("val_");
            if (measured) valid += (valid.empty() ? "" : ", ") + std::string(n);
            known = known || n == name;
        }
        if (!known)
            throw ArgumentError(std::string("fit: ") + callback + " monitors '" + name +
                                "', which fit does not record; monitor one of: " + valid);
        if (!has_validation && name.starts_with("val_"))
            throw ArgumentError(std::string("fit: ") + callback + " monitors '" + name +
                                "' but fit has no validation set; set FitOptions::validation or monitor one of: " + valid);
        detail::require(min_delta >= 0.0, std::string("fit: ") + callback + ": min_delta must be >= 0 (got " +
                                              std::to_string(min_delta) + ")");
        maximize = mode == MonitorMode::max || (mode == MonitorMode::automatic && name.find("accuracy") != std::string::npos);
        best = maximize ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
    }
    /// Better than the best by more than min_delta (NaN never is).
    bool improves(double v) const {
        if (std::isnan(v)) return false;
        return maximize ? v > best + min_delta : v < best - min_delta;
    }
};

template <class T>
std::size_t count(const TrainingState<T>& st, const std::string& key, std::size_t fallback) {
    const auto v = st.number(key);
    if (!v) return fallback;
    if (!(*v >= 0.0) || *v != std::floor(*v))
        throw IoError("checkpoint: training state \"" + key + "\" is " + io_detail::exact_text(*v) + ", not a count");
    return static_cast<std::size_t>(*v);
}

}  // namespace callback_detail

// --- EarlyStopping -----------------------------------------------------------

struct EarlyStoppingOptions {
    std::string monitor = "val_loss";
    double min_delta = 0.0;     // a change smaller than this is no improvement
    std::size_t patience = 0;   // epochs without improvement before stopping (0: the first one stops)
    MonitorMode mode = MonitorMode::automatic;
    bool restore_best_weights = false;  // at the end of fit, go back to the best epoch's weights
};

/// Stops fit once the monitored metric has not improved for `patience`
/// epochs (Keras' rule). With restore_best_weights the model ends with the
/// parameters and buffers of its best epoch - also when the run used all its
/// epochs (Keras restores only when it stops early).
class EarlyStopping {
public:
    using Options = EarlyStoppingOptions;
    static constexpr const char* name = "EarlyStopping";

    explicit EarlyStopping(Options o = {}) : o_(std::move(o)) { monitor_.name = o_.monitor; }

    const Options& options() const { return o_; }
    double best() const { return monitor_.best; }
    std::size_t best_epoch() const { return best_epoch_; }        // 0: none yet
    std::size_t stopped_epoch() const { return stopped_epoch_; }  // 0: did not stop early

    template <class C>
    void on_train_begin(C& c) {
        monitor_.mode = o_.mode;
        monitor_.min_delta = o_.min_delta;
        monitor_.start(name, c.has_validation);
        wait_ = best_epoch_ = stopped_epoch_ = 0;
        if (o_.restore_best_weights) {  // sized here, so epochs copy without allocating
            best_params_.resize(c.model.parameters().size() * sizeof(typename C::scalar));
            best_buffers_.resize(c.model.buffers().size() * sizeof(typename C::scalar));
        }
    }

    template <class C>
    void on_epoch_end(C& c) {
        const double v = metric_value(c.stats(), o_.monitor);
        if (monitor_.improves(v)) {
            monitor_.best = v;
            best_epoch_ = c.epoch;
            wait_ = 0;
            if (o_.restore_best_weights) copy_out(c.model);
            return;
        }
        if (++wait_ >= o_.patience) {
            stopped_epoch_ = c.epoch;
            c.stop_training = true;
            if (c.log)
                *c.log << "EarlyStopping: " << o_.monitor << " has not improved for " << wait_
                       << " epoch(s); stopping after epoch " << c.epoch << " (best " << monitor_.best << " in epoch "
                       << best_epoch_ << ")\n";
        }
    }

    template <class C>
    void on_train_end(C& c) {
        if (!o_.restore_best_weights || best_epoch_ == 0) return;
        using D = typename C::model_type::device;
        D::from_host(c.model.parameters().data(), best_params_.data(), best_params_.size());
        D::from_host(c.model.buffers().data(), best_buffers_.data(), best_buffers_.size());
        // (A resumed run that had stopped trains no epoch: its history is empty.)
        if (c.log && (c.history.epochs.empty() || best_epoch_ != c.history.epochs.back().epoch))
            *c.log << "EarlyStopping: restored the weights of epoch " << best_epoch_ << " (" << o_.monitor << " "
                   << monitor_.best << ")\n";
    }

    template <class C>
    void save_state(const C&, TrainingState<typename C::scalar>& st, const std::string& p) const {
        st.set(p + "best", monitor_.best);
        st.set(p + "wait", double(wait_));
        st.set(p + "best_epoch", double(best_epoch_));
        st.set(p + "stopped_epoch", double(stopped_epoch_));
        if (o_.restore_best_weights && best_epoch_ > 0) {
            st.arrays[p + "parameters"] = as_values<typename C::scalar>(best_params_);
            st.arrays[p + "buffers"] = as_values<typename C::scalar>(best_buffers_);
        }
    }
    template <class C>
    void load_state(C& c, const TrainingState<typename C::scalar>& st, const std::string& p) {
        monitor_.best = st.number(p + "best").value_or(monitor_.best);
        wait_ = callback_detail::count(st, p + "wait", wait_);
        best_epoch_ = callback_detail::count(st, p + "best_epoch", best_epoch_);
        stopped_epoch_ = callback_detail::count(st, p + "stopped_epoch", stopped_epoch_);
        if (o_.restore_best_weights && best_epoch_ > 0) {
            const auto* params = st.array(p + "parameters", c.model.parameters().size());
            const auto* buffers = st.array(p + "buffers", c.model.buffers().size());
            if (!params || !buffers)
                throw IoError("checkpoint: EarlyStopping restores the best weights, but the checkpoint holds no "
                              "best weights for it (it was written without restore_best_weights)");
            std::memcpy(best_params_.data(), params->data(), best_params_.size());
            std::memcpy(best_buffers_.data(), buffers->data(), best_buffers_.size());
        }
        if (stopped_epoch_ > 0) c.stop_training = true;  // the interrupted run had stopped here
    }

private:
    template <class M>
    void copy_out(M& model) {
        using D = typename M::device;
        D::to_host(best_params_.data(), model.parameters().data(), best_params_.size());
        D::to_host(best_buffers_.data(), model.buffers().data(), best_buffers_.size());
    }
    template <class T>
    static std::vector<T> as_values(const std::vector<std::byte>& bytes) {
        std::vector<T> v(bytes.size() / sizeof(T));
        std::memcpy(v.data(), bytes.data(), bytes.size());
        return v;
    }

    Options o_;
    callback_detail::Monitor monitor_;
    std::size_t wait_ = 0, best_epoch_ = 0, stopped_epoch_ = 0;
    // The best epoch's parameters and buffers, as bytes of the model's scalar type (on the host).
    std::vector<std::byte> best_params_, best_buffers_;
};

// --- ReduceLROnPlateau ---------------------------------------------------------

struct ReduceLROnPlateauOptions {
    std::string monitor = "val_loss";
    double factor = 0.1;         // new rate = rate * factor, in (0, 1)
    std::size_t patience = 10;   // epochs without improvement before reducing
    std::size_t cooldown = 0;    // epochs after a reduction during which no waiting is counted
    double min_lr = 0.0;         // the rate never goes below this
    double min_delta = 1e-4;     // a change smaller than this is no improvement
    MonitorMode mode = MonitorMode::automatic;
};

/// Multiplies the learning rate by `factor` when the monitored metric has not
/// improved for `patience` epochs (Keras' rule, cooldown included). The rate
/// lives in the model's optimizer state; best, wait and cooldown go into fit's
/// checkpoints, so a resumed run reduces at the same epochs.
class ReduceLROnPlateau {
public:
    using Options = ReduceLROnPlateauOptions;
    static constexpr const char* name = "ReduceLROnPlateau";
    static constexpr bool sets_learning_rate = true;

    explicit ReduceLROnPlateau(Options o = {}) : o_(std::move(o)) {
        detail::require(o_.factor > 0.0 && o_.factor < 1.0,
                        "ReduceLROnPlateau: factor must be in (0, 1) (got " + std::to_string(o_.factor) + ")");
        detail::require(o_.min_lr >= 0.0, "ReduceLROnPlateau: min_lr must be >= 0 (got " + std::to_string(o_.min_lr) + ")");
        monitor_.name = o_.monitor;
    }

    const Options& options() const { return o_; }
    double best() const { return monitor_.best; }
    std::size_t wait() const { return wait_; }
    std::size_t cooldown_left() const { return cooldown_left_; }

    template <class C>
    void on_train_begin(C& c) {
        monitor_.mode = o_.mode;
        monitor_.min_delta = o_.min_delta;
        monitor_.start(name, c.has_validation);
        wait_ = cooldown_left_ = 0;
    }

    template <class C>
    void on_epoch_end(C& c) {
        const double v = metric_value(c.stats(), o_.monitor);
        if (cooldown_left_ > 0) {
            --cooldown_left_;
            wait_ = 0;
        }
        if (monitor_.improves(v)) {
            monitor_.best = v;
            wait_ = 0;
            return;
        }
        // (As Keras: the last cooldown epoch already counts towards patience.)
        if (cooldown_left_ > 0 || ++wait_ < o_.patience) return;
        const double old_lr = c.learning_rate();
        if (old_lr > o_.min_lr) {
            const double lr = std::max(old_lr * o_.factor, o_.min_lr);
            c.set_learning_rate(lr);
            if (c.log)
                *c.log << "ReduceLROnPlateau: " << o_.monitor << " has not improved for " << wait_
                       << " epoch(s); learning rate " << old_lr << " -> " << lr << "\n";
            cooldown_left_ = o_.cooldown;
            wait_ = 0;
        }
    }

    template <class C>
    void save_state(const C&, TrainingState<typename C::scalar>& st, const std::string& p) const {
        st.set(p + "best", monitor_.best);
        st.set(p + "wait", double(wait_));
        st.set(p + "cooldown_left", double(cooldown_left_));
    }
    template <class C>
    void load_state(C&, const TrainingState<typename C::scalar>& st, const std::string& p) {
        monitor_.best = st.number(p + "best").value_or(monitor_.best);
        wait_ = callback_detail::count(st, p + "wait", wait_);
        cooldown_left_ = callback_detail::count(st, p + "cooldown_left", cooldown_left_);
    }

private:
    Options o_;
    callback_detail::Monitor monitor_;
    std::size_t wait_ = 0, cooldown_left_ = 0;
};

// --- ModelCheckpoint ---------------------------------------------------------

struct ModelCheckpointOptions {
    std::filesystem::path path{};  // the file written (replaced atomically)
    std::string monitor = "val_loss";
    MonitorMode mode = MonitorMode::automatic;
    double min_delta = 0.0;
    bool save_best_only = true;  // false: write after every epoch
    bool weights_only = true;    // save(): a weights file; false: save_checkpoint() (optimizer and generator too)
};

/// Keeps the best model by a monitored metric in one file: after an epoch
/// that improves on the best so far, the weights are written with save()
/// (or save_checkpoint()), atomically, so the file always holds a complete
/// best model. Its best value goes into fit's checkpoints.
class ModelCheckpoint {
public:
    using Options = ModelCheckpointOptions;
    static constexpr const char* name = "ModelCheckpoint";

    explicit ModelCheckpoint(Options o) : o_(std::move(o)) {
        detail::require(!o_.path.empty(), "ModelCheckpoint: set options.path to the file to write");
        monitor_.name = o_.monitor;
    }

    const Options& options() const { return o_; }
    double best() const { return monitor_.best; }
    std::size_t best_epoch() const { return best_epoch_; }  // 0: nothing written yet
    std::size_t writes() const { return writes_; }          // files written by this object

    template <class C>
    void on_train_begin(C& c) {
        monitor_.mode = o_.mode;
        monitor_.min_delta = o_.min_delta;
        monitor_.start(name, c.has_validation);
        best_epoch_ = 0;
    }

    template <class C>
    void on_epoch_end(C& c) {
        const double v = metric_value(c.stats(), o_.monitor);
        const bool better = monitor_.improves(v);
        if (!better && o_.save_best_only) return;
        // Every rank keeps the same best (the metrics are reduced); one writes.
        if (c.rank == 0) {
            if (o_.weights_only) save(c.model, o_.path);
            else save_checkpoint(o_.path, c.model, c.optimizer, c.epoch);
        }
        ++writes_;
        if (better) {
            monitor_.best = v;
            best_epoch_ = c.epoch;
        }
    }

    template <class C>
    void save_state(const C&, TrainingState<typename C::scalar>& st, const std::string& p) const {
        st.set(p + "best", monitor_.best);
        st.set(p + "best_epoch", double(best_epoch_));
    }
    template <class C>
    void load_state(C&, const TrainingState<typename C::scalar>& st, const std::string& p) {
        monitor_.best = st.number(p + "best").value_or(monitor_.best);
        best_epoch_ = callback_detail::count(st, p + "best_epoch", best_epoch_);
    }

private:
    Options o_;
    callback_detail::Monitor monitor_;
    std::size_t best_epoch_ = 0, writes_ = 0;
};

// --- CSVLogger ---------------------------------------------------------------

struct CSVLoggerOptions {
    bool append = false;  // add rows to an existing file (e.g. of an earlier fit) instead of replacing it
};

/// Writes History's CSV (History::to_csv's header and rows) to a file as
/// training goes: the header when the first epoch starts, then one flushed
/// row per epoch, so the file can be read (or plotted) during the run. A
/// resumed run keeps the rows of the epochs before the checkpoint and drops
/// any written after it, so the file matches an uninterrupted run's.
class CSVLogger {
public:
    using Options = CSVLoggerOptions;
    static constexpr const char* name = "CSVLogger";

    explicit CSVLogger(std::filesystem::path path, Options o = {}) : path_(std::move(path)), o_(o) {
        detail::require(!path_.empty(), "CSVLogger: give the path of the CSV file to write");
    }
    const std::filesystem::path& path() const { return path_; }

    template <class C>
    void on_train_begin(C&) {
        file_.reset();
    }
    template <class C>
    void on_epoch_begin(C& c) {
        if (!file_ && c.rank == 0) open(c.first_epoch);  // one file, from rank 0
    }
    template <class C>
    void on_epoch_end(C& c) {
        if (!file_) return;
        char row[256];
        const std::size_t n = detail::csv_row(c.stats(), row);
        if (std::fwrite(row, 1, n, file_.get()) != n || std::fflush(file_.get()) != 0)
            throw IoError("CSVLogger: writing to '" + path_.string() + "' failed; check the free disk space");
    }
    template <class C>
    void on_train_end(C&) {
        file_.reset();
    }

private:
    struct Close {
        void operator()(std::FILE* f) const { std::fclose(f); }
    };
    // Resumed (first_epoch > 1): keep the header and the rows of epochs before it.
    void open(std::size_t first_epoch) {
        std::error_code ec;
        if (o_.append && first_epoch == 1 && std::filesystem::file_size(path_, ec) > 0 && !ec) {
            file_.reset(std::fopen(path_.c_str(), "ab"));
            if (!file_) throw_open_error();
            return;
        }
        std::string kept = detail::csv_header;
        if (first_epoch > 1) {
            if (std::unique_ptr<std::FILE, Close> in{std::fopen(path_.c_str(), "rb")}) {
                std::string text;
                char chunk[4096];
                for (std::size_t n; (n = std::fread(chunk, 1, sizeof chunk, in.get())) > 0;) text.append(chunk, n);
                std::size_t line = text.find('\n');  // after the header
                while (line != std::string::npos && line + 1 < text.size()) {
                    const std::size_t next = text.find('\n', line + 1);
                    if (next == std::string::npos) break;  // a partial last line: dropped
                    const std::string_view row(text.data() + line + 1, next - line);
                    std::size_t epoch = 0;
                    const auto r = std::from_chars(row.data(), row.data() + row.size(), epoch);
                    if (r.ec == std::errc{} && epoch < first_epoch) kept.append(row);
                    line = next;
                }
            }
        }
        file_.reset(std::fopen(path_.c_str(), "wb"));
        if (!file_) throw_open_error();
        if (std::fwrite(kept.data(), 1, kept.size(), file_.get()) != kept.size() || std::fflush(file_.get()) != 0)
            throw IoError("CSVLogger: writing to '" + path_.string() + "' failed; check the free disk space");
    }

    [[noreturn]] void throw_open_error() const {
        throw IoError("CSVLogger: could not open '" + path_.string() + "' for writing (" + std::strerror(errno) +
                      "); check that the directory exists and is writable");
    }

    std::filesystem::path path_;
    Options o_;
    std::unique_ptr<std::FILE, Close> file_;
};

// --- lambdas -------------------------------------------------------------------

template <class F>
struct EpochLambda {
    static constexpr const char* name = "each_epoch";
    F f;
    template <class C>
    void on_epoch_end(C& c) {
        f(c);
    }
};
template <class F>
struct BatchLambda {
    static constexpr const char* name = "each_batch";
    F f;
    template <class C>
    void on_batch_end(C& c) {
        f(c);
    }
};
/// A callback calling f(context) after each epoch (context.stats() is its row;
/// setting context.stop_training ends the run).
template <class F>
EpochLambda<std::decay_t<F>> each_epoch(F&& f) {
    return {std::forward<F>(f)};
}
/// A callback calling f(context) after each batch's optimizer step
/// (context.epoch, .batch, .batch_samples). Only such callbacks run per batch.
template <class F>
BatchLambda<std::decay_t<F>> each_batch(F&& f) {
    return {std::forward<F>(f)};
}

// --- how fit calls them ----------------------------------------------------------

namespace callback_detail {

template <class Cb, class C>
concept Callback = requires(Cb& cb, C& c) { cb.on_train_begin(c); } || requires(Cb& cb, C& c) { cb.on_epoch_begin(c); } ||
                   requires(Cb& cb, C& c) { cb.on_batch_begin(c); } || requires(Cb& cb, C& c) { cb.on_batch_end(c); } ||
                   requires(Cb& cb, C& c) { cb.on_epoch_end(c); } || requires(Cb& cb, C& c) { cb.on_train_end(c); };

template <class Cb, class C>
inline constexpr bool wants_batches =
    requires(Cb& cb, C& c) { cb.on_batch_begin(c); } || requires(Cb& cb, C& c) { cb.on_batch_end(c); };

template <class Cb>
constexpr bool sets_learning_rate() {
    if constexpr (requires { Cb::sets_learning_rate; }) return bool(Cb::sets_learning_rate);
    else return false;
}

template <class Cb>
const char* name_of() {
    if constexpr (requires { Cb::name; }) return Cb::name;
    else return "callback";
}

/// The checkpoint keys of the i-th callback: "<i>.<name>.".
template <class Cb>
std::string prefix(std::size_t i) {
    return std::to_string(i) + "." + name_of<Cb>() + ".";
}

#define TYPENET_CALLBACK_HOOK(hook)                        \
    template <class Cb, class C>                           \
    void hook(Cb& cb, C& c) {                              \
        if constexpr (requires { cb.hook(c); }) cb.hook(c); \
    }
TYPENET_CALLBACK_HOOK(on_train_begin)
TYPENET_CALLBACK_HOOK(on_epoch_begin)
TYPENET_CALLBACK_HOOK(on_batch_begin)
TYPENET_CALLBACK_HOOK(on_batch_end)
TYPENET_CALLBACK_HOOK(on_epoch_end)
TYPENET_CALLBACK_HOOK(on_train_end)
#undef TYPENET_CALLBACK_HOOK

template <class Cb, class C>
void save_state(const Cb& cb, const C& c, TrainingState<typename C::scalar>& st, std::size_t i) {
    if constexpr (requires { cb.save_state(c, st, std::string()); }) cb.save_state(c, st, prefix<Cb>(i));
}
template <class Cb, class C>
void load_state(Cb& cb, C& c, const TrainingState<typename C::scalar>& st, std::size_t i) {
    if constexpr (requires { cb.load_state(c, st, std::string()); }) cb.load_state(c, st, prefix<Cb>(i));
}

}  // namespace callback_detail
}  // namespace typenet
