// tests/test_cpu_ops.cpp - every CPU backend op against a naive reference.
//
// References are plain loops in double over the op's own (T-valued) inputs.
// Tolerances: float 1e-5 and double 1e-12, relative to max(1, |want|) or, for
// sums (gemm, bias_grad), to the sum of the terms' magnitudes. Sums here have
// at most 33 terms, so rounding stays below k * eps (33 * 6e-8 = 2e-6 float,
// 4e-15 double) times that scale; vectorised exp/tanh/logistic are good to a
// few ulps. A wrong formula misses by far more than either tolerance.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <iterator>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <typenet/backend/cpu/cpu.hpp>
#include <typenet/core/activation_kind.hpp>
#include <typenet/core/backend.hpp>
#include <typenet/core/random.hpp>

static_assert(typenet::Backend<typenet::Cpu>, "Cpu must satisfy the Backend concept (core/backend.hpp)");

namespace {

using namespace typenet;
using std::size_t;

template <class T>
constexpr double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
template <class T>
constexpr T nan_v = std::numeric_limits<T>::quiet_NaN();

template <class T>
std::vector<T> uniform(Rng& rng, size_t n, double lo = -1.0, double hi = 1.0) {
    std::vector<T> v(n);
    for (auto& x : v) x = T(rng.uniform(lo, hi));
    return v;
}

// Compares got[i] with want[i] to t * scale[i] (scale defaults to max(1, |want|));
// reports the first mismatch only, so a broken op gives one readable line.
template <class T>
void expect_close(const std::vector<T>& got, const std::vector<double>& want, double t, const std::string& what,
                  const std::vector<double>& scale = {}) {
    ASSERT_EQ(got.size(), want.size()) << what;
    for (size_t i = 0; i < got.size(); ++i) {
        const double s = scale.empty() ? std::max(1.0, std::abs(want[i])) : std::max(scale[i], 1e-300);
        if (!(std::abs(double(got[i]) - want[i]) <= t * s)) {
            ADD_FAILURE() << what << " [" << i << "]: got " << got[i] << ", want " << want[i] << " (tolerance "
                          << t * s << ")";
            return;
        }
    }
}

size_t naive_argmax(const std::vector<double>& row) {
    size_t best = 0;  // first maximum, as numpy.argmax
    for (size_t c = 1; c < row.size(); ++c)
        if (row[c] > row[best]) best = c;
    return best;
}

template <class T>
std::vector<double> row_of(const std::vector<T>& x, size_t r, size_t cols) {
    return {x.begin() + std::ptrdiff_t(r * cols), x.begin() + std::ptrdiff_t((r + 1) * cols)};
}

template <class T>
class CpuOps : public ::testing::Test {
protected:
    Cpu cpu{1};
    Rng rng{20240611};
};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(CpuOps, Scalars);

// --- gemm -----------------------------------------------------------------

struct GemmShape {
    size_t m, n, k;
};
// 1x1x1, odd sizes, vectors, a deeper k, and the k = 0 (C = beta*C), m = 0, n = 0 edges.
constexpr GemmShape gemm_shapes[] = {{1, 1, 1},   {7, 13, 5}, {3, 1, 9},  {1, 8, 4},
                                     {16, 17, 33}, {4, 5, 0},  {0, 5, 3}, {4, 0, 3}};
constexpr double gemm_scalars[][2] = {{1.0, 0.0}, {0.5, -1.5}, {-2.0, 1.0}, {1.25, 0.0}, {0.0, 0.5}};

// Row-major rows x cols matrix with row stride cols + 3; the padding holds `pad`.
template <class T>
std::vector<T> padded(Rng& rng, size_t rows, size_t cols, T pad) {
    std::vector<T> v(rows * (cols + 3), pad);
    for (size_t r = 0; r < rows; ++r)
        for (size_t c = 0; c < cols; ++c) v[r * (cols + 3) + c] = T(rng.uniform(-1.0, 1.0));
    return v;
}

template <class T>
void check_gemm(const Cpu& cpu, Rng& rng, bool ta, bool tb, GemmShape s, double alpha, double beta) {
    const size_t a_cols = ta ? s.m : s.k, b_cols = tb ? s.k : s.n;
    const size_t lda = a_cols + 3, ldb = b_cols + 3, ldc = s.n + 3;
    const T sentinel = T(12345);
    // NaN padding in A and B must never be read; C's padding must stay untouched.
    const auto a = padded<T>(rng, ta ? s.k : s.m, a_cols, nan_v<T>);
    const auto b = padded<T>(rng, tb ? s.n : s.k, b_cols, nan_v<T>);
    auto c = padded<T>(rng, s.m, s.n, sentinel);
    if (beta == 0.0)  // BLAS: with beta = 0, C is output only, so NaN garbage there must vanish
        for (size_t i = 0; i < s.m; ++i) std::fill_n(c.begin() + std::ptrdiff_t(i * ldc), s.n, nan_v<T>);

    std::vector<double> want(c.begin(), c.end()), scale(c.size(), 1.0);
    for (size_t i = 0; i < s.m; ++i)
        for (size_t j = 0; j < s.n; ++j) {
            double sum = 0, mag = 0;
            for (size_t p = 0; p < s.k; ++p) {
                const double x = ta ? a[p * lda + i] : a[i * lda + p];
                const double y = tb ? b[j * ldb + p] : b[p * ldb + j];
                sum += x * y;
                mag += std::abs(x * y);
            }
            const double c0 = beta == 0.0 ? 0.0 : double(c[i * ldc + j]);
            want[i * ldc + j] = alpha * sum + beta * c0;
            scale[i * ldc + j] = std::abs(alpha) * mag + std::abs(beta * c0);
        }
    gemm(cpu, ta, tb, s.m, s.n, s.k, T(alpha), a.data(), lda, b.data(), ldb, T(beta), c.data(), ldc);
    const auto str = [](auto v) { return std::to_string(v); };
    expect_close(c, want, tol<T>,
                 "gemm ta,tb=" + str(ta) + str(tb) + " m,n,k=" + str(s.m) + "," + str(s.n) + "," + str(s.k) +
                     " alpha,beta=" + str(alpha) + "," + str(beta),
                 scale);
}

TYPED_TEST(CpuOps, GemmMatchesNaiveForAllTransposesPaddedStridesAndScalars) {
    for (bool ta : {false, true})
        for (bool tb : {false, true})
            for (const auto& s : gemm_shapes)
                for (const auto& [alpha, beta] : gemm_scalars)
                    check_gemm<TypeParam>(this->cpu, this->rng, ta, tb, s, alpha, beta);
}

// --- linear (Dense forward: product, bias, ReLU in one op) ----------------

// Shapes (n, in, out): tiny, odd, and large enough that 2 threads split rows
// (128 x 784 -> 512) or, with n < 4, columns (3 x 300 -> 700); a CNN's
// classifier input (64 x 576 -> 70), which the x86 SGEMM computes transposed.
struct LinearShape {
    size_t n, in, out;
};
constexpr LinearShape linear_shapes[] = {{1, 1, 1},       {5, 7, 3},      {17, 33, 49},
                                         {128, 784, 512}, {3, 300, 700}, {64, 576, 70}};

TYPED_TEST(CpuOps, LinearForwardMatchesNaiveAndEqualsGemmBiasRelu) {
    using T = TypeParam;
    for (const int threads : {1, 2}) {
        Cpu be{threads};
        for (const auto& s : linear_shapes)
            for (const bool relu : {false, true}) {
                const std::string what = "linear_forward n,in,out=" + std::to_string(s.n) + "," + std::to_string(s.in) +
                                         "," + std::to_string(s.out) + (relu ? " relu" : "") + " threads " +
                                         std::to_string(threads);
                auto x = uniform<T>(this->rng, s.n * s.in);
                const auto w = uniform<T>(this->rng, s.out * s.in), b = uniform<T>(this->rng, s.out);
                x[0] = nan_v<T>;  // row 0 all NaN: the ReLU must keep NaN, not hide it
                std::vector<T> y(s.n * s.out, T(7));
                linear_forward(be, s.n, s.in, s.out, x.data(), w.data(), b.data(), y.data(), relu);
                std::vector<double> want(y.size()), scale(y.size());
                for (size_t i = 0; i < s.n; ++i)
                    for (size_t o = 0; o < s.out; ++o) {
                        double acc = b[o], mag = std::abs(double(b[o]));
                        for (size_t k = 0; k < s.in; ++k) {
                            acc += double(x[i * s.in + k]) * double(w[o * s.in + k]);
                            mag += std::abs(double(x[i * s.in + k]) * double(w[o * s.in + k]));
                        }
                        want[i * s.out + o] = relu && acc < 0 ? 0.0 : acc;
                        scale[i * s.out + o] = mag;
                    }
                for (size_t o = 0; o < s.out; ++o) ASSERT_TRUE(std::isnan(y[o])) << what << ": NaN lost at " << o;
                std::vector<T> rest(y.begin() + std::ptrdiff_t(s.out), y.end());
                expect_close(rest, std::vector<double>(want.begin() + std::ptrdiff_t(s.out), want.end()), tol<T>, what,
                             std::vector<double>(scale.begin() + std::ptrdiff_t(s.out), scale.end()));
                // The unfused sequence rounds the same way: bit-identical.
                std::vector<T> z(y.size());
                gemm(be, false, true, s.n, s.out, s.in, T(1), x.data(), s.in, w.data(), s.in, T(0), z.data(), s.out);
                bias_add(be, s.n, s.out, size_t{1}, z.data(), b.data());
                if (relu) activation_forward(be, ActivationKind::relu, z.size(), z.data(), z.data());
                for (size_t i = s.out; i < z.size(); ++i) ASSERT_EQ(y[i], z[i]) << what << " vs gemm+bias+relu at " << i;
            }
    }
}

// --- bias -----------------------------------------------------------------

struct BiasShape {
    size_t n, channels, spatial;
};
constexpr BiasShape bias_shapes[] = {{1, 1, 1}, {2, 3, 5}, {4, 7, 1}, {3, 13, 4}, {0, 3, 2}};

TYPED_TEST(CpuOps, BiasAddAndBiasGradMatchNaive) {
    using T = TypeParam;
    for (const auto& s : bias_shapes) {
        auto y = uniform<T>(this->rng, s.n * s.channels * s.spatial);
        const auto b = uniform<T>(this->rng, s.channels);
        std::vector<T> want = y;  // one addition per element: the result is exact in T
        for (size_t i = 0; i < s.n; ++i)
            for (size_t c = 0; c < s.channels; ++c)
                for (size_t k = 0; k < s.spatial; ++k) want[(i * s.channels + c) * s.spatial + k] += b[c];
        bias_add(this->cpu, s.n, s.channels, s.spatial, y.data(), b.data());
        EXPECT_EQ(y, want) << "n,c,s=" << s.n << "," << s.channels << "," << s.spatial;

        const auto& dy = y;
        std::vector<T> db(s.channels, nan_v<T>);  // overwritten, never accumulated into
        std::vector<double> want_db(s.channels, 0.0), scale(s.channels, 0.0);
        for (size_t i = 0; i < dy.size(); ++i) {
            want_db[(i / s.spatial) % s.channels] += dy[i];
            scale[(i / s.spatial) % s.channels] += std::abs(double(dy[i]));
        }
        bias_grad(this->cpu, s.n, s.channels, s.spatial, dy.data(), db.data());
        expect_close(db, want_db, tol<T>, "bias_grad n=" + std::to_string(s.n), scale);
    }
}

// --- activations ----------------------------------------------------------

constexpr ActivationKind all_kinds[] = {ActivationKind::identity, ActivationKind::relu, ActivationKind::sigmoid,
                                        ActivationKind::tanh,     ActivationKind::elu,  ActivationKind::selu};

double ref_f(ActivationKind k, double x) {
    switch (k) {
        case ActivationKind::identity: return x;
        case ActivationKind::relu: return x > 0 ? x : 0.0;
        case ActivationKind::sigmoid: return 1.0 / (1.0 + std::exp(-x));
        case ActivationKind::tanh: return std::tanh(x);
        case ActivationKind::elu: return x > 0 ? x : std::expm1(x);
        case ActivationKind::selu: return selu_scale * (x > 0 ? x : selu_alpha * std::expm1(x));
    }
    return 0;
}

// f'(x) from the analytic formula (the right derivative at the kink, x = 0).
double ref_df(ActivationKind k, double x) {
    switch (k) {
        case ActivationKind::identity: return 1.0;
        case ActivationKind::relu: return x > 0 ? 1.0 : 0.0;
        case ActivationKind::sigmoid:  // e^-|x| / (1 + e^-|x|)^2, written to not overflow
            return std::exp(-std::abs(x)) / ((1.0 + std::exp(-std::abs(x))) * (1.0 + std::exp(-std::abs(x))));
        case ActivationKind::tanh: return 1.0 / (std::cosh(x) * std::cosh(x));
        case ActivationKind::elu: return x > 0 ? 1.0 : std::exp(x);
        case ActivationKind::selu: return x > 0 ? selu_scale : selu_scale * selu_alpha * std::exp(x);
    }
    return 0;
}

TYPED_TEST(CpuOps, ActivationsMatchAnalyticFormulasAndSaturateWithoutNaN) {
    using T = TypeParam;
    for (const auto kind : all_kinds)
        for (size_t count : {size_t{1}, size_t{7 * 13 * 5}, size_t{0}}) {
            auto x = uniform<T>(this->rng, count, -4.0, 4.0);
            // the kink, and saturation: large |x| must give clean limits, never NaN
            const T specials[] = {T(0),    T(-0.0),  T(1e-3), T(-1e-3), T(-12),  T(12),   T(-50),
                                  T(50),   T(-88),   T(88),   T(-100),  T(100),  T(-1000), T(1000)};
            for (size_t i = 0; i < std::min(count, std::size(specials)); ++i) x[i] = specials[i];
            const auto dy = uniform<T>(this->rng, count);
            std::vector<T> y(count, nan_v<T>), dx(count, nan_v<T>);
            std::vector<double> want_y(count), want_dx(count);
            for (size_t i = 0; i < count; ++i) {
                want_y[i] = ref_f(kind, x[i]);
                want_dx[i] = double(dy[i]) * ref_df(kind, x[i]);
            }
            const std::string what = "kind " + std::to_string(int(kind)) + " count " + std::to_string(count);
            activation_forward(this->cpu, kind, count, x.data(), y.data());
            expect_close(y, want_y, tol<T>, "forward " + what);
            activation_backward(this->cpu, kind, count, x.data(), y.data(), dy.data(), dx.data());
            expect_close(dx, want_dx, tol<T>, "backward " + what);
            auto inplace = x;  // x and y may alias
            activation_forward(this->cpu, kind, count, inplace.data(), inplace.data());
            EXPECT_EQ(inplace, y) << "in-place forward, " << what;
            for (size_t i = 0; kind == ActivationKind::sigmoid && i < count; ++i)
                ASSERT_TRUE(y[i] >= T(0) && y[i] <= T(1)) << "sigmoid(" << x[i] << ") = " << y[i];
        }
}

// ReLU's backward decides x > 0 on the bits (so it vectorises): check the
// edge values exactly, and a length that leaves a non-SIMD tail.
TYPED_TEST(CpuOps, ReluBackwardPassesExactlyThePositiveInputs) {
    using T = TypeParam;
    using L = std::numeric_limits<T>;
    const std::vector<T> x = {T(0), T(-0.0), L::denorm_min(), -L::denorm_min(), L::min(), -L::min(), L::infinity(),
                              -L::infinity(), L::max(), L::lowest(), T(1), T(-1), T(3)};
    const auto dy = uniform<T>(this->rng, x.size(), -2.0, 2.0);
    std::vector<T> y(x.size()), dx(x.size(), nan_v<T>);
    activation_forward(this->cpu, ActivationKind::relu, x.size(), x.data(), y.data());
    activation_backward(this->cpu, ActivationKind::relu, x.size(), x.data(), y.data(), dy.data(), dx.data());
    for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(dx[i], x[i] > T(0) ? dy[i] : T(0)) << "x = " << x[i];
}

// --- softmax --------------------------------------------------------------

std::vector<double> ref_softmax(const std::vector<double>& x) {
    const double m = *std::max_element(x.begin(), x.end());
    double sum = 0;
    for (double v : x) sum += std::exp(v - m);
    std::vector<double> y;
    for (double v : x) y.push_back(std::exp(v - m) / sum);
    return y;
}

template <class T>
void check_softmax_forward(const Cpu& cpu, const std::vector<T>& x, size_t rows, size_t cols) {
    std::vector<T> y(x.size(), nan_v<T>);
    std::vector<double> want;
    for (size_t r = 0; r < rows; ++r)
        for (double v : ref_softmax(row_of(x, r, cols))) want.push_back(v);
    softmax_forward(cpu, rows, cols, x.data(), y.data());
    expect_close(y, want, tol<T>, "softmax_forward " + std::to_string(rows) + "x" + std::to_string(cols));
    for (size_t r = 0; r < rows; ++r) {
        double sum = 0;
        for (double v : row_of(y, r, cols)) sum += v;
        EXPECT_NEAR(sum, 1.0, tol<T> * double(cols)) << "row " << r;
    }
}

TYPED_TEST(CpuOps, SoftmaxForwardRowsAreDistributionsAndStableForLargeLogits) {
    using T = TypeParam;
    const size_t shapes[][2] = {{1, 1}, {5, 7}, {3, 13}, {0, 4}};
    for (const auto& [rows, cols] : shapes)
        check_softmax_forward(this->cpu, uniform<T>(this->rng, rows * cols, -5.0, 5.0), rows, cols);
    const std::vector<T> x = {T(1000), T(999), T(998), T(0),     T(1000), T(1000), T(1000), T(1000),
                              T(-1000), T(0),  T(1000), T(-999), T(-1000), T(-1000), T(-999), T(-1000)};
    check_softmax_forward(this->cpu, x, 4, 4);
}

TYPED_TEST(CpuOps, SoftmaxBackwardMatchesExplicitJacobian) {
    using T = TypeParam;
    const size_t shapes[][2] = {{1, 1}, {5, 7}, {2, 13}};
    for (const auto& [rows, cols] : shapes) {
        const auto x = uniform<T>(this->rng, rows * cols, -3.0, 3.0);
        std::vector<T> y(x.size()), dx(x.size(), nan_v<T>);
        softmax_forward(this->cpu, rows, cols, x.data(), y.data());
        const auto dy = uniform<T>(this->rng, rows * cols);
        std::vector<double> want(x.size(), 0.0);
        for (size_t r = 0; r < rows; ++r)  // dx_j = sum_i dy_i * J_ij, J_ij = y_i (delta_ij - y_j)
            for (size_t j = 0; j < cols; ++j)
                for (size_t i = 0; i < cols; ++i) {
                    const double yi = y[r * cols + i], yj = y[r * cols + j];
                    want[r * cols + j] += double(dy[r * cols + i]) * yi * ((i == j ? 1.0 : 0.0) - yj);
                }
        softmax_backward(this->cpu, rows, cols, y.data(), dy.data(), dx.data());
        expect_close(dx, want, tol<T>, "softmax_backward " + std::to_string(rows) + "x" + std::to_string(cols));
    }
}

// --- losses ---------------------------------------------------------------

// Runs a fused loss op on several shapes and compares the accumulated loss sum,
// the correct count and scale * dloss/dout with `ref(row, label, grad_row)`,
// which returns the row's loss and writes its unscaled gradient. Also checks
// count_correct on the same data.
template <class T, class Op, class Ref>
void check_loss(const Cpu& cpu, Rng& rng, Op op, Ref ref, double lo, double hi) {
    const size_t shapes[][2] = {{1, 1}, {5, 7}, {9, 3}, {4, 13}, {0, 3}};
    const double scale = 0.25;
    for (const auto& [rows, cols] : shapes) {
        auto x = uniform<T>(rng, rows * cols, lo, hi);
        std::vector<std::int32_t> labels(rows);
        double loss = 0, correct = 0;
        std::vector<double> want_grad(rows * cols);
        for (size_t r = 0; r < rows; ++r) {
            const auto row = row_of(x, r, cols);
            // every other row is labelled with its argmax, so the count is neither 0 nor rows
            labels[r] = std::int32_t(r % 2 ? rng.below(cols) : naive_argmax(row));
            std::vector<double> g(cols);
            loss += ref(row, size_t(labels[r]), g);
            correct += naive_argmax(row) == size_t(labels[r]);
            for (size_t c = 0; c < cols; ++c) want_grad[r * cols + c] = scale * g[c];
        }
        const std::string what = std::to_string(rows) + "x" + std::to_string(cols);
        std::vector<T> grad(rows * cols, nan_v<T>);
        double acc[2] = {1.5, 2.0};  // the op adds to the accumulator
        op(cpu, rows, cols, x.data(), labels.data(), grad.data(), T(scale), acc);
        EXPECT_NEAR(acc[0], 1.5 + loss, tol<T> * std::max(1.0, loss)) << what;
        EXPECT_EQ(acc[1], 2.0 + correct) << what;
        expect_close(grad, want_grad, tol<T>, "grad " + what);
        double acc2[2] = {0, 0};  // no gradient wanted: same metrics
        op(cpu, rows, cols, x.data(), labels.data(), static_cast<T*>(nullptr), T(scale), acc2);
        EXPECT_NEAR(acc2[0], loss, tol<T> * std::max(1.0, loss)) << what;
        EXPECT_EQ(acc2[1], correct) << what;
        double acc3[2] = {0.5, 1.0};  // count_correct: the same count, the loss slot left alone
        count_correct(cpu, rows, cols, x.data(), labels.data(), acc3);
        EXPECT_EQ(acc3[0], 0.5) << what;
        EXPECT_EQ(acc3[1], 1.0 + correct) << what;
    }
}

TYPED_TEST(CpuOps, SoftmaxCrossEntropyMatchesNaive) {
    const auto op = [](auto&&... a) { softmax_cross_entropy(a...); };
    const auto ref = [](const std::vector<double>& x, size_t label, std::vector<double>& g) {
        const auto p = ref_softmax(x);
        for (size_t c = 0; c < x.size(); ++c) g[c] = p[c] - (c == label ? 1.0 : 0.0);
        return -std::log(p[label]);
    };
    check_loss<TypeParam>(this->cpu, this->rng, op, ref, -4.0, 4.0);
}

TYPED_TEST(CpuOps, BinaryCrossEntropyMatchesNaiveWithClipping) {
    const auto op = [](auto&&... a) { binary_cross_entropy(a...); };
    const auto ref = [](const std::vector<double>& p, size_t label, std::vector<double>& g) {
        double l = 0;
        const double n = double(p.size());
        for (size_t c = 0; c < p.size(); ++c) {
            const double q = std::min(std::max(p[c], 1e-7), 1.0 - 1e-7), t = c == label ? 1.0 : 0.0;
            l += -(t * std::log(q) + (1.0 - t) * std::log(1.0 - q)) / n;
            g[c] = (q - t) / (q * (1.0 - q)) / n;
        }
        return l;
    };
    check_loss<TypeParam>(this->cpu, this->rng, op, ref, 0.0, 1.0);
    // Exact 0 and 1 hit the clip: the loss is large but finite.
    const std::vector<TypeParam> p = {TypeParam(0), TypeParam(1)};
    const std::int32_t label = 0;
    double acc[2] = {0, 0};
    binary_cross_entropy(this->cpu, 1, 2, p.data(), &label, static_cast<TypeParam*>(nullptr), TypeParam(1), acc);
    EXPECT_NEAR(acc[0], -std::log(1e-7), 1e-6);  // both terms are -log(1e-7); their mean is one
    EXPECT_EQ(acc[1], 0.0);
}

TYPED_TEST(CpuOps, MeanSquaredErrorMatchesNaive) {
    const auto op = [](auto&&... a) { mean_squared_error(a...); };
    const auto ref = [](const std::vector<double>& y, size_t label, std::vector<double>& g) {
        double l = 0;
        for (size_t c = 0; c < y.size(); ++c) {
            const double d = y[c] - (c == label ? 1.0 : 0.0);
            l += d * d / double(y.size());
            g[c] = 2.0 * d / double(y.size());
        }
        return l;
    };
    check_loss<TypeParam>(this->cpu, this->rng, op, ref, -1.0, 2.0);
}

TYPED_TEST(CpuOps, CountCorrectBreaksTiesTowardTheFirstIndex) {
    using T = TypeParam;  // as numpy.argmax; backends must agree so accuracies match
    const std::vector<T> y = {T(0.0), T(0.4), T(0.2), T(0.4)};
    const std::int32_t first = 1, second = 3;
    double acc_first[2] = {0, 0}, acc_second[2] = {0, 0};
    count_correct(this->cpu, 1, 4, y.data(), &first, acc_first);
    count_correct(this->cpu, 1, 4, y.data(), &second, acc_second);
    EXPECT_EQ(acc_first[1], 1.0);
    EXPECT_EQ(acc_second[1], 0.0);
}

// --- transfer -------------------------------------------------------------

TYPED_TEST(CpuOps, GatherRowsCopiesIndexedRows) {
    using T = TypeParam;
    for (size_t row : {size_t{1}, size_t{7}})
        for (size_t count : {size_t{0}, size_t{1}, size_t{6}, size_t{15}}) {
            const auto src = uniform<T>(this->rng, 10 * row);
            std::vector<std::uint32_t> idx(count);
            for (auto& i : idx) i = std::uint32_t(this->rng.below(10));  // repeats allowed
            std::vector<T> dst((count + 1) * row, T(-7)), want = dst;     // one spare row must stay
            for (size_t i = 0; i < count; ++i)
                for (size_t c = 0; c < row; ++c) want[i * row + c] = src[idx[i] * row + c];
            gather_rows(this->cpu, count, row, src.data(), idx.data(), dst.data());
            EXPECT_EQ(dst, want) << "row " << row << " count " << count;
        }
}

TEST(CpuTransfer, GatherRowsSplitOverThreadsCopiesEveryRow) {
    // Large enough to be split over the pool; every row where it belongs.
    const Cpu cpu{2};
    const size_t row = 784, rows = 300, count = 257;
    std::vector<float> src(rows * row);
    for (size_t i = 0; i < src.size(); ++i) src[i] = float(i);
    std::vector<std::uint32_t> idx(count);
    for (size_t i = 0; i < count; ++i) idx[i] = std::uint32_t((i * 37 + 11) % rows);
    std::vector<float> dst((count + 1) * row, -7.0f);
    gather_rows(cpu, count, row, src.data(), idx.data(), dst.data());
    for (size_t i = 0; i < count; ++i)
        for (size_t c = 0; c < row; ++c) ASSERT_EQ(dst[i * row + c], src[idx[i] * row + c]) << "row " << i;
    for (size_t c = 0; c < row; ++c) ASSERT_EQ(dst[count * row + c], -7.0f);  // the spare row stays
}

TEST(CpuTransfer, GatherLabelsAndReadAccumulator) {
    const Cpu cpu{1};
    const std::vector<std::int32_t> src = {4, 8, 15, 16, 23, 42};
    const std::vector<std::uint32_t> idx = {5, 0, 0, 3};
    std::vector<std::int32_t> dst(5, -1);
    gather_labels(cpu, idx.size(), src.data(), idx.data(), dst.data());
    EXPECT_EQ(dst, (std::vector<std::int32_t>{42, 4, 4, 16, -1}));
    gather_labels(cpu, 0, src.data(), idx.data(), dst.data());
    EXPECT_EQ(dst[0], 42);
    const double acc[2] = {3.25, 17.0};
    double host[2] = {0, 0};
    read_accumulator(cpu, acc, host);
    EXPECT_EQ(host[0], 3.25);
    EXPECT_EQ(host[1], 17.0);
}

TYPED_TEST(CpuOps, AllFiniteDetectsNaNAndInf) {
    using T = TypeParam;
    using L = std::numeric_limits<T>;
    std::vector<T> x = uniform<T>(this->rng, 37);
    EXPECT_TRUE(all_finite(this->cpu, 0, x.data()));
    EXPECT_TRUE(all_finite(this->cpu, x.size(), x.data()));
    x[5] = L::max();
    EXPECT_TRUE(all_finite(this->cpu, x.size(), x.data()));
    for (T bad : {L::quiet_NaN(), L::infinity(), -L::infinity()})
        for (size_t pos : {size_t{0}, size_t{17}, size_t{36}}) {
            auto y = x;
            y[pos] = bad;
            EXPECT_FALSE(all_finite(this->cpu, y.size(), y.data())) << bad << " at " << pos;
            EXPECT_EQ(all_finite(this->cpu, pos, y.data()), true) << "prefix before " << pos;
        }
}

// --- optimizer updates ----------------------------------------------------

constexpr double penalties[][2] = {{0.0, 0.0}, {0.01, 0.0}, {0.0, 0.02}, {0.01, 0.02}};

// Three steps of `op(w, g, state, t, l1, l2)` on 9 parameters (w[0] starts at
// exactly 0, state at 0) for each penalty, against the naive per-element rule
// `ref(w_i, g_i', &state_i, slot_stride, t)` fed g' = g + l1*sign(w) + 2*l2*w.
template <class T, class Op, class Ref>
void check_update(Rng& rng, size_t slots, Op op, Ref ref) {
    const size_t n = 9;
    for (const auto& pen : penalties) {
        const double l1 = double(T(pen[0])), l2 = double(T(pen[1]));
        auto w = uniform<T>(rng, n);
        w[0] = T(0);
        std::vector<double> rw(w.begin(), w.end()), rs(slots * n, 0.0);
        std::vector<T> s(slots * n, T(0));
        for (int t = 1; t <= 3; ++t) {
            const auto g = uniform<T>(rng, n);
            op(w.data(), g.data(), s.data(), t, T(l1), T(l2));
            for (size_t i = 0; i < n; ++i)  // sign(0) = 0
                ref(rw[i], g[i] + l1 * double((rw[i] > 0) - (rw[i] < 0)) + 2.0 * l2 * rw[i], &rs[i], n, t);
            const std::string what = "step " + std::to_string(t) + " l1,l2=" + std::to_string(l1) + "," +
                                     std::to_string(l2);
            expect_close(w, rw, tol<T>, "weights " + what);
            expect_close(s, rs, tol<T>, "state " + what);
        }
    }
}

TYPED_TEST(CpuOps, SgdUpdateMatchesNaive) {
    using T = TypeParam;
    const double lr = double(T(0.1));
    const Cpu& cpu = this->cpu;
    const std::pair<double, bool> variants[] = {{0.0, false}, {0.9, false}, {0.9, true}};  // (momentum, nesterov)
    for (const auto& variant : variants) {  // no structured binding: lambdas capture these (clang < 16)
        const double mom = double(T(variant.first));
        const bool nesterov = variant.second;
        check_update<T>(
            this->rng, 1,
            [&](T* w, const T* g, T* v, int, T l1, T l2) {
                sgd_update(cpu, 9, w, g, v, T(lr), T(mom), nesterov, l1, l2);
            },
            [&](double& w, double g, double* v, size_t, int) {
                if (mom == 0.0) {  // plain step; the velocity is never touched (stays 0)
                    w -= lr * g;
                    return;
                }
                v[0] = mom * v[0] - lr * g;
                w += nesterov ? mom * v[0] - lr * g : v[0];
            });
    }
}

TYPED_TEST(CpuOps, RmspropUpdateMatchesNaive) {
    using T = TypeParam;
    const double lr = double(T(0.01)), rho = double(T(0.9)), eps = double(T(1e-7));
    const Cpu& cpu = this->cpu;
    check_update<T>(
        this->rng, 1,
        [&](T* w, const T* g, T* s, int, T l1, T l2) {
            rmsprop_update(cpu, 9, w, g, s, T(lr), T(rho), T(eps), l1, l2);
        },
        [&](double& w, double g, double* s, size_t, int) {
            s[0] = rho * s[0] + (1.0 - rho) * g * g;
            w -= lr * g / (std::sqrt(s[0]) + eps);
        });
}

TYPED_TEST(CpuOps, AdamUpdateMatchesNaive) {
    using T = TypeParam;
    const double lr = double(T(0.01)), b1 = double(T(0.9)), b2 = double(T(0.999)), eps = double(T(1e-7));
    const Cpu& cpu = this->cpu;
    const auto c1 = [&](int t) { return 1.0 - std::pow(b1, t); };  // bias corrections
    const auto c2 = [&](int t) { return 1.0 - std::pow(b2, t); };
    check_update<T>(
        this->rng, 2,
        [&](T* w, const T* g, T* mv, int t, T l1, T l2) {
            adam_update(cpu, 9, w, g, mv, mv + 9, T(lr), T(b1), T(b2), T(eps), T(c1(t)), T(c2(t)), l1, l2);
        },
        [&](double& w, double g, double* m, size_t n, int t) {  // m[0] first moment, m[n] second
            m[0] = b1 * m[0] + (1.0 - b1) * g;
            m[n] = b2 * m[n] + (1.0 - b2) * g * g;
            w -= lr * (m[0] / c1(t)) / (std::sqrt(m[n] / c2(t)) + eps);
        });
}

}  // namespace
