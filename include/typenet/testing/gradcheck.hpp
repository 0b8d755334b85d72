// typenet/testing/gradcheck.hpp - finite-difference gradient checks, public.
//
// Users who write their own layer or loss check it the way typenet checks its
// own: build a tiny double-precision model on the CPU, compare back-propagated
// gradients with central differences of a scalar function of the output.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "../backend/cpu/cpu.hpp"
#include "../model/model.hpp"
#include "../model/sequential.hpp"

namespace typenet::testing {

struct GradCheckResult {
    double max_input_error = 0.0;  // worst relative error over checked input values
    double max_param_error = 0.0;  // worst relative error over checked parameters
    std::size_t checked = 0;       // how many values were perturbed
    std::string worst;             // which value was worst, for failure messages

    double max_error() const { return std::max(max_input_error, max_param_error); }
};

struct GradCheckOptions {
    std::size_t batch = 3;
    std::uint64_t seed = 1;
    double epsilon = 1e-6;
    std::size_t max_checks = 400;  // per tensor: larger ones are sampled
    double input_lo = -1.0, input_hi = 1.0;
};

namespace gc_detail {
inline double rel_error(double a, double n) { return std::abs(a - n) / std::max(1.0, std::abs(a) + std::abs(n)); }

template <class S>
struct input_of;
template <std::size_t... D>
struct input_of<Shape<D...>> {
    using type = Input<D...>;
};
}  // namespace gc_detail

/// Checks d(sum(r * net(x)))/dx and /dw for a whole network type Net,
/// with random x, r and the network's own initial weights. Stochastic layers
/// are checked with a fixed random stream (the Rng is reset before each pass).
template <class Net>
GradCheckResult check_network_gradients(GradCheckOptions o = {}) {
    using M = Model<Net, Cpu, double>;
    M model(o.seed, Cpu{1});
    const std::size_t n = o.batch, in = M::input_size, out = M::output_size;
    Rng rng(o.seed + 7);
    std::vector<double> x(n * in), r(n * out), dx(n * in);
    for (auto& v : x) v = rng.uniform(o.input_lo, o.input_hi);
    for (auto& v : r) v = rng.uniform(-1.0, 1.0);
    const auto stream = model.rng().state();

    auto objective = [&]() {
        model.rng().set_state(stream);
        const double* y = model.forward(x.data(), n, true);
        double s = 0;
        for (std::size_t i = 0; i < n * out; ++i) s += r[i] * y[i];
        return s;
    };
    objective();
    model.backward(r.data(), dx.data());
    // The parameters' gradients from a backward without the input's, as in
    // training, where Model may take other ops (a first Conv2D, ReLU,
    // MaxPool2D's fused backward-filter).
    if constexpr (M::parameter_count > 0) model.backward(r.data());
    std::vector<double> dw(model.gradients().data(), model.gradients().data() + M::parameter_count);

    GradCheckResult res;
    auto check = [&](double* values, std::size_t count, const std::vector<double>& analytic, bool is_input) {
        const std::size_t stride = std::max<std::size_t>(1, count / o.max_checks);
        for (std::size_t i = (stride > 1 ? rng.below(stride) : 0); i < count; i += stride) {
            const double saved = values[i];
            values[i] = saved + o.epsilon;
            const double up = objective();
            values[i] = saved - o.epsilon;
            const double down = objective();
            values[i] = saved;
            const double numeric = (up - down) / (2 * o.epsilon);
            const double e = gc_detail::rel_error(analytic[i], numeric);
            double& worst = is_input ? res.max_input_error : res.max_param_error;
            if (e > worst) {
                worst = e;
                std::ostringstream w;
                w << (is_input ? "input[" : "param[") << i << "]: backprop " << analytic[i] << " vs numeric " << numeric;
                if (!is_input)
                    for (const auto& s : model.segments())
                        if (i >= s.offset && i < s.offset + s.size) w << " (" << s.name << ")";
                res.worst = w.str();
            }
            ++res.checked;
        }
    };
    check(x.data(), x.size(), dx, true);
    check(model.parameters().data(), M::parameter_count, dw, false);
    return res;
}

/// Checks one layer description L on input shape S (e.g. Dense<4> on Shape<5>).
template <class L, class S>
GradCheckResult check_layer_gradients(GradCheckOptions o = {}) {
    return check_network_gradients<Sequential<typename gc_detail::input_of<S>::type, L>>(o);
}

/// Checks a loss: the gradient it writes against central differences of the
/// summed loss it accumulates, on random outputs in [lo, hi] and random labels.
template <class L>
double check_loss_gradients(const L& loss, std::size_t rows, std::size_t cols, double lo, double hi,
                            std::uint64_t seed = 1, double epsilon = 1e-6) {
    Cpu be(1);
    Rng rng(seed);
    std::vector<double> y(rows * cols), g(rows * cols);
    std::vector<std::int32_t> labels(rows);
    for (auto& v : y) v = rng.uniform(lo, hi);
    for (auto& l : labels) l = std::int32_t(rng.below(cols));
    auto value = [&]() {
        double acc[2] = {0, 0};
        loss(be, rows, cols, y.data(), labels.data(), static_cast<double*>(nullptr), 1.0, acc);
        return acc[0];
    };
    double acc[2] = {0, 0};
    loss(be, rows, cols, y.data(), labels.data(), g.data(), 1.0, acc);
    double worst = 0;
    for (std::size_t i = 0; i < y.size(); ++i) {
        const double saved = y[i];
        y[i] = saved + epsilon;
        const double up = value();
        y[i] = saved - epsilon;
        const double down = value();
        y[i] = saved;
        worst = std::max(worst, gc_detail::rel_error(g[i], (up - down) / (2 * epsilon)));
    }
    return worst;
}

}  // namespace typenet::testing
