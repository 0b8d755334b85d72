// typenet/testing/parity.hpp - backend-parity checks, public.
//
// Whoever writes a backend (or a layer) checks it the way typenet checks
// Cuda against Cpu: build the same network on two backends with the same
// weights, feed both the same data, and compare every tensor that comes out -
// forward outputs, input gradients, parameter gradients, buffers, optimizer
// steps, losses, whole training runs.
//
// Errors are scale-relative: max|a - b| / max(max|a|, max|b|) per tensor (per
// parameter tensor for gradients), since float round-off grows with the size
// of the values being summed. A NaN in one tensor but not the other is an
// infinite error. Typical float tolerances: 1e-5 for elementwise ops and
// optimizer steps, 1e-4 for matrix products and reductions, 1e-3 where cuDNN
// may choose FFT or Winograd convolutions.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "../core/random.hpp"
#include "../core/tensor.hpp"
#include "../model/model.hpp"
#include "../model/sequential.hpp"
#include "../model/transfer.hpp"

namespace typenet::testing {

/// How far tensor b is from tensor a.
struct TensorDiff {
    std::string name;
    double error = 0.0;   // scale-relative, see above
    std::size_t at = 0;   // index of the largest |a - b|
    double a = 0.0, b = 0.0;  // the values there

    std::string str() const {
        std::ostringstream o;
        o << name << ": error " << error << " at [" << at << "] (" << a << " vs " << b << ")";
        return o.str();
    }
};

/// Compares two equally long sequences of values.
template <class A, class B>
TensorDiff compare_values(std::string name, std::span<const A> a, std::span<const B> b) {
    TensorDiff d{std::move(name)};
    if (a.size() != b.size()) {
        d.error = std::numeric_limits<double>::infinity();
        d.name += " (sizes " + std::to_string(a.size()) + " and " + std::to_string(b.size()) + " differ)";
        return d;
    }
    double scale = 0.0, worst = -1.0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const double x = double(a[i]), y = double(b[i]);
        if (std::isnan(x) != std::isnan(y) || std::isinf(x) != std::isinf(y) || (std::isinf(x) && x != y)) {
            d.error = std::numeric_limits<double>::infinity();
            d.at = i, d.a = x, d.b = y;
            return d;
        }
        if (!std::isfinite(x)) continue;
        scale = std::max({scale, std::abs(x), std::abs(y)});
        if (std::abs(x - y) > worst) worst = std::abs(x - y), d.at = i, d.a = x, d.b = y;
    }
    d.error = scale > 0.0 ? std::max(worst, 0.0) / scale : 0.0;
    return d;
}
template <class A, class B>
TensorDiff compare_values(std::string name, const std::vector<A>& a, const std::vector<B>& b) {
    return compare_values(std::move(name), std::span<const A>(a), std::span<const B>(b));
}

/// Every tensor compared by one check.
struct ParityResult {
    std::vector<TensorDiff> diffs;

    double max_error() const {
        double e = 0.0;
        for (const auto& d : diffs) e = std::max(e, d.error);
        return e;
    }
    /// The worst tensor, for failure messages.
    std::string worst() const {
        const TensorDiff* w = nullptr;
        for (const auto& d : diffs)
            if (!w || d.error > w->error) w = &d;
        return w ? w->str() : std::string("nothing compared");
    }
    /// One line per tensor.
    std::string report() const {
        std::string s;
        for (const auto& d : diffs) s += d.str() + "\n";
        return s;
    }
};

struct ParityOptions {
    std::size_t batch = 4;
    std::uint64_t seed = 1;
    bool training = true;  // forward in training mode (batch statistics, dropout)
    double input_lo = -1.0, input_hi = 1.0;
    std::size_t steps = 3;  // optimizer steps / training steps, where a check takes steps
};

namespace parity_detail {
template <class T>
std::vector<T> uniform(std::size_t n, Rng& rng, double lo, double hi) {
    std::vector<T> v(n);
    for (auto& x : v) x = T(rng.uniform(lo, hi));
    return v;
}
template <class T, class D>
Tensor<T, D> on_device(const std::vector<T>& host) {
    Tensor<T, D> t(Dims{host.size()});
    t.from_host(std::span<const T>(host));
    return t;
}
template <class T>
std::span<const T> part(const std::vector<T>& v, std::size_t offset, std::size_t size) {
    return std::span<const T>(v).subspan(offset, size);
}
template <class T, class D>
std::vector<T> from_device(const T* p, std::size_t n) {
    std::vector<T> v(n);
    D::to_host(v.data(), p, n * sizeof(T));
    return v;
}
// Parameters (or gradients, optimizer state) of both models, per named tensor.
template <class MA, class MB>
void compare_segments(ParityResult& r, const std::string& what, const MA& ma, const std::vector<typename MA::scalar>& a,
                      const std::vector<typename MB::scalar>& b) {
    for (const auto& s : ma.segments())
        r.diffs.push_back(compare_values(what + " " + s.name, part(a, s.offset, s.size), part(b, s.offset, s.size)));
}
}  // namespace parity_detail

/// Net on backends a and b with a's initial weights: one forward (training
/// mode unless o.training is false) and one backward of the same random input
/// and output gradient, then one infer(). Compares the output, the input
/// gradient, every parameter gradient, every buffer (BatchNorm running
/// statistics) and infer's output.
template <class Net, class T = float, class BA, class BB>
ParityResult check_backend_parity(BA a, BB b, ParityOptions o = {}) {
    using MA = Model<Net, BA, T>;
    using MB = Model<Net, BB, T>;
    using DA = typename MA::device;
    using DB = typename MB::device;
    MA ma(o.seed, a);
    MB mb(o.seed, b);
    copy_weights(mb, ma);
    Rng rng(o.seed + 11);
    const std::size_t n = o.batch;
    const auto x = parity_detail::uniform<T>(n * MA::input_size, rng, o.input_lo, o.input_hi);
    const auto dout = parity_detail::uniform<T>(n * MA::output_size, rng, -1.0, 1.0);
    auto xa = parity_detail::on_device<T, DA>(x), douta = parity_detail::on_device<T, DA>(dout);
    auto xb = parity_detail::on_device<T, DB>(x), doutb = parity_detail::on_device<T, DB>(dout);
    Tensor<T, DA> dxa(Dims{x.size()});
    Tensor<T, DB> dxb(Dims{x.size()});

    ParityResult r;
    const T* ya = ma.forward(xa.data(), n, o.training);
    const T* yb = mb.forward(xb.data(), n, o.training);
    r.diffs.push_back(compare_values("output", parity_detail::from_device<T, DA>(ya, n * MA::output_size),
                                     parity_detail::from_device<T, DB>(yb, n * MB::output_size)));
    ma.backward(douta.data(), dxa.data());
    mb.backward(doutb.data(), dxb.data());
    r.diffs.push_back(compare_values("input gradient", dxa.to_host(), dxb.to_host()));
    parity_detail::compare_segments<MA, MB>(r, "gradient of", ma, ma.gradients().to_host(), mb.gradients().to_host());
    const auto bufa = ma.buffers().to_host(), bufb = mb.buffers().to_host();
    for (const auto& s : ma.buffer_segments())
        r.diffs.push_back(compare_values("buffer " + s.name, parity_detail::part(bufa, s.offset, s.size),
                                         parity_detail::part(bufb, s.offset, s.size)));
    // The inference forward evaluate and predict run (fused like training's).
    const T* ia = ma.infer(xa.data(), n);
    const T* ib = mb.infer(xb.data(), n);
    r.diffs.push_back(compare_values("infer output", parity_detail::from_device<T, DA>(ia, n * MA::output_size),
                                     parity_detail::from_device<T, DB>(ib, n * MB::output_size)));
    return r;
}

/// check_backend_parity for one layer description L on per-sample input shape S.
template <class L, class S, class T = float, class BA, class BB>
ParityResult check_layer_parity(BA a, BB b, ParityOptions o = {}) {
    return [&]<std::size_t... D>(Shape<D...>) {
        return check_backend_parity<Sequential<Input<D...>, L>, T>(a, b, o);
    }(S{});
}

/// o.steps steps of optimizer `opt` on both backends from the same weights
/// and the same random gradients (set directly, so only the update rule is
/// compared). Compares the parameters and the optimizer state afterwards.
template <class Net, class T = float, class BA, class BB, class Opt>
ParityResult check_optimizer_parity(BA a, BB b, const Opt& opt, ParityOptions o = {}) {
    using MA = Model<Net, BA, T>;
    using MB = Model<Net, BB, T>;
    MA ma(o.seed, a);
    MB mb(o.seed, b);
    copy_weights(mb, ma);
    Opt oa = opt, ob = opt;
    Rng rng(o.seed + 13);
    for (std::size_t step = 0; step < o.steps; ++step) {
        // Gradients of mixed signs and sizes, some zero (as dead ReLUs give).
        auto g = parity_detail::uniform<T>(ma.gradients().size(), rng, -1.0, 1.0);
        for (std::size_t i = 0; i < g.size(); i += 7) g[i] = T(0);
        ma.gradients().from_host(std::span<const T>(g));
        mb.gradients().from_host(std::span<const T>(g));
        oa.step(ma);
        ob.step(mb);
    }
    ParityResult r;
    parity_detail::compare_segments<MA, MB>(r, "parameter", ma, ma.parameters().to_host(), mb.parameters().to_host());
    const auto sa = ma.optimizer_state().moments().to_host(), sb = mb.optimizer_state().moments().to_host();
    r.diffs.push_back(compare_values("optimizer state", sa, sb));
    return r;
}

/// A loss on both backends: the same random outputs in [lo, hi] and random
/// labels; compares the gradient, the summed loss and the correct count.
template <class T = float, class BA, class BB, class L>
ParityResult check_loss_parity(BA a, BB b, const L& loss, std::size_t rows, std::size_t cols, double lo, double hi,
                               std::uint64_t seed = 1) {
    using DA = typename BA::device;
    using DB = typename BB::device;
    Rng rng(seed);
    const auto y = parity_detail::uniform<T>(rows * cols, rng, lo, hi);
    std::vector<std::int32_t> labels(rows);
    for (auto& l : labels) l = std::int32_t(rng.below(cols));
    auto ya = parity_detail::on_device<T, DA>(y);
    auto yb = parity_detail::on_device<T, DB>(y);
    auto la = parity_detail::on_device<std::int32_t, DA>(labels);
    auto lb = parity_detail::on_device<std::int32_t, DB>(labels);
    Tensor<T, DA> ga(Dims{y.size()});
    Tensor<T, DB> gb(Dims{y.size()});
    Tensor<double, DA> acca(Dims{2});
    Tensor<double, DB> accb(Dims{2});
    const T scale = T(1.0 / double(rows));
    loss(a, rows, cols, ya.data(), la.data(), ga.data(), scale, acca.data());
    loss(b, rows, cols, yb.data(), lb.data(), gb.data(), scale, accb.data());
    double ha[2], hb[2];
    read_accumulator(a, acca.data(), ha);
    read_accumulator(b, accb.data(), hb);
    ParityResult r;
    r.diffs.push_back(compare_values("loss gradient", ga.to_host(), gb.to_host()));
    r.diffs.push_back(compare_values("summed loss", std::vector<double>{ha[0]}, std::vector<double>{hb[0]}));
    r.diffs.push_back(compare_values("correct count", std::vector<double>{ha[1]}, std::vector<double>{hb[1]}));
    return r;
}

/// o.steps training steps (forward, loss with the batch-mean gradient,
/// backward, optimizer step) of Net on both backends from the same weights,
/// each step on a new random batch of o.batch samples with random labels.
/// Compares every step's loss and, at the end, every parameter tensor.
template <class Net, class T = float, class BA, class BB, class Opt, class L>
ParityResult check_training_parity(BA a, BB b, const Opt& opt, const L& loss, ParityOptions o = {}) {
    using MA = Model<Net, BA, T>;
    using MB = Model<Net, BB, T>;
    using DA = typename MA::device;
    using DB = typename MB::device;
    MA ma(o.seed, a);
    MB mb(o.seed, b);
    copy_weights(mb, ma);
    Opt oa = opt, ob = opt;
    Rng rng(o.seed + 17);
    const std::size_t n = o.batch;
    Tensor<T, DA> douta(Dims{n * MA::output_size});
    Tensor<T, DB> doutb(Dims{n * MB::output_size});
    ParityResult r;
    for (std::size_t step = 0; step < o.steps; ++step) {
        const auto x = parity_detail::uniform<T>(n * MA::input_size, rng, o.input_lo, o.input_hi);
        std::vector<std::int32_t> labels(n);
        for (auto& l : labels) l = std::int32_t(rng.below(MA::output_size));
        auto xa = parity_detail::on_device<T, DA>(x);
        auto xb = parity_detail::on_device<T, DB>(x);
        auto la = parity_detail::on_device<std::int32_t, DA>(labels);
        auto lb = parity_detail::on_device<std::int32_t, DB>(labels);
        Tensor<double, DA> acca(Dims{2});
        Tensor<double, DB> accb(Dims{2});
        const T* ya = ma.forward(xa.data(), n, true);
        const T* yb = mb.forward(xb.data(), n, true);
        loss(ma.backend(), n, MA::output_size, ya, la.data(), douta.data(), T(1) / T(n), acca.data());
        loss(mb.backend(), n, MB::output_size, yb, lb.data(), doutb.data(), T(1) / T(n), accb.data());
        ma.backward(douta.data());
        mb.backward(doutb.data());
        oa.step(ma);
        ob.step(mb);
        double ha[2], hb[2];
        read_accumulator(ma.backend(), acca.data(), ha);
        read_accumulator(mb.backend(), accb.data(), hb);
        r.diffs.push_back(compare_values("loss of step " + std::to_string(step + 1), std::vector<double>{ha[0]},
                                         std::vector<double>{hb[0]}));
    }
    parity_detail::compare_segments<MA, MB>(r, "parameter", ma, ma.parameters().to_host(), mb.parameters().to_host());
    return r;
}

}  // namespace typenet::testing
