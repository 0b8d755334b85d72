// typenet/train/fit.hpp - the training loop, evaluation and their options.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <memory>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <numeric>
#include <string>
#include <vector>

#include "../core/augment.hpp"
#include "../core/backend.hpp"
#include "../core/error.hpp"
#include "../core/hash_random.hpp"
#include "../core/tensor.hpp"
#include "../data/dataset.hpp"
#include "../io/checkpoint.hpp"
#include "../losses/loss.hpp"
#include "../optim/optimizer.hpp"
#include "callbacks.hpp"
#include "communicator.hpp"
#include "finite.hpp"
#include "history.hpp"
#include "progress.hpp"
#include "resident.hpp"
#include "schedules.hpp"

namespace typenet {

template <class T = float>
struct BasicFitOptions {
    std::size_t epochs = 1;
    std::size_t batch_size = 32;
    bool shuffle = true;                          // a new permutation each epoch, from the model's Rng
    const BasicDataset<T>* validation = nullptr;  // evaluated after each epoch when set
    Verbosity verbose = Verbosity::automatic;
    std::ostream* out = &std::cout;
    std::filesystem::path checkpoint_path{};  // checkpoint file written / resumed from (io/checkpoint.hpp)
    std::size_t checkpoint_every = 0;         // write a checkpoint after every N epochs; 0 = never
    bool resume = false;                      // if checkpoint_path exists: restore it, continue after its epoch
    // NaN / inf in a batch's loss or gradients: stop with a NumericalError, or
    // skip that batch. On the CPU every batch is checked (it costs one pass over
    // the gradients); on a GPU, checking each batch needs a device sync, so
    // `stop` checks when metrics are read (progress redraws, each epoch's end)
    // and only `skip_batch` checks every batch.
    OnNonFinite on_non_finite = OnNonFinite::stop;
    // Data-parallel training over a group of processes (docs/distributed.md):
    // every rank calls fit with the same network, data and options; batch_size
    // is the global batch, of which each rank computes a contiguous share, and
    // the gradients are summed over the ranks each step, so N ranks follow the
    // single-process run with the same options. Null: this process alone.
    Communicator* communicator = nullptr;
    // Transforms of the training images, drawn anew for every sample of every
    // batch on the training backend (core/augment.hpp); validation and
    // evaluate see the images as they are. Needs an image input (C, H, W).
    Augmentation augment{};
};
using FitOptions = BasicFitOptions<float>;

struct EvaluateOptions {
    std::size_t batch_size = 256;
};

namespace detail {

/// Batch buffers on the training device, allocated once per fit / evaluate.
template <class M>
struct BatchBuffers {
    using T = typename M::scalar;
    using D = typename M::device;
    Tensor<T, D> x, dout;
    Tensor<std::int32_t, D> y;
    Tensor<std::uint32_t, D> index;
    Tensor<double, D> acc;

    BatchBuffers(std::size_t batch, std::size_t dataset_size)
        : x(Dims{batch * M::input_size}), dout(Dims{batch * M::output_size}), y(Dims{batch}),
          index(Dims{dataset_size}), acc(Dims{2}) {}

    void reset_acc() { acc.zero(); }
    /// index = 0, 1, ..., n-1: the order evaluate_impl reads samples in.
    BatchBuffers& identity_order() {
        std::vector<std::uint32_t> order(index.size());
        std::iota(order.begin(), order.end(), 0u);
        index.from_host(std::span<const std::uint32_t>(order));
        return *this;
    }
    /// Reads (loss sum, correct count); on a GPU this is the one sync.
    std::pair<double, double> read(typename M::backend_type& be) {
        double h[2];
        read_accumulator(be, acc.data(), h);
        return {h[0], h[1]};
    }
};

/// Stands for "no loss given": evaluate counts correct predictions only.
struct NoLoss {};

/// Loss sum and correct count over samples [begin, end) of data, in batches;
/// buf.index must hold the identity order (BatchBuffers::identity_order), set
/// once so repeated calls allocate nothing.
template <class M, class L>
std::pair<double, double> evaluate_sums(M& model, const Resident<typename M::scalar, typename M::device>& data,
                                        const L* loss, std::size_t batch_size, BatchBuffers<M>& buf,
                                        std::size_t begin, std::size_t end) {
    using T = typename M::scalar;
    auto& be = model.backend();
    buf.reset_acc();
    for (std::size_t first = begin; first < end; first += batch_size) {
        const std::size_t n = std::min(batch_size, end - first);
        gather_rows(be, n, M::input_size, data.images(), buf.index.data() + first, buf.x.data());
        gather_labels(be, n, data.labels(), buf.index.data() + first, buf.y.data());
        const T* out = model.infer(buf.x.data(), n);
        if constexpr (std::is_same_v<L, NoLoss>)
            count_correct(be, n, M::output_size, out, buf.y.data(), buf.acc.data());
        else
            (*loss)(be, n, M::output_size, out, buf.y.data(), static_cast<T*>(nullptr), T(1), buf.acc.data());
    }
    return buf.read(be);
}

/// Metrics over the whole of data.
template <class M, class L>
Metrics evaluate_impl(M& model, const Resident<typename M::scalar, typename M::device>& data, const L* loss,
                      std::size_t batch_size, BatchBuffers<M>& buf) {
    const auto [l, c] = evaluate_sums(model, data, loss, batch_size, buf, 0, data.size());
    Metrics m;
    m.samples = data.size();
    if constexpr (!std::is_same_v<L, NoLoss>) m.loss = l / double(data.size());
    m.accuracy = c / double(data.size());
    return m;
}

/// At the start of a data-parallel fit: every rank must train the same
/// network type on data of the same size with the same options, or their
/// collectives would not match (a hang, or sums of unrelated gradients).
/// Rank 0's description goes to every rank; a rank that differs fails.
template <class M, class T>
void check_ranks_agree(Communicator& comm, const M& model, const BasicDataset<T>& train,
                       const BasicFitOptions<T>& opts) {
    std::string net;
    for (const auto& name : M::layer_names()) net += (net.empty() ? "" : ",") + name;
    const std::string mine =
        "network " + net + " (type hash " + std::to_string(fnv1a(typeid(typename M::network).name())) + ", " +
        std::to_string(M::parameter_count) + " parameters, " + std::to_string(model.buffers().size()) +
        " buffer values, " + std::to_string(sizeof(T)) + "-byte scalars), " + std::to_string(train.size()) +
        " training samples, " + std::to_string(opts.validation ? opts.validation->size() : 0) +
        " validation samples, epochs " + std::to_string(opts.epochs) + ", batch_size " +
        std::to_string(opts.batch_size) + ", shuffle " + std::to_string(opts.shuffle) + ", checkpoint_every " +
        std::to_string(opts.checkpoint_every) + ", resume " + std::to_string(opts.resume) + ", on_non_finite " +
        std::to_string(int(opts.on_non_finite));
    std::uint64_t len = mine.size();
    comm.broadcast_host(&len, sizeof len, 0);
    std::string root = comm.rank() == 0 ? mine : std::string(len, '\0');
    comm.broadcast_host(root.data(), len, 0);
    guarded(&comm, [&] {
        if (root != mine)
            throw DistributedError("fit: this rank's set-up differs from rank 0's. Rank 0: " + root +
                                   ". This rank: " + mine +
                                   ". Every rank must train the same network type on data of the same size with the "
                                   "same options.");
    });
}

}  // namespace detail

/// Loss and accuracy of the model over a dataset (no training).
template <class M, class L>
    requires Loss<L, typename M::backend_type, typename M::scalar>
Metrics evaluate(M& model, const BasicDataset<typename M::scalar>& data, const L& loss, EvaluateOptions opts = {}) {
    check_loss_fits<L, typename M::output_shape>();
    detail::check_dataset<M>(data, "evaluation");
    detail::require(opts.batch_size > 0, "evaluate: batch_size must be at least 1");
    const std::size_t bs = std::min(opts.batch_size, data.size());
    detail::Resident<typename M::scalar, typename M::device> res(data);
    detail::BatchBuffers<M> buf(bs, data.size());
    return detail::evaluate_impl(model, res, &loss, bs, buf.identity_order());
}

/// Accuracy of the model over a dataset; Metrics::loss is NaN.
template <class M>
Metrics evaluate(M& model, const BasicDataset<typename M::scalar>& data, EvaluateOptions opts = {}) {
    detail::check_dataset<M>(data, "evaluation");
    detail::require(opts.batch_size > 0, "evaluate: batch_size must be at least 1");
    const std::size_t bs = std::min(opts.batch_size, data.size());
    detail::Resident<typename M::scalar, typename M::device> res(data);
    detail::BatchBuffers<M> buf(bs, data.size());
    return detail::evaluate_impl(model, res, static_cast<const detail::NoLoss*>(nullptr), bs, buf.identity_order());
}

/// Trains the model on `train` for opts.epochs epochs of mini-batches and
/// returns the per-epoch history. The last batch of an epoch may be smaller.
/// Each step: gather batch -> forward -> loss gradient (mean over the batch)
/// -> backward -> optimizer step; metrics accumulate on the device and are
/// read once per epoch (or per redraw of a terminal progress bar).
/// With opts.checkpoint_every = k a checkpoint is written to opts.checkpoint_path
/// after every k-th epoch; with opts.resume a run restarts after the epoch of
/// that checkpoint (and returns only the epochs it trained; none if complete).
/// The optimizer is hyper-parameters; its moments and step count are the
/// model's optimizer_state(), so a second fit continues where the first ended.
/// `callbacks` (train/callbacks.hpp, train/schedules.hpp: EarlyStopping,
/// ReduceLROnPlateau, ModelCheckpoint, CSVLogger, schedules, each_epoch /
/// each_batch lambdas, or any object with the hooks) are called in the order
/// given; their state goes into the checkpoints, so resuming stays exact.
template <class M, Optimizer<M> O, class L, class... Callbacks>
    requires Loss<L, typename M::backend_type, typename M::scalar>
History fit(M& model, const O& optimizer, const L& loss, const BasicDataset<typename M::scalar>& train,
            const BasicFitOptions<typename M::scalar>& opts, Callbacks&&... callbacks) {
    using T = typename M::scalar;
    using clock = std::chrono::steady_clock;
    using Ctx = TrainingContext<M, O>;
    static_assert((callback_detail::Callback<std::remove_reference_t<Callbacks>, Ctx> && ...),
                  "fit: each callback needs at least one of on_train_begin, on_epoch_begin, on_batch_begin, "
                  "on_batch_end, on_epoch_end, on_train_end taking the TrainingContext (and must not be const)");
    constexpr std::size_t rate_setters =
        (std::size_t(0) + ... + std::size_t(callback_detail::sets_learning_rate<std::remove_cvref_t<Callbacks>>()));
    static_assert(rate_setters <= 1,
                  "fit: more than one callback sets the learning rate (schedules, ReduceLROnPlateau); the later would "
                  "undo the earlier, so attach at most one");
    static_assert(rate_setters == 0 || Ctx::schedulable,
                  "fit: a schedule needs an optimizer with base_learning_rate() that reads the rate from "
                  "OptimizerState::learning_rate (as SGD, RMSprop and Adam do)");
    constexpr bool per_batch_callbacks = (false || ... || callback_detail::wants_batches<std::remove_reference_t<Callbacks>, Ctx>);
    Communicator* const comm = opts.communicator;
    const int rank = comm ? comm->rank() : 0, ranks = comm ? comm->size() : 1;
    // With a communicator, each guarded region ends at an agreement point:
    // an error on one rank stops every rank there, with that rank's message,
    // instead of leaving the others waiting in the next collective.
    const bool augment = opts.augment.enabled();
    detail::guarded(comm, [&] {
        check_loss_fits<L, typename M::output_shape>();
        detail::check_dataset<M>(train, "training");
        if (opts.validation) detail::check_dataset<M>(*opts.validation, "validation");
        detail::require(opts.epochs >= 1, "fit: epochs must be at least 1 (got 0)");
        detail::require(opts.batch_size >= 1, "fit: batch_size must be at least 1 (got 0)");
        detail::require(opts.batch_size <= train.size(),
                        "fit: batch_size " + std::to_string(opts.batch_size) + " is larger than the training set '" +
                            train.name + "' (" + std::to_string(train.size()) + " samples); use a smaller batch");
        detail::require(opts.out != nullptr, "fit: opts.out must point to a stream (use Verbosity::silent to print nothing)");
        detail::require((opts.checkpoint_every == 0 && !opts.resume) || !opts.checkpoint_path.empty(),
                        "fit: checkpoint_every and resume need opts.checkpoint_path; set it to the checkpoint file");
        detail::require(comm == nullptr || opts.batch_size >= std::size_t(ranks), [&] {
            return "fit: batch_size " + std::to_string(opts.batch_size) + " is smaller than the number of ranks (" +
                   std::to_string(ranks) + "); batch_size is the global batch, shared by the ranks: make it at least " +
                   std::to_string(ranks);
        });
        if (augment) {
            using S = typename M::input_shape;
            detail::require(S::rank == 3, "fit: opts.augment needs an image input Input<C, H, W>, but the network's input is " +
                                              shape_string<S>() + "; leave augmentation off for flat inputs");
            if constexpr (!AugmentOps<typename M::backend_type, T>)
                throw ArgumentError(std::string("fit: opts.augment needs a backend with augment_images (AugmentOps, "
                                                "core/backend.hpp), and backend '") +
                                    M::backend_type::name + "' lacks it; leave augmentation off or implement it");
            detail::check_augmentation(opts.augment, height_of<S>, width_of<S>, "fit");
        }
    });
    if (comm) detail::check_ranks_agree(*comm, model, train, opts);
    auto& be = model.backend();
    const std::size_t N = train.size(), bs = opts.batch_size;
    const std::size_t batches = (N + bs - 1) / bs;
    History history;
    history.epochs.reserve(opts.epochs);  // no allocation from one epoch to the next
    Ctx ctx{.model = model,
            .optimizer = optimizer,
            .history = history,
            .epochs = opts.epochs,
            .batches = batches,
            .has_validation = opts.validation != nullptr,
            .log = opts.verbose == Verbosity::silent || rank != 0 ? nullptr : opts.out,
            .rank = rank,
            .ranks = ranks};
    // Checks the callbacks' settings (monitored names) before anything changes.
    detail::guarded(comm, [&] { (callback_detail::on_train_begin(callbacks, ctx), ...); });

    // Resuming restores weights, optimizer state, the Rng and the callbacks'
    // state as they were after the saved epoch, so the remaining epochs repeat
    // the uninterrupted run's. With several ranks, each reads the same file
    // (so it must be on a filesystem they share), and they must agree on it.
    std::size_t first_epoch = 1;
    bool have_checkpoint = opts.resume && std::filesystem::exists(opts.checkpoint_path);
    if (comm && opts.resume) {
        bool root_has = have_checkpoint;
        comm->broadcast_host(&root_has, sizeof root_has, 0);
        detail::guarded(comm, [&] {
            if (root_has && !have_checkpoint)
                throw IoError("fit: resume: rank 0 resumes from '" + opts.checkpoint_path.string() +
                              "' but this rank cannot see that file; put checkpoint_path on a filesystem every rank "
                              "shares");
        });
        have_checkpoint = root_has;
    }
    detail::guarded(comm, [&] {
        if (!have_checkpoint) return;
        const SafetensorsReader file(opts.checkpoint_path);
        [[maybe_unused]] const auto training = read_training_state<T>(file);
        [[maybe_unused]] std::size_t i = 0;
        (callback_detail::load_state(callbacks, ctx, training, i++), ...);
        // (A damaged count near 2^64 must not wrap around to epoch 0.)
        const std::size_t done = load_checkpoint(file, model, optimizer);
        first_epoch = done >= opts.epochs ? opts.epochs + 1 : done + 1;
    });
    if (comm) {
        // The ranks start from rank 0's weights and BatchNorm statistics, and
        // check that they resumed from the same epoch.
        comm->broadcast(model.parameters().data(), M::parameter_count * sizeof(T), 0);
        if (!model.buffer_segments().empty()) comm->broadcast(model.buffers().data(), model.buffers().size() * sizeof(T), 0);
        double e[2] = {double(first_epoch), -double(first_epoch)};
        comm->allreduce_host(e, 2, ReduceOp::min);
        if (e[0] != -e[1])
            throw DistributedError("fit: resume: the ranks read checkpoints of different epochs (" +
                                   std::to_string(std::size_t(e[0]) - 1) + " to " + std::to_string(std::size_t(-e[1]) - 1) +
                                   ") from '" + opts.checkpoint_path.string() +
                                   "'; every rank must read the same file (one shared path)");
    }
    ctx.first_epoch = first_epoch;
    // Claimed now, not at the first step, so that a rate a schedule sets
    // before it is not dropped by the claim.
    model.optimizer_state().claim(O::name, O::state_slots);
    double last_rate = std::nan("");  // the learning rate of the latest step, if the optimizer tells
    constexpr bool knows_rate = requires { optimizer.learning_rate(model.optimizer_state()); };
    detail::Resident<T, typename M::device> data(train);
    detail::BatchBuffers<M> buf(bs, N);
    // With augmentation a batch is gathered here, then warped into buf.x.
    Tensor<T, typename M::device> unaugmented;
    if (augment) unaugmented.resize(Dims{bs * M::input_size});
    std::unique_ptr<detail::Resident<T, typename M::device>> val;
    std::unique_ptr<detail::BatchBuffers<M>> val_buf;
    const std::size_t val_bs = opts.validation ? std::min<std::size_t>(std::max<std::size_t>(bs, 256), opts.validation->size()) : 0;
    if (opts.validation) {
        val = std::make_unique<detail::Resident<T, typename M::device>>(*opts.validation);
        val_buf = std::make_unique<detail::BatchBuffers<M>>(val_bs, opts.validation->size());
        val_buf->identity_order();
    }
    model.reserve(std::max(bs, val_bs));

    std::vector<std::uint32_t> perm(N);
    std::iota(perm.begin(), perm.end(), 0u);
    Progress progress(rank == 0 ? opts.verbose : Verbosity::silent, *opts.out, opts.epochs);
    if constexpr (requires { be.description(); })
        progress.describe(be.description());
#if (defined(__GNUC__) || defined(__clang__)) && !defined(__OPTIMIZE__)
    // typenet's CPU kernels are compiled at -O3 regardless (GCC), the rest
    // (and Eigen) is not: the reference CNN's epoch took 25 s here, 2 s at -O2.
    progress.describe(
        "warning: compiled without optimization (-O0): training runs about 10x slower than at -O2; build with "
        "-DCMAKE_BUILD_TYPE=Release (or pass -O2)");
#endif
    if (comm) progress.describe("data-parallel over " + comm->description() + ", global batch " + std::to_string(bs));

    // Where the accumulators are host memory, checking each batch is free.
    // Several ranks must agree on each batch anyway, so they check each one.
    const bool check_each_batch =
        is_host_memory<typename M::device> || opts.on_non_finite == OnNonFinite::skip_batch || comm != nullptr;
    // A skipped batch must not leave its trace in BatchNorm's running
    // statistics either, so skip mode keeps a copy of them from before each batch.
    Tensor<T, typename M::device> buffers_before;
    const bool keep_buffers = opts.on_non_finite == OnNonFinite::skip_batch && !model.buffer_segments().empty();
    if (keep_buffers) buffers_before.resize(model.buffers().dims());
    const auto non_finite = [&](std::size_t epoch, std::size_t batch, const char* when) {
        std::string msg = "fit: the training loss or gradients became non-finite (NaN or inf) in epoch " +
                          std::to_string(epoch) + ", batch " + std::to_string(batch) + when + ": " +
                          detail::locate_non_finite(model, buf.x.data(), model.last_batch()) +
                          ". Lower the learning rate, check the data, or set on_non_finite = OnNonFinite::skip_batch.";
        if (!opts.checkpoint_path.empty() && std::filesystem::exists(opts.checkpoint_path))
            msg += " The last checkpoint, '" + opts.checkpoint_path.string() +
                   "', was written before this and is intact; resume from it (resume = true).";
        return NumericalError(msg);
    };

    std::uint64_t augment_seed = 0;
    // Samples [offset, offset + count) of batch b (which starts at `first` in
    // the epoch's order) into buf.x / buf.y, augmented as that batch's
    // samples offset.. would be, so a rank's share gets the transforms the
    // single-process batch gives them.
    auto load_batch = [&](std::size_t b, std::size_t first, std::size_t offset, std::size_t count) {
        const std::uint32_t* index = buf.index.data() + first + offset;
        if (augment) {
            gather_rows(be, count, M::input_size, data.images(), index, unaugmented.data());
            if constexpr (AugmentOps<typename M::backend_type, T>) {
                using S = typename M::input_shape;
                augment_images(be, count, channels_of<S>, height_of<S>, width_of<S>, unaugmented.data(), buf.x.data(),
                               opts.augment, hash_bits(augment_seed, b), offset);
            }
        } else {
            gather_rows(be, count, M::input_size, data.images(), index, buf.x.data());
        }
        gather_labels(be, count, data.labels(), index, buf.y.data());
    };
    // Forward and loss over those samples, the gradient scaled by 1 / n (the
    // whole batch's count, also with several ranks).
    auto forward_loss = [&](std::size_t b, std::size_t first, std::size_t offset, std::size_t count, std::size_t n) {
        load_batch(b, first, offset, count);
        if (keep_buffers) copy_values(be, model.buffers().size(), model.buffers().data(), buffers_before.data());
        const T* out = model.forward(buf.x.data(), count, true);
        loss(be, count, M::output_size, out, buf.y.data(), buf.dout.data(), T(1) / T(n), buf.acc.data());
    };
    // Reads the accumulator into now; backward only when the loss is finite;
    // false when the loss or a gradient is not.
    auto backward_checked = [&](double* now) {
        read_accumulator(be, buf.acc.data(), now);
        if (!std::isfinite(now[0])) return false;
        model.backward(buf.dout.data());
        return all_finite(be, M::parameter_count, model.gradients().data());
    };
    for (std::size_t epoch = first_epoch; epoch <= opts.epochs && !ctx.stop_training; ++epoch) {
        ctx.epoch = epoch;
        detail::guarded(comm, [&] { (callback_detail::on_epoch_begin(callbacks, ctx), ...); });
        if (comm) {
            // Every rank shuffles with rank 0's generator, so all take their
            // shares of the same batches; rank 0's stream is the one a
            // checkpoint keeps.
            Rng::State st = model.rng().state();
            comm->broadcast_host(st.data(), sizeof st, 0);
            model.rng().set_state(st);
        }
        // Each epoch's order depends on the Rng state alone (not on the last
        // epoch's order), so a checkpoint's Rng state is enough to resume.
        std::iota(perm.begin(), perm.end(), 0u);
        if (opts.shuffle) model.rng().shuffle(std::span<std::uint32_t>(perm));
        // One draw per epoch, after the shuffle and only when augmenting (the
        // Rng stream without augmentation stays as it was); batch b's seed is
        // hash_bits(epoch seed, b), so a resumed run draws the same transforms.
        // Drawn before the other ranks reseed, so every rank has the same.
        augment_seed = augment ? model.rng().next() : 0;
        // The other ranks draw their dropout masks from streams of their own.
        if (comm && rank > 0) model.rng().reseed(model.rng().state()[0] ^ (0x9e3779b97f4a7c15ULL * std::uint64_t(rank)));
        buf.index.from_host(std::span<const std::uint32_t>(perm));
        buf.reset_acc();
        progress.start_epoch(epoch, batches);
        const auto t0 = clock::now();
        std::size_t seen = 0, skipped = 0, skipped_samples = 0;
        double before[2] = {0.0, 0.0};  // the accumulator before the current batch
        for (std::size_t b = 0; b < batches; ++b) {
            const std::size_t first = b * bs, n = std::min(bs, N - first);
            if (comm) {
                // This rank's contiguous share [lo, lo + mine) of the global
                // batch. The loss gradient is scaled by 1/n, the global batch,
                // so the sum over the ranks is the global mean, also for a
                // short last batch.
                const std::size_t q = n / std::size_t(ranks), extra = n % std::size_t(ranks), r = std::size_t(rank);
                const std::size_t mine = q + (r < extra ? 1 : 0), lo = first + r * q + std::min(r, extra);
                double bad = 0.0;  // -1: this rank's share was non-finite (skip_batch)
                double now[2] = {before[0], before[1]};
                const double any_bad = detail::guarded(comm, [&] {
                    if constexpr (per_batch_callbacks) {
                        ctx.batch = b;
                        ctx.batch_samples = n;
                        (callback_detail::on_batch_begin(callbacks, ctx), ...);
                    }
                    if (mine == 0) {
                        model.gradients().zero();  // a batch shorter than the ranks: nothing to add
                        return;
                    }
                    forward_loss(b, first, lo - first, mine, n);
                    if (!backward_checked(now)) {
                        if (opts.on_non_finite == OnNonFinite::stop) throw non_finite(epoch, b + 1, "");
                        bad = -1.0;
                    }
                }, &bad);
                if (any_bad < 0) {
                    // Some rank's share was non-finite: every rank skips the batch.
                    buf.acc.from_host(std::span<const double>(before, 2));
                    if (keep_buffers && mine > 0)
                        copy_values(be, model.buffers().size(), buffers_before.data(), model.buffers().data());
                    ++skipped;
                    skipped_samples += n;
                    continue;
                }
                before[0] = now[0];
                before[1] = now[1];
                comm->allreduce_sum(model.gradients().data(), M::parameter_count);
                if constexpr (knows_rate) last_rate = optimizer.learning_rate(model.optimizer_state());
                optimizer.step(model);
                seen += mine;
                if constexpr (per_batch_callbacks)
                    detail::guarded(comm, [&] { (callback_detail::on_batch_end(callbacks, ctx), ...); });
                // Rank 0's running figures (its share); the epoch's line is over all ranks.
                if (progress.due(b + 1)) {
                    const auto [l, c] = buf.read(be);
                    progress.update(b + 1, l / double(std::max<std::size_t>(seen, 1)),
                                    c / double(std::max<std::size_t>(seen, 1)), last_rate);
                }
                continue;
            }
            if constexpr (per_batch_callbacks) {
                ctx.batch = b;
                ctx.batch_samples = n;
                (callback_detail::on_batch_begin(callbacks, ctx), ...);
            }
            forward_loss(b, first, 0, n, n);
            if (check_each_batch) {
                double now[2];
                if (!backward_checked(now)) {
                    if (opts.on_non_finite == OnNonFinite::stop) throw non_finite(epoch, b + 1, "");
                    // Skip: the weights are untouched (no step), the batch's
                    // loss and hits leave the epoch's metrics.
                    buf.acc.from_host(std::span<const double>(before, 2));
                    if (keep_buffers) copy_values(be, model.buffers().size(), buffers_before.data(), model.buffers().data());
                    ++skipped;
                    skipped_samples += n;
                    continue;
                }
                before[0] = now[0];
                before[1] = now[1];
            } else {
                model.backward(buf.dout.data());
            }
            if constexpr (knows_rate) last_rate = optimizer.learning_rate(model.optimizer_state());
            optimizer.step(model);
            seen += n;
            if constexpr (per_batch_callbacks) (callback_detail::on_batch_end(callbacks, ctx), ...);
            if (progress.due(b + 1)) {
                const auto [l, c] = buf.read(be);
                if (!std::isfinite(l)) throw non_finite(epoch, b + 1, " (or in one of the batches before it since the last check)");
                progress.update(b + 1, l / double(seen), c / double(seen), last_rate);
            }
        }
        // (With several ranks, `skipped` is the same on each: they agreed on every skip.)
        if (skipped == batches)
            throw NumericalError("fit: every batch of epoch " + std::to_string(epoch) +
                                 " had a non-finite loss or gradient and was skipped; lower the learning rate or check "
                                 "the data for NaN/inf");
        auto [l, c] = buf.read(be);
        EpochStats s;
        s.epoch = epoch;
        s.seconds = std::chrono::duration<double>(clock::now() - t0).count();
        double vl = 0.0, vc = 0.0;
        if (comm) {
            // BatchNorm's running statistics follow rank 0's shares (as with
            // PyTorch DDP's broadcast_buffers), so every rank validates and
            // saves the same model.
            if (!model.buffer_segments().empty())
                comm->broadcast(model.buffers().data(), model.buffers().size() * sizeof(T), 0);
            // Each rank validates a contiguous shard; the sums are added up.
            detail::guarded(comm, [&] {
                if (!val) return;
                const std::size_t V = opts.validation->size(), r = std::size_t(rank), R = std::size_t(ranks);
                std::tie(vl, vc) = detail::evaluate_sums(model, *val, &loss, val_bs, *val_buf, V * r / R, V * (r + 1) / R);
            });
            double sums[4] = {l, c, vl, vc};
            comm->allreduce_host(sums, 4, ReduceOp::sum);
            l = sums[0], c = sums[1], vl = sums[2], vc = sums[3];
            comm->allreduce_host(&s.seconds, 1, ReduceOp::max);  // the slowest rank's time is the epoch's
        }
        if (!std::isfinite(l)) throw non_finite(epoch, batches, " (or in one of the batches before it since the last check)");
        s.loss = l / double(N - skipped_samples);
        s.accuracy = c / double(N - skipped_samples);
        s.skipped_batches = skipped;
        s.learning_rate = last_rate;
        if (val) {
            if (comm) {
                s.val_loss = vl / double(opts.validation->size());
                s.val_accuracy = vc / double(opts.validation->size());
            } else {
                const Metrics vm = detail::evaluate_impl(model, *val, &loss, val_bs, *val_buf);
                s.val_loss = vm.loss;
                s.val_accuracy = vm.accuracy;
            }
        }
        history.epochs.push_back(s);
        progress.end_epoch(s);
        // Every rank's callbacks see the same reduced figures and so decide
        // alike; a stop on any rank stops all of them.
        double stop = 0.0;
        const double any_stop = detail::guarded(comm, [&] {
            (callback_detail::on_epoch_end(callbacks, ctx), ...);
            // After the callbacks, so that what they changed (a reduced rate, a
            // best value, a stop) is part of the checkpoint. Rank 0 writes it.
            if (rank == 0 && opts.checkpoint_every > 0 && epoch % opts.checkpoint_every == 0) {
                TrainingState<T> training;
                [[maybe_unused]] std::size_t i = 0;
                (callback_detail::save_state(callbacks, ctx, training, i++), ...);
                save_checkpoint(opts.checkpoint_path, model, optimizer, epoch, training);
            }
            stop = ctx.stop_training ? -1.0 : 0.0;
        }, &stop);
        if (any_stop < 0) ctx.stop_training = true;
    }
    detail::guarded(comm, [&] { (callback_detail::on_train_end(callbacks, ctx), ...); });
    return history;
}

}  // namespace typenet
