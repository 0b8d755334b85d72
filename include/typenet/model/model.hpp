// typenet/model/model.hpp - a network type instantiated on a backend.
//
// Model<Net, Backend, T> owns, on the backend's device:
//   - every trainable parameter in one flat buffer (and their gradients in a
//     second one), so an optimizer step is one pass and a checkpoint one copy;
//   - the non-trainable buffers (BatchNorm running statistics);
//   - the optimizer's state (optim/state.hpp): moments and step count;
//   - activations, gradients, scratch and workspace, sized once per batch
//     capacity and reused, so the training loop does not allocate.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/backend.hpp"
#include "../core/error.hpp"
#include "../core/random.hpp"
#include "../core/tensor.hpp"
#include "../optim/state.hpp"
#include "sequential.hpp"

namespace typenet {

/// Where one named parameter tensor lives in the flat parameter buffer.
struct ParamSegment {
    std::string name;  // "0.weight" - index in the Sequential, PyTorch style
    Dims dims;
    std::size_t offset = 0;
    std::size_t size = 0;
    bool regularized = false;
    std::size_t layer = 0;
};

namespace model_detail {
template <class Net, std::size_t... I>
constexpr OpFamily ops_of(std::index_sequence<I...>) {
    return (OpFamily::none | ... | Net::template layer<I>::ops);
}
template <class Net, class B, class T, std::size_t... I>
constexpr bool layers_run_on(std::index_sequence<I...>) {
    return (LayerRunsOn<typename Net::template layer<I>, B, T> && ...);
}
}  // namespace model_detail

/// Net on backend B (default: Cpu, the CPU backend, whose header
/// typenet.hpp includes) with scalars T. B must implement the op families
/// Net's layers use; the static_asserts below name any it lacks.
template <class Net, class B = Cpu, class T = float>
class Model {
    static constexpr OpFamily net_ops = model_detail::ops_of<Net>(std::make_index_sequence<Net::layer_count>{});
    static_assert(BackendObject<B>, "Model<Net, B>: B is not a backend object (BackendObject in core/backend.hpp: "
                                    "B::device, B::name and synchronize())");
    template <OpFamily F, bool Has>
    static constexpr bool family_ok = !uses(net_ops, F) || Has;
    static constexpr bool gemm_ok = family_ok<OpFamily::gemm, GemmOps<B, T>>;
    static constexpr bool elementwise_ok = family_ok<OpFamily::elementwise, ElementwiseOps<B, T>>;
    static constexpr bool convolution_ok = family_ok<OpFamily::convolution, ConvolutionOps<B, T>>;
    static constexpr bool pooling_ok = family_ok<OpFamily::pooling, PoolingOps<B, T>>;
    static constexpr bool normalization_ok = family_ok<OpFamily::normalization, NormalizationOps<B, T>>;
    static constexpr bool dropout_ok = family_ok<OpFamily::dropout, DropoutOps<B, T>>;
    static_assert(gemm_ok, "Model<Net, B>: Net has a Dense layer but backend B does not satisfy GemmOps (core/backend.hpp: "
                           "gemm and linear_forward)");
    static_assert(elementwise_ok, "Model<Net, B>: Net's layers need ElementwiseOps (core/backend.hpp: bias, activations, "
                                  "softmax, all_finite), which backend B does not satisfy");
    static_assert(convolution_ok, "Model<Net, B>: Net has a convolution layer but backend B does not satisfy ConvolutionOps "
                                  "(core/backend.hpp): implement conv2d_workspace, conv2d_forward, "
                                  "conv2d_backward_data and conv2d_backward_filter for it");
    static_assert(pooling_ok,
                  "Model<Net, B>: Net has a pooling layer but backend B does not satisfy PoolingOps (core/backend.hpp)");
    static_assert(normalization_ok, "Model<Net, B>: Net has a BatchNorm layer but backend B does not satisfy "
                                    "NormalizationOps (core/backend.hpp)");
    static_assert(dropout_ok,
                  "Model<Net, B>: Net has a Dropout layer but backend B does not satisfy DropoutOps (core/backend.hpp)");
    static_assert(BatchOps<B, T>, "Model<Net, B>: backend B does not satisfy BatchOps (core/backend.hpp: gather_rows, "
                                  "gather_labels, copy_values, read_accumulator), which Model and fit use");
    // Only once every declared family is there: then a failure means a layer's BL::ops is incomplete.
    static_assert(!(gemm_ok && elementwise_ok && convolution_ok && pooling_ok && normalization_ok && dropout_ok) ||
                      model_detail::layers_run_on<Net, B, T>(std::make_index_sequence<Net::layer_count>{}),
                  "Model<Net, B>: a layer's forward / backward does not resolve on backend B although B has the op "
                  "families the layer declares in BL::ops; the layer's ops list is incomplete");

public:
    using network = Net;
    using backend_type = B;
    using device = typename B::device;
    using scalar = T;
    using input_shape = typename Net::input_shape;
    using output_shape = typename Net::output_shape;
    static constexpr std::size_t layer_count = Net::layer_count;
    static constexpr std::size_t parameter_count = Net::parameter_count;
    static constexpr std::size_t input_size = input_shape::size;
    static constexpr std::size_t output_size = output_shape::size;

    /// Builds the network, initialising weights from `seed`.
    explicit Model(std::uint64_t seed = 0, B backend = B{}) : be_(std::move(backend)), rng_(seed), opt_state_(parameter_count) {
        params_.resize(Dims{std::max<std::size_t>(parameter_count, 1)});
        grads_.resize(Dims{std::max<std::size_t>(parameter_count, 1)});
        buffers_.resize(Dims{std::max<std::size_t>(buffer_total, 1)});
        build_segments();
        initialize(seed);
    }

    B& backend() { return be_; }
    const B& backend() const { return be_; }
    Rng& rng() { return rng_; }

    /// Re-draws all weights from `seed` (biases zero, buffers to defaults),
    /// resets the generator to that seed and the optimizer state, as a
    /// freshly built model.
    void initialize(std::uint64_t seed) {
        rng_.reseed(seed);
        std::vector<T> host(std::max<std::size_t>(parameter_count, 1), T(0));
        std::vector<T> bufs(std::max<std::size_t>(buffer_total, 1), T(0));
        for_each_layer([&]<std::size_t I, class BL>() {
            if constexpr (BL::parameter_count > 0)
                BL::initialize(rng_, std::span<T>(host).subspan(param_offset[I], BL::parameter_count));
            if constexpr (BL::buffer_count > 0)
                BL::initialize_buffers(std::span<T>(bufs).subspan(buffer_offset[I], BL::buffer_count));
        });
        params_.from_host(host);
        buffers_.from_host(bufs);
        grads_.zero();
        opt_state_.reset();
    }

    // --- parameters ---------------------------------------------------------
    Tensor<T, device>& parameters() { return params_; }
    const Tensor<T, device>& parameters() const { return params_; }
    Tensor<T, device>& gradients() { return grads_; }
    Tensor<T, device>& buffers() { return buffers_; }
    const Tensor<T, device>& buffers() const { return buffers_; }
    const std::vector<ParamSegment>& segments() const { return segments_; }
    const std::vector<ParamSegment>& buffer_segments() const { return buffer_segments_; }

    /// The optimizer's state on this model - owner, step count, moments - the
    /// one place it lives (optim/state.hpp). An optimizer's step claims it.
    OptimizerState<T, device>& optimizer_state() { return opt_state_; }
    const OptimizerState<T, device>& optimizer_state() const { return opt_state_; }

    // --- propagation --------------------------------------------------------

    /// Makes room for batches of up to n samples (allocates only when n grows).
    void reserve(std::size_t n) {
        if (n <= capacity_) return;
        for_each_layer([&]<std::size_t I, class BL>() {
            act_[I].resize(batch_dims<typename BL::output_shape>(n));
            workspace_need_ = std::max(workspace_need_, BL::workspace(be_, n));
        });
        grad_[0].resize(Dims{n * max_activation});
        grad_[1].resize(Dims{n * max_activation});
        scratch_.resize(Dims{std::max<std::size_t>(n * scratch_total, 1)});
        index_scratch_.resize(Dims{std::max<std::size_t>(n * index_scratch_total, 1)});
        workspace_.resize(Dims{std::max<std::size_t>(workspace_need_, 1)});
        capacity_ = n;
    }
    std::size_t capacity() const { return capacity_; }

    /// Runs the network on n samples at x (device memory, (n, input_shape...)).
    /// Returns the output, (n, output_size), valid until the next forward.
    /// With training false no layer is fused, so that layer_output(i) is
    /// each layer's own output; infer() is the fast inference forward.
    const T* forward(const T* x, std::size_t n, bool training) {
        return run_forward(x, n, training, training && fusion_, "Model::forward");
    }

    /// An inference forward (Dropout passes values through, BatchNorm uses
    /// its running statistics, as forward(x, n, false)) through the fused
    /// ops of a training forward when fusion is on (see set_fusion): the
    /// same outputs bit for bit, without storing each convolution's whole
    /// output and reading it back for its ReLU and pooling. evaluate,
    /// predict and fit's validation run it. Afterwards layer_output(i) is as
    /// after a fused training forward.
    const T* infer(const T* x, std::size_t n) { return run_forward(x, n, false, fusion_, "Model::infer"); }

private:
    const T* run_forward(const T* x, std::size_t n, bool training, bool fused, const char* who) {
        detail::require(n > 0, [&] { return std::string(who) + ": the batch is empty (n = 0)"; });
        reserve(n);
        input_ = x;
        n_ = n;
        training_ = training;
        fused_ = fused;
        pending_.fill(false);
        for_each_layer([&]<std::size_t I, class BL>() {
            if (BL::passes_through(training) || (absorbed<I> && fused_)) {
                out_[I] = layer_input<I>();
                return;
            }
            out_[I] = act_[I].data();
            if constexpr (pooled_by_conv<I>)
                if (fused_) return;  // the Conv2D two layers back wrote it
            auto io = make_io<I, BL>();
            io.fuse_relu = fuses_next<I> && fused_;
            if constexpr (fuses_pool<I>)
                if (fused_) {
                    using PL = layer<I + 2>;
                    auto pool = make_io<I + 2, PL>();
                    if (!BL::forward_relu_maxpool(io, PL::geometry(n_), pool.y, pool.index_scratch))
                        pending_[I] = true;  // its output (its ReLU's too: see pending) not stored
                    return;
                }
            BL::forward(io);
        });
        return out_[layer_count - 1];
    }

public:
    /// Back-propagates dout ((n, output_size), the loss gradient of the last
    /// forward's output), writing parameter gradients; also the input
    /// gradient into dinput when it is not null.
    void backward(const T* dout, T* dinput = nullptr) { backward_from(layer_count - 1, dout, dinput); }

    /// Back-propagates from inside the network: d_layer_output ((n, output of
    /// layer `layer_index`...), device memory) is the gradient of some scalar
    /// with respect to that layer's output in the last forward; layers after
    /// it are skipped. Used to ask what input excites an inner feature map
    /// (viz/maximize.hpp). Side effect: overwrites the parameter gradients of
    /// layers 0..layer_index, as backward does for all layers.
    void backward_from(std::size_t layer_index, const T* d_layer_output, T* dinput = nullptr) {
        TYPENET_ASSERT(input_ != nullptr);
        check_layer(layer_index, "backward_from");
        restore_output(layer_index);  // a ReLU's backward reads its output
        // A fused Conv2D, ReLU, MaxPool2D runs its backward as one op from
        // the pooling's gradient: with ConvPoolBackwardOps any of them, else
        // a first one whose input needs no gradient (backward-filter only).
        std::array<bool, layer_count> pool_backward{};
        for_each_layer([&]<std::size_t I, class BL>() {
            if constexpr (fuses_pool<I>)
                pool_backward[I] =
                    fused_ && layer_index >= I + 2 && (ConvPoolBackwardOps<B, T> || (I == 0 && !dinput));
        });
        const T* dy = d_layer_output;
        for_each_layer_reverse([&]<std::size_t I, class BL>() {
            if constexpr (I > 0)  // (I = 0 is never skipped; nvcc warns on `0 > unsigned`)
                if (I > layer_index) return;
            if constexpr (fuses_pool<I>)
                if (pool_backward[I]) {
                    using PL = layer<I + 2>;
                    auto io = make_io<I, BL>();
                    auto pool = make_io<I + 2, PL>();
                    io.dy = dy;  // the pooling's output gradient, handed on by it and the ReLU
                    io.dx = (I == 0) ? dinput : free_grad(dy);
                    // Scratch for the shapes the backend runs as the three ops:
                    // past layer 0 this layer's output buffer (recomputed on request).
                    T* conv_dy = (I == 0) ? free_grad(dy) : act_[I].data();
                    BL::backward_relu_maxpool(io, PL::geometry(n_), pool.y, pool.index_scratch, conv_dy);
                    if constexpr (I > 0) pending_[I] = true;
                    dy = io.dx;
                    return;
                }
            if constexpr (pooled_by_conv<I>)
                if (pool_backward[I - 2]) return;  // the Conv2D two layers back does its backward
            // A ReLU whose backward the next layer did (folded<I>) hands dy on too.
            bool folded_now = false;
            if constexpr (folded<I>) folded_now = fused_ && I < layer_index;
            if (BL::passes_through(training_) || folded_now) {  // dx = dy: hand the pointer back
                if constexpr (I == 0)
                    if (dinput) copy_values(be_, n_ * input_size, dy, dinput);
                return;
            }
            auto io = make_io<I, BL>();
            if constexpr (absorbed<I>)
                if (fused_) io.y = act_[I - 1].data();  // the fused layer's output is this ReLU's
            if constexpr (folds_previous<I>) io.relu_mask = fused_;
            io.dy = dy;
            io.dx = (I == 0) ? dinput : free_grad(dy);
            BL::backward(io);
            dy = io.dx;
        });
    }

    /// Layer fusion (default on): in training passes, a Conv2D or Dense
    /// followed by ReLU runs as one op (the ReLU in the product's store); a
    /// Conv2D, ReLU, MaxPool2D runs as one op where the backend has it
    /// (ConvPoolFusionOps: the CPU pools each image's output while it is in
    /// cache and may not store the convolution's; also in backward, from the
    /// pooling's gradient: the whole backward with ConvPoolBackwardOps, a
    /// first layer's backward-filter, whose input needs no gradient, with
    /// any such backend); and a
    /// MaxPool2D after a ReLU does the ReLU's backward in its own (only where
    /// a gradient arrives). In inference, infer() fuses the forward the same
    /// way; forward(x, n, false) never fuses, so layer_output(i) after it is
    /// each layer's own output. Turning it off gives the layer-by-layer
    /// reference, bit-identical but for the CPU's float pooled backwards
    /// with at most 16 taps (a first layer's) or many taps over whole
    /// vectors of channels (conv2's), which sum only the pooling's argmax
    /// positions (those gradients, and the earlier layers', agree to
    /// rounding).
    void set_fusion(bool on) { fusion_ = on; }
    bool fusion() const { return fusion_; }

    /// Output of layer i of the last forward, (n, layer output...). After a
    /// training forward with fusion on, a layer whose ReLU was fused into it
    /// shows the ReLU's output; one whose output the fused pooling did not
    /// store is recomputed here (bit for bit, from the last forward's input,
    /// which must still be valid).
    TensorView<const T, device> layer_output(std::size_t i) {
        check_layer(i, "layer_output");
        restore_output(i);
        return std::as_const(*this).layer_output(i);
    }
    /// As above, on a const Model: it cannot recompute, so a layer output a
    /// fused pooling did not store is an error here.
    TensorView<const T, device> layer_output(std::size_t i) const {
        check_layer(i, "layer_output");
        if (pending(i))
            throw ArgumentError("Model::layer_output: layer " + std::to_string(i) +
                                "'s output was fused away in the last training forward or infer() (Conv2D, "
                                "ReLU, MaxPool2D as one op); call layer_output on a non-const Model, which "
                                "recomputes it, or use set_fusion(false)");
        Dims d = act_[i].dims();
        d[0] = n_;
        return {out_[i], d};
    }
    std::size_t last_batch() const { return n_; }

    /// Names of the layers, in order ("Dense<70>", "ReLU", ...).
    static std::vector<std::string> layer_names() {
        std::vector<std::string> v;
        for_each_layer([&]<std::size_t I, class BL>() { v.push_back(BL::name()); });
        return v;
    }

    // --- compile-time layout tables ----------------------------------------
    template <std::size_t I>
    using layer = typename Net::template layer<I>;

    template <class F>
    static void for_each_layer(F&& f) {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (f.template operator()<I, layer<I>>(), ...);
        }(std::make_index_sequence<layer_count>{});
    }
    template <class F>
    static void for_each_layer_reverse(F&& f) {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            (f.template operator()<layer_count - 1 - I, layer<layer_count - 1 - I>>(), ...);
        }(std::make_index_sequence<layer_count>{});
    }

private:
    // get takes the layer as std::type_identity<BL>: a lambda whose template
    // parameter appears in no function parameter draws a warning from nvcc.
    template <class Get>
    static constexpr std::array<std::size_t, layer_count + 1> prefix(Get get) {
        std::array<std::size_t, layer_count + 1> r{};
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((r[I + 1] = r[I] + get(std::type_identity<layer<I>>{})), ...);
        }(std::make_index_sequence<layer_count>{});
        return r;
    }
    static constexpr auto param_offset = prefix([]<class BL>(std::type_identity<BL>) { return BL::parameter_count; });
    static constexpr auto buffer_offset = prefix([]<class BL>(std::type_identity<BL>) { return BL::buffer_count; });
    static constexpr auto scratch_offset = prefix([]<class BL>(std::type_identity<BL>) { return BL::scratch_per_sample; });
    static constexpr auto index_scratch_offset = prefix([]<class BL>(std::type_identity<BL>) { return BL::index_scratch_per_sample; });
    static constexpr std::size_t buffer_total = buffer_offset[layer_count];
    static constexpr std::size_t scratch_total = scratch_offset[layer_count];
    static constexpr std::size_t index_scratch_total = index_scratch_offset[layer_count];
    static constexpr std::size_t max_activation = [] {
        std::size_t m = input_size;
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((m = std::max(m, layer<I>::output_shape::size)), ...);
        }(std::make_index_sequence<layer_count>{});
        return m;
    }();

    // Layer I absorbs the ReLU at I + 1 (fuses_next), which then passes
    // through in forward (absorbed). A ReLU at I whose backward layer I + 1
    // does (folded) passes through in backward.
    template <std::size_t I>
    static constexpr bool fuses_next = [] {
        if constexpr (I + 1 < layer_count) return fuses_relu<layer<I>> && is_relu_layer<layer<I + 1>>;
        else return false;
    }();
    template <std::size_t I>
    static constexpr bool absorbed = [] {
        if constexpr (I > 0) return fuses_next<I - 1>;
        else return false;
    }();

    // Layer I (a Conv2D) also runs the ReLU at I + 1 and the MaxPool2D at
    // I + 2 when the backend has the op (fuses_pool); that pooling then
    // does nothing in forward (pooled_by_conv).
    template <std::size_t I>
    static constexpr bool fuses_pool = [] {
        if constexpr (I + 2 < layer_count)
            return fuses_next<I> && fuses_relu_maxpool<layer<I>> && is_max_pool_layer<layer<I + 2>> &&
                   ConvPoolFusionOps<B, T>;
        else return false;
    }();
    template <std::size_t I>
    static constexpr bool pooled_by_conv = [] {
        if constexpr (I > 1) return fuses_pool<I - 2>;
        else return false;
    }();

    // Whether layer i's output was not stored by the last forward. A fused
    // pooling's ReLU hands on its Conv2D's buffer, so it reads the Conv2D's
    // flag: flag_of[i] is the layer whose flag layer i reads. (A table, not
    // i - 1, and the bound again: GCC's -Warray-bounds sees neither the
    // table's contents nor that check_layer throws.)
    static constexpr auto flag_of = []<std::size_t... I>(std::index_sequence<I...>) {
        return std::array<std::size_t, layer_count>{(pooled_by_conv<I + 1> ? I - 1 : I)...};
    }(std::make_index_sequence<layer_count>{});
    bool pending(std::size_t i) const { return i < layer_count && pending_[flag_of[i]]; }

    template <std::size_t I>
    static constexpr bool folded = [] {
        if constexpr (I + 1 < layer_count) return is_relu_layer<layer<I>> && folds_relu_backward<layer<I + 1>>;
        else return false;
    }();
    template <std::size_t I>
    static constexpr bool folds_previous = [] {
        if constexpr (I > 0) return folded<I - 1>;
        else return false;
    }();

    // (Not require(): backward_from is on the training path, no message built there.)
    void check_layer(std::size_t i, const char* what) const {
        if (i >= layer_count)
            throw ArgumentError(std::string("Model::") + what + ": layer " + std::to_string(i) +
                                " does not exist (the network has " + std::to_string(layer_count) + " layers)");
    }

    // Recomputes the output of layer i if the last forward's fused pooling
    // did not store it (layer i is that Conv2D or its ReLU): the same op
    // as the unfused forward, so the same values.
    void restore_output(std::size_t i) {
        if (!pending(i)) return;
        for_each_layer([&]<std::size_t I, class BL>() {
            if constexpr (fuses_pool<I>)
                if (flag_of[i] == I && pending_[I]) {
                    auto io = make_io<I, BL>();
                    io.fuse_relu = true;
                    BL::forward(io);
                    pending_[I] = false;
                }
        });
    }

    // The gradient buffer that does not hold dy (a pass-through layer may
    // have handed dy on from either, or dy is the caller's).
    T* free_grad(const T* dy) { return dy == grad_[0].data() ? grad_[1].data() : grad_[0].data(); }

    template <std::size_t I>
    const T* layer_input() const {
        if constexpr (I == 0) return input_;
        else return out_[I - 1];
    }

    template <std::size_t I, class BL>
    LayerIo<T, B> make_io() {
        LayerIo<T, B> io{be_};
        io.n = n_;
        io.x = layer_input<I>();
        io.y = act_[I].data();
        io.w = params_.data() + param_offset[I];
        io.dw = grads_.data() + param_offset[I];
        io.buffers = buffers_.data() + buffer_offset[I];
        io.scratch = scratch_.data() + n_ * scratch_offset[I];
        io.index_scratch = index_scratch_.data() + n_ * index_scratch_offset[I];
        io.workspace = workspace_.data();
        io.training = training_;
        io.rng = &rng_;
        return io;
    }

    void build_segments() {
        for_each_layer([&]<std::size_t I, class BL>() {
            std::size_t off = param_offset[I];
            for (const auto& p : BL::params) {
                segments_.push_back({std::to_string(I) + "." + p.name, p.dims, off, p.dims.size(), p.regularized, I});
                off += p.dims.size();
            }
            off = buffer_offset[I];
            for (const auto& p : BL::buffers) {
                buffer_segments_.push_back({std::to_string(I) + "." + p.name, p.dims, off, p.dims.size(), false, I});
                off += p.dims.size();
            }
        });
    }

    B be_;
    Rng rng_;
    Tensor<T, device> params_, grads_, buffers_;
    OptimizerState<T, device> opt_state_;
    std::array<Tensor<T, device>, layer_count> act_;
    std::array<const T*, layer_count> out_{};  // each layer's output: act_[i], or its input when it passes through
    std::array<Tensor<T, device>, 2> grad_;
    Tensor<T, device> scratch_, workspace_;
    Tensor<std::int32_t, device> index_scratch_;
    std::size_t workspace_need_ = 0;
    std::vector<ParamSegment> segments_, buffer_segments_;
    const T* input_ = nullptr;
    std::size_t n_ = 0, capacity_ = 0;
    bool training_ = false;
    bool fusion_ = true, fused_ = false;  // fused_: the last forward fused (see set_fusion)
    std::array<bool, layer_count> pending_{};  // set at fused Conv2Ds only; read through pending()
};

}  // namespace typenet
