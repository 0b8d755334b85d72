// tests/test_conv_ops.cpp - the CPU backend's convolution and pooling ops
// against naive direct loops.
//
// References are the textbook nested loops in double over the op's own
// (T-valued) inputs, with padding as bounds checks. Tolerances: float 1e-4,
// double 1e-10, relative to max(1, |want|); sums here have at most a few
// thousand terms of magnitude below 1, so rounding stays far inside them.
// The backward ops are also checked through the adjoint identities, which
// hold whatever the forward reference says.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <typenet/backend/cpu/cpu.hpp>
#include <typenet/core/conv_geometry.hpp>
#include <typenet/core/random.hpp>

namespace {

using namespace typenet;
using std::size_t;

template <class T>
constexpr double tol = std::is_same_v<T, float> ? 1e-4 : 1e-10;

template <class T>
std::vector<T> uniform(Rng& rng, size_t n) {
    std::vector<T> v(n);
    for (auto& x : v) x = T(rng.uniform(-1.0, 1.0));
    return v;
}

// Garbage that an op must overwrite, never read.
template <class T>
std::vector<T> poisoned(size_t n) {
    return std::vector<T>(n, std::numeric_limits<T>::quiet_NaN());
}

template <class T>
void expect_close(const std::vector<T>& got, const std::vector<double>& want, const std::string& what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    for (size_t i = 0; i < got.size(); ++i) {
        const double t = tol<T> * std::max(1.0, std::abs(want[i]));
        if (!(std::abs(double(got[i]) - want[i]) <= t)) {
            ADD_FAILURE() << what << " [" << i << "]: got " << got[i] << ", want " << want[i];
            return;
        }
    }
}

template <class T>
bool bitwise_equal(const std::vector<T>& a, const std::vector<T>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

template <class T>
double dot(const std::vector<T>& a, const std::vector<T>& b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * double(b[i]);
    return s;
}

std::string describe(const Conv2dGeometry& g) {
    std::string s;
    for (size_t v : {g.n, g.c_in, g.h, g.w, g.c_out, g.kh, g.kw, g.stride_h, g.stride_w, g.pad_h, g.pad_w})
        s += std::to_string(v) + ",";
    return "geometry (n,c_in,h,w,c_out,kh,kw,sh,sw,ph,pw) = (" + s + ")";
}

// ---- naive references --------------------------------------------------

// Calls f(x index, y index, w index) for every tap of the direct 7-loop
// convolution that reads inside x (taps on the padding read zero).
template <class F>
void for_each_tap(const Conv2dGeometry& g, F&& f) {
    for (size_t i = 0; i < g.n; ++i)
        for (size_t co = 0; co < g.c_out; ++co)
            for (size_t oh = 0; oh < g.out_h; ++oh)
                for (size_t ow = 0; ow < g.out_w; ++ow)
                    for (size_t ci = 0; ci < g.c_in; ++ci)
                        for (size_t ki = 0; ki < g.kh; ++ki)
                            for (size_t kj = 0; kj < g.kw; ++kj) {
                                const auto ih = std::ptrdiff_t(oh * g.stride_h + ki) - std::ptrdiff_t(g.pad_h);
                                const auto iw = std::ptrdiff_t(ow * g.stride_w + kj) - std::ptrdiff_t(g.pad_w);
                                if (ih < 0 || iw < 0 || ih >= std::ptrdiff_t(g.h) || iw >= std::ptrdiff_t(g.w))
                                    continue;
                                f(((i * g.c_in + ci) * g.h + size_t(ih)) * g.w + size_t(iw),
                                  ((i * g.c_out + co) * g.out_h + oh) * g.out_w + ow,
                                  ((co * g.c_in + ci) * g.kh + ki) * g.kw + kj);
                            }
}

// y = conv(x, w) + bias (bias may be null) and, for dy, the gradients dx, dw, db.
struct ConvRef {
    std::vector<double> y, dx, dw, db;
};
template <class T>
ConvRef ref_conv(const Conv2dGeometry& g, const std::vector<T>& x, const std::vector<T>& w, const T* bias,
                 const std::vector<T>& dy) {
    ConvRef r{std::vector<double>(g.output_size()), std::vector<double>(g.input_size()),
              std::vector<double>(g.weight_size()), std::vector<double>(g.c_out)};
    for (size_t j = 0; j < r.y.size(); ++j) {
        const size_t c = j / (g.out_h * g.out_w) % g.c_out;
        r.y[j] = bias ? double(bias[c]) : 0.0;
        r.db[c] += double(dy[j]);
    }
    for_each_tap(g, [&](size_t xi, size_t yi, size_t wi) {
        r.y[yi] += double(x[xi]) * double(w[wi]);
        r.dx[xi] += double(w[wi]) * double(dy[yi]);
        r.dw[wi] += double(x[xi]) * double(dy[yi]);
    });
    return r;
}

// Max pooling (the first maximum in row-major window order wins; dy goes to
// it) and average pooling, forward and backward.
struct PoolRef {
    std::vector<double> max_y, max_dx, avg_y, avg_dx;
    std::vector<std::int32_t> argmax;
};
template <class T>
PoolRef ref_pool(const Pool2dGeometry& g, const std::vector<T>& x, const std::vector<T>& dy) {
    PoolRef r{std::vector<double>(g.output_size()), std::vector<double>(g.input_size()),
              std::vector<double>(g.output_size()), std::vector<double>(g.input_size()),
              std::vector<std::int32_t>(g.output_size(), -1)};
    const double scale = 1.0 / double(g.kh * g.kw);
    for (size_t p = 0; p < g.n * g.c; ++p)
        for (size_t oh = 0; oh < g.out_h; ++oh)
            for (size_t ow = 0; ow < g.out_w; ++ow) {
                const size_t o = (p * g.out_h + oh) * g.out_w + ow;
                for (size_t ki = 0; ki < g.kh; ++ki)
                    for (size_t kj = 0; kj < g.kw; ++kj) {
                        const size_t at = (oh * g.stride_h + ki) * g.w + ow * g.stride_w + kj;
                        const double v = double(x[p * g.h * g.w + at]);
                        if (r.argmax[o] < 0 || v > r.max_y[o]) r.max_y[o] = v, r.argmax[o] = std::int32_t(at);
                        r.avg_y[o] += v * scale;
                        r.avg_dx[p * g.h * g.w + at] += double(dy[o]) * scale;
                    }
                r.max_dx[p * g.h * g.w + size_t(r.argmax[o])] += double(dy[o]);
            }
    return r;
}

// ---- geometry -------------------------------------------------------------

TEST(ConvGeometry, ValidPadding) {
    constexpr auto g = make_conv2d_geometry(64, 1, 28, 28, 32, 3, 3, 1, 1, Padding::valid);
    static_assert(g.out_h == 26 && g.out_w == 26 && g.pad_h == 0 && g.pad_w == 0);
    const auto r = make_conv2d_geometry(2, 3, 7, 5, 4, 3, 2, 2, 1, Padding::valid);
    EXPECT_EQ(r.out_h, 3u);  // (7-3)/2+1
    EXPECT_EQ(r.out_w, 4u);  // (5-2)/1+1
    const auto whole = make_conv2d_geometry(1, 1, 5, 4, 1, 5, 4, 1, 1, Padding::valid);
    EXPECT_EQ(whole.out_h * whole.out_w, 1u);
    EXPECT_THROW(make_conv2d_geometry(1, 1, 2, 5, 1, 3, 3, 1, 1, Padding::valid), ArgumentError);
    EXPECT_THROW(make_conv2d_geometry(1, 1, 5, 5, 1, 3, 3, 0, 1, Padding::valid), ArgumentError);
}

TEST(ConvGeometry, SamePaddingFollowsTensorFlow) {
    constexpr auto s1 = make_conv2d_geometry(1, 1, 28, 28, 8, 3, 3, 1, 1, Padding::same);
    static_assert(s1.out_h == 28 && s1.pad_h == 1 && s1.pad_w == 1);
    const auto s2 = make_conv2d_geometry(1, 1, 7, 7, 1, 3, 3, 2, 2, Padding::same);
    EXPECT_EQ(s2.out_h, 4u);  // ceil(7/2)
    EXPECT_EQ(s2.pad_h, 1u);  // total (4-1)*2+3-7 = 2: 1 on top, 1 below
    const auto even = make_conv2d_geometry(1, 1, 8, 8, 1, 3, 3, 2, 2, Padding::same);
    EXPECT_EQ(even.out_h, 4u);
    EXPECT_EQ(even.pad_h, 0u);  // total (4-1)*2+3-8 = 1: the one extra row goes to the bottom
    const auto k4 = make_conv2d_geometry(1, 1, 6, 6, 1, 4, 2, 1, 1, Padding::same);
    EXPECT_EQ(k4.pad_h, 1u);  // total 3: 1 on top, 2 below
    EXPECT_EQ(k4.pad_w, 0u);  // total 1: on the right
    const auto p = make_pool2d_geometry(2, 3, 7, 5, 2, 2, 2, 2);
    EXPECT_EQ(p.out_h, 3u);
    EXPECT_EQ(p.out_w, 2u);
}

// ---- convolution ops --------------------------------------------------------

struct ConvCase {
    size_t n, c_in, h, w, c_out, kh, kw, sh, sw;
    Padding padding;
};

std::vector<Conv2dGeometry> conv_cases() {
    const ConvCase fixed[] = {
        {1, 1, 7, 5, 1, 3, 3, 1, 1, Padding::valid},     // one channel, odd sizes, c_out 1, batch 1
        {5, 3, 7, 5, 4, 3, 2, 1, 1, Padding::valid},     // rectangular kernel, batch 5
        {2, 2, 9, 8, 3, 3, 3, 2, 2, Padding::valid},     // stride 2
        {3, 2, 7, 7, 2, 3, 3, 1, 1, Padding::same},      // same, stride 1
        {2, 3, 7, 6, 3, 3, 3, 2, 2, Padding::same},      // same, stride 2
        {5, 2, 5, 4, 3, 5, 4, 1, 1, Padding::valid},     // kernel == input
        {1, 2, 4, 5, 2, 2, 3, 2, 1, Padding::same},      // even kernel, mixed strides
        {2, 1, 3, 3, 2, 5, 5, 1, 1, Padding::same},      // kernel larger than the input
        {2, 3, 8, 8, 4, 1, 1, 1, 1, Padding::valid},     // 1x1
        {1, 1, 1, 1, 1, 1, 1, 1, 1, Padding::valid},     // a single value
        {5, 3, 24, 22, 8, 3, 3, 1, 1, Padding::valid},   // big enough for the threaded loops
        {3, 4, 19, 17, 5, 4, 3, 3, 2, Padding::same},
    };
    std::vector<Conv2dGeometry> out;
    for (const auto& c : fixed)
        out.push_back(make_conv2d_geometry(c.n, c.c_in, c.h, c.w, c.c_out, c.kh, c.kw, c.sh, c.sw, c.padding));
    Rng rng(7);
    const auto pick = [&](size_t lo, size_t hi) { return lo + size_t(rng.below(hi - lo + 1)); };
    for (int k = 0; k < 16; ++k) {
        const size_t h = pick(1, 10), w = pick(1, 10);
        const auto padding = rng.below(2) ? Padding::same : Padding::valid;
        const size_t kh = padding == Padding::same ? pick(1, 5) : pick(1, h);
        const size_t kw = padding == Padding::same ? pick(1, 5) : pick(1, w);
        out.push_back(make_conv2d_geometry(pick(1, 5), pick(1, 4), h, w, pick(1, 4), kh, kw, pick(1, 3), pick(1, 3),
                                           padding));
    }
    return out;
}

template <class T>
class ConvOps : public ::testing::Test {};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(ConvOps, Scalars);

// Runs the three conv ops for g with `block` images per GEMM (0: the public
// ops' own choice) twice on one workspace and checks them against the references.
template <class T>
void check_conv(const Cpu& be, const Conv2dGeometry& g, size_t block) {
    SCOPED_TRACE(describe(g) + " block " + std::to_string(block) + " threads " + std::to_string(be.threads()));
    Rng rng(g.n * 1000 + g.h * 10 + g.w);
    const auto x = uniform<T>(rng, g.input_size()), w = uniform<T>(rng, g.weight_size());
    const auto bias = uniform<T>(rng, g.c_out), dy = uniform<T>(rng, g.output_size());
    auto ws = poisoned<T>(block ? cpu_detail::conv2d_workspace_blocks(g, block) : conv2d_workspace(be, g));
    T* wsp = ws.empty() ? nullptr : ws.data();

    namespace cd = cpu_detail;
    const auto forward = [&](const T* b) {
        auto y = poisoned<T>(g.output_size());
        block ? cd::conv2d_forward_blocks(be, g, block, x.data(), w.data(), b, y.data(), wsp)
              : conv2d_forward(be, g, x.data(), w.data(), b, y.data(), wsp);
        return y;
    };
    const auto backward_data = [&] {
        auto dx = poisoned<T>(g.input_size());
        block ? cd::conv2d_backward_data_blocks(be, g, block, dy.data(), w.data(), dx.data(), wsp)
              : conv2d_backward_data(be, g, dy.data(), w.data(), dx.data(), wsp);
        return dx;
    };
    const auto backward_filter = [&](std::vector<T>& dw, T* db) {
        dw = poisoned<T>(g.weight_size());
        block ? cd::conv2d_backward_filter_blocks(be, g, block, x.data(), dy.data(), dw.data(), db, wsp)
              : conv2d_backward_filter(be, g, x.data(), dy.data(), dw.data(), db, wsp);
    };

    const ConvRef want = ref_conv(g, x, w, bias.data(), dy);
    const auto y = forward(bias.data());
    expect_close(y, want.y, "forward with bias");
    expect_close(forward(nullptr), ref_conv<T>(g, x, w, nullptr, dy).y, "forward without bias");
    const auto dx = backward_data();
    expect_close(dx, want.dx, "backward_data");
    std::vector<T> dw, dw_nobias, db = poisoned<T>(g.c_out);
    backward_filter(dw, db.data());
    expect_close(dw, want.dw, "backward_filter dw");
    expect_close(db, want.db, "backward_filter db");
    backward_filter(dw_nobias, nullptr);
    EXPECT_TRUE(bitwise_equal(dw, dw_nobias)) << "dw depends on whether db is requested";

    // Same workspace again (now holding the last op's leftovers): same bits.
    EXPECT_TRUE(bitwise_equal(y, forward(bias.data()))) << "forward is not repeatable";
    EXPECT_TRUE(bitwise_equal(dx, backward_data())) << "backward_data is not repeatable";
    std::vector<T> dw2, db2(g.c_out);
    backward_filter(dw2, db2.data());
    EXPECT_TRUE(bitwise_equal(dw, dw2) && bitwise_equal(db, db2)) << "backward_filter is not repeatable";
}

TYPED_TEST(ConvOps, MatchNaiveLoops) {
    const Cpu one{1}, three{3};
    for (const auto& g : conv_cases()) {
        check_conv<TypeParam>(one, g, 0);
        check_conv<TypeParam>(three, g, 0);
    }
}

// Every block size the public ops might pick, including ones that leave a
// short last block, gives the same answer.
TYPED_TEST(ConvOps, AnyImagesPerBlock) {
    const Cpu be{2};
    for (const auto& c : {ConvCase{5, 3, 9, 8, 4, 3, 3, 1, 1, Padding::valid},
                          ConvCase{7, 2, 11, 10, 3, 3, 2, 2, 1, Padding::same}}) {
        const auto g = make_conv2d_geometry(c.n, c.c_in, c.h, c.w, c.c_out, c.kh, c.kw, c.sh, c.sw, c.padding);
        for (size_t block : {1, 2, 3, 5, 7}) check_conv<TypeParam>(be, g, block);
    }
}

// <conv(x), dy> = <x, backward_data(dy)> = <w, backward_filter(x, dy)> for the
// bias-free convolution, and <dy, 1 per channel> = db: the backward ops are the
// exact adjoints of the forward one.
TEST(ConvOpsAdjoint, BackwardOpsAreAdjoints) {
    const Cpu be{2};
    for (const auto& g : conv_cases()) {
        SCOPED_TRACE(describe(g));
        Rng rng(11 + g.n + g.h);
        const auto x = uniform<double>(rng, g.input_size()), w = uniform<double>(rng, g.weight_size());
        const auto dy = uniform<double>(rng, g.output_size()), bias = uniform<double>(rng, g.c_out);
        std::vector<double> ws(conv2d_workspace(be, g)), y(g.output_size()), yb(g.output_size());
        std::vector<double> dx(g.input_size()), dw(g.weight_size()), db(g.c_out);
        conv2d_forward(be, g, x.data(), w.data(), static_cast<const double*>(nullptr), y.data(), ws.data());
        conv2d_forward(be, g, x.data(), w.data(), bias.data(), yb.data(), ws.data());
        conv2d_backward_data(be, g, dy.data(), w.data(), dx.data(), ws.data());
        conv2d_backward_filter(be, g, x.data(), dy.data(), dw.data(), db.data(), ws.data());
        const double ydy = dot(y, dy), scale = std::max(1.0, std::abs(ydy));
        EXPECT_NEAR(dot(x, dx), ydy, 1e-10 * scale);
        EXPECT_NEAR(dot(w, dw), ydy, 1e-10 * scale);
        EXPECT_NEAR(dot(yb, dy) - ydy, dot(bias, db), 1e-10 * scale);
    }
}

// ---- pooling ops --------------------------------------------------------------

std::vector<Pool2dGeometry> pool_cases() {
    return {make_pool2d_geometry(2, 3, 8, 8, 2, 2, 2, 2),    // the reference CNN's pooling
            make_pool2d_geometry(1, 1, 7, 5, 2, 2, 2, 2),    // odd sizes: the last row / column is dropped
            make_pool2d_geometry(3, 2, 9, 7, 3, 3, 2, 2),    // overlapping windows
            make_pool2d_geometry(2, 2, 6, 7, 3, 2, 1, 2),    // rectangular, stride 1 rows
            make_pool2d_geometry(1, 2, 4, 5, 4, 5, 1, 1),    // window == input
            make_pool2d_geometry(8, 8, 26, 26, 2, 2, 2, 2),  // big enough for the threaded loops
            make_pool2d_geometry(5, 8, 30, 30, 3, 3, 2, 2)};
}

template <class T>
class PoolOps : public ::testing::Test {};
TYPED_TEST_SUITE(PoolOps, Scalars);

TYPED_TEST(PoolOps, MatchNaiveLoops) {
    using T = TypeParam;
    for (const Cpu& be : {Cpu{1}, Cpu{3}})
        for (const auto& g : pool_cases()) {
            Rng rng(g.h * 31 + g.w);
            const auto x = uniform<T>(rng, g.input_size()), dy = uniform<T>(rng, g.output_size());
            const PoolRef want = ref_pool(g, x, dy);
            auto y = poisoned<T>(g.output_size()), dx = poisoned<T>(g.input_size()), dx2 = dx;
            std::vector<std::int32_t> arg(g.output_size(), -7);
            maxpool2d_forward(be, g, x.data(), y.data(), arg.data());
            maxpool2d_backward(be, g, dy.data(), arg.data(), dx.data());
            maxpool2d_backward(be, g, dy.data(), arg.data(), dx2.data());
            expect_close(y, want.max_y, "maxpool forward");
            EXPECT_EQ(arg, want.argmax);
            expect_close(dx, want.max_dx, "maxpool backward");
            EXPECT_TRUE(bitwise_equal(dx, dx2)) << "maxpool backward is not repeatable";
            // With the ReLU's backward folded in (x read as the ReLU's output;
            // half of it <= 0; the op is given the pooled y): the naive
            // gradient, zero where x <= 0.
            auto dx_relu = poisoned<T>(g.input_size());
            maxpool2d_backward(be, g, dy.data(), arg.data(), dx_relu.data(), y.data());
            std::vector<double> want_relu = want.max_dx;
            for (std::size_t i = 0; i < x.size(); ++i)
                if (!(x[i] > T(0))) want_relu[i] = 0.0;
            expect_close(dx_relu, want_relu, "maxpool backward with the ReLU folded in");
            avgpool2d_forward(be, g, x.data(), y.data());
            avgpool2d_backward(be, g, dy.data(), dx.data());
            expect_close(y, want.avg_y, "avgpool forward");
            expect_close(dx, want.avg_dx, "avgpool backward");
            if constexpr (std::is_same_v<T, double>) {  // adjoint: <avg(x), dy> = <x, avg_backward(dy)>
                EXPECT_NEAR(dot(y, dy), dot(x, dx), 1e-12 * std::max(1.0, std::abs(dot(y, dy))));
            }
        }
}

TYPED_TEST(PoolOps, MaxPoolTiesGoToTheFirstElementOfEachWindow) {
    using T = TypeParam;
    const Cpu be{1};
    const auto g = make_pool2d_geometry(1, 1, 4, 6, 2, 3, 2, 3);  // 2x2 disjoint windows of 2x3
    const std::vector<T> x(g.input_size(), T(0.5)), dy = {1, 2, 3, 4};
    std::vector<T> y(g.output_size()), dx(g.input_size()), want(g.input_size(), T(0));
    std::vector<std::int32_t> arg(g.output_size());
    maxpool2d_forward(be, g, x.data(), y.data(), arg.data());
    maxpool2d_backward(be, g, dy.data(), arg.data(), dx.data());
    EXPECT_EQ(arg, (std::vector<std::int32_t>{0, 3, 12, 15}));  // each window's top-left
    want[0] = 1, want[3] = 2, want[12] = 3, want[15] = 4;
    EXPECT_EQ(dx, want);
}

TYPED_TEST(PoolOps, MaxPoolNaNWinsOnlyWhenFirstInItsWindow) {
    using T = TypeParam;
    const auto g = make_pool2d_geometry(1, 1, 2, 4, 2, 2, 2, 2);  // windows {0,1,4,5} and {2,3,6,7}
    const T nan = std::numeric_limits<T>::quiet_NaN();
    const std::vector<T> x = {nan, 1, 5, nan, 2, 3, 4, 6};
    std::vector<T> y(2);
    std::vector<std::int32_t> arg(2);
    maxpool2d_forward(Cpu{1}, g, x.data(), y.data(), arg.data());
    EXPECT_TRUE(std::isnan(y[0]) && arg[0] == 0);
    EXPECT_TRUE(y[1] == T(6) && arg[1] == 7);
}

TYPED_TEST(PoolOps, MaxPoolOverlappingWindowsAccumulate) {
    using T = TypeParam;
    const Cpu be{1};
    // Kernel 3, stride 2 on 5x5: the centre value 9 is the max of all four windows.
    const auto g = make_pool2d_geometry(1, 1, 5, 5, 3, 3, 2, 2);
    std::vector<T> x(g.input_size(), T(0)), y(g.output_size()), dx(g.input_size());
    x[12] = T(9);
    const std::vector<T> dy = {T(1), T(2), T(3), T(4)};
    std::vector<std::int32_t> arg(g.output_size());
    maxpool2d_forward(be, g, x.data(), y.data(), arg.data());
    maxpool2d_backward(be, g, dy.data(), arg.data(), dx.data());
    EXPECT_EQ(arg, (std::vector<std::int32_t>(4, 12)));
    EXPECT_EQ(dx[12], T(10));
    EXPECT_EQ(std::count(dx.begin(), dx.end(), T(0)), 24);
}

// ---- Conv2D + ReLU + MaxPool2D as one op ------------------------------------

// conv2d_relu_maxpool_forward against conv2d_forward(relu) then
// maxpool2d_forward, bit for bit: the fused direct path (stride 1, valid,
// 2x2 pooling; odd outputs floor), and the shapes it hands to the two ops.
struct ConvPoolCase {
    size_t n, c_in, h, w, c_out, k, stride, pool;
    Padding pad;
    Conv2dGeometry conv() const { return make_conv2d_geometry(n, c_in, h, w, c_out, k, k, stride, stride, pad); }
    Pool2dGeometry pooling() const {
        const auto g = conv();
        return make_pool2d_geometry(n, c_out, g.out_h, g.out_w, pool, pool, pool, pool);
    }
    std::string name(const Cpu& be) const {
        return std::to_string(n) + "x" + std::to_string(c_in) + "x" + std::to_string(h) + "x" + std::to_string(w) +
               " -> " + std::to_string(c_out) + ", " + std::to_string(be.threads()) + " threads";
    }
};
const ConvPoolCase conv_pool_cases[] = {
    {1, 1, 28, 28, 32, 3, 1, 2, Padding::valid},   // the reference CNN's conv1: 26 -> 13
    {3, 32, 13, 13, 17, 3, 1, 2, Padding::valid},  // 11 -> 5 (floor)
    {63, 3, 7, 9, 5, 3, 1, 2, Padding::valid},     // 5x7 -> 2x3
    {65, 2, 12, 10, 33, 5, 1, 2, Padding::valid},  // kernel 5
    {64, 1, 13, 13, 19, 3, 1, 2, Padding::valid},  // 11 -> 5 with few taps
    {63, 9, 9, 11, 5, 3, 1, 2, Padding::valid},    // 81 taps over 9 channels: 7x9 -> 3x4
    {3, 2, 9, 9, 4, 3, 2, 2, Padding::valid},      // stride 2: the two ops
    {3, 2, 9, 9, 4, 3, 1, 2, Padding::same},       // padded: the two ops
    {3, 2, 11, 11, 4, 3, 1, 3, Padding::valid},    // a 3x3 pooling: the two ops
};

// f(be, case, conv geometry, pool geometry, name) for each case on 1 and 3 threads.
template <class F>
void for_each_conv_pool_case(F&& f) {
    for (const Cpu& be : {Cpu{1}, Cpu{3}})
        for (const ConvPoolCase& c : conv_pool_cases) f(be, c, c.conv(), c.pooling(), c.name(be));
}

TYPED_TEST(PoolOps, ConvReluMaxPoolEqualsTheTwoOps) {
    using T = TypeParam;
    for_each_conv_pool_case([](const Cpu& be, const ConvPoolCase& c, const Conv2dGeometry& g,
                               const Pool2dGeometry& pg, const std::string& what) {
        Rng rng(c.n * 7 + c.c_out);
        const auto x = uniform<T>(rng, g.input_size()), w = uniform<T>(rng, g.weight_size()),
                   b = uniform<T>(rng, g.c_out);
        std::vector<T> ws(conv2d_workspace(be, g) + 1);
        auto conv = poisoned<T>(g.output_size()), want = poisoned<T>(pg.output_size());
        std::vector<std::int32_t> want_at(pg.output_size(), -7);
        conv2d_forward(be, g, x.data(), w.data(), b.data(), conv.data(), ws.data(), true);
        maxpool2d_forward(be, pg, conv.data(), want.data(), want_at.data());

        auto conv2 = poisoned<T>(g.output_size()), y = poisoned<T>(pg.output_size() + 1);
        std::vector<std::int32_t> at(pg.output_size() + 1, -7);
        const bool stored = conv2d_relu_maxpool_forward(be, g, pg, x.data(), w.data(), b.data(), conv2.data(),
                                                        y.data(), at.data(), ws.data());
        y.pop_back(), at.pop_back();
        EXPECT_TRUE(bitwise_equal(y, want)) << what;
        EXPECT_EQ(at, want_at) << what;
        if (stored) {
            EXPECT_TRUE(bitwise_equal(conv2, conv)) << what;
        }
        const bool direct = std::is_same_v<T, float> && be.isa() != CpuIsa::portable && c.stride == 1 &&
                            c.pad == Padding::valid && c.pool == 2;
        EXPECT_EQ(stored, !direct) << what << ": the fused kernels should pool without storing";
    });
}

// conv2d_relu_maxpool_backward_filter and _backward against
// maxpool2d_backward (with the ReLU's mask) then conv2d_backward_filter (and
// _backward_data): bit for bit, but for the float
// direct kernels with at most 16 taps, which sum only the windows' argmax
// positions (in another order: close, and repeatable); the float direct
// kernels with few taps never touch the conv_dy scratch.
TYPED_TEST(PoolOps, ConvReluMaxPoolBackwardEqualsTheSeparateOps) {
    using T = TypeParam;
    for_each_conv_pool_case([](const Cpu& be, const ConvPoolCase& c, const Conv2dGeometry& g,
                               const Pool2dGeometry& pg, const std::string& what) {
        Rng rng(c.n * 11 + c.c_out);
        const auto x = uniform<T>(rng, g.input_size()), w = uniform<T>(rng, g.weight_size()),
                   b = uniform<T>(rng, g.c_out), pool_dy = uniform<T>(rng, pg.output_size());
        std::vector<T> ws(conv2d_workspace(be, g) + 1), conv(g.output_size()), pool_y(pg.output_size());
        std::vector<std::int32_t> at(pg.output_size());
        conv2d_forward(be, g, x.data(), w.data(), b.data(), conv.data(), ws.data(), true);
        maxpool2d_forward(be, pg, conv.data(), pool_y.data(), at.data());
        ASSERT_TRUE(std::any_of(pool_y.begin(), pool_y.end(), [](T v) { return v == T(0); })) << what;

        auto dconv = poisoned<T>(g.output_size()), want_dw = poisoned<T>(g.weight_size()),
             want_db = poisoned<T>(g.c_out);
        maxpool2d_backward(be, pg, pool_dy.data(), at.data(), dconv.data(), pool_y.data());
        conv2d_backward_filter(be, g, x.data(), dconv.data(), want_dw.data(), want_db.data(), ws.data());

        auto scratch = poisoned<T>(g.output_size()), dw = poisoned<T>(g.weight_size() + 1),
             db = poisoned<T>(g.c_out + 1);
        const T canary = dw.back();
        conv2d_relu_maxpool_backward_filter(be, g, pg, x.data(), pool_y.data(), at.data(), pool_dy.data(),
                                            scratch.data(), dw.data(), db.data(), ws.data());
        EXPECT_TRUE(bitwise_equal(std::vector<T>{dw.back(), db.back()}, std::vector<T>{canary, canary})) << what;
        dw.pop_back(), db.pop_back();
        const bool direct = std::is_same_v<T, float> && be.isa() != CpuIsa::portable && c.stride == 1 &&
                            c.pad == Padding::valid && c.pool == 2 && c.c_in * c.k * c.k < 64;
        if (direct && c.c_in * c.k * c.k <= 16) {
            expect_close(dw, std::vector<double>(want_dw.begin(), want_dw.end()), what + " dw");
            expect_close(db, std::vector<double>(want_db.begin(), want_db.end()), what + " db");
            auto dw2 = poisoned<T>(g.weight_size()), db2 = poisoned<T>(g.c_out);
            conv2d_relu_maxpool_backward_filter(be, g, pg, x.data(), pool_y.data(), at.data(), pool_dy.data(),
                                                scratch.data(), dw2.data(), db2.data(), ws.data());
            EXPECT_TRUE(bitwise_equal(dw, dw2) && bitwise_equal(db, db2)) << what << ": not repeatable";
        } else {
            EXPECT_TRUE(bitwise_equal(dw, want_dw)) << what;
            EXPECT_TRUE(bitwise_equal(db, want_db)) << what;
        }
        EXPECT_EQ(bitwise_equal(scratch, poisoned<T>(g.output_size())), direct)
            << what << ": the fused kernels should route the pooled gradient without storing the full one";

        // The whole backward, conv2d_relu_maxpool_backward, against the three
        // ops (conv2d_backward_data too): bit for bit, but for the float
        // direct kernels with many taps (conv2d_direct_pool_sparse_supported),
        // which visit only the argmax positions (close, repeatable) and never
        // touch conv_dy. Without dx it is the backward-filter op above.
        auto want_dx = poisoned<T>(g.input_size());
        conv2d_backward_data(be, g, dconv.data(), w.data(), want_dx.data(), ws.data());
        const auto whole = [&](std::vector<T>& scratch_) {
            auto dx_ = poisoned<T>(g.input_size()), dw_ = poisoned<T>(g.weight_size()), db_ = poisoned<T>(g.c_out);
            conv2d_relu_maxpool_backward(be, g, pg, x.data(), w.data(), pool_y.data(), at.data(), pool_dy.data(),
                                         scratch_.data(), dx_.data(), dw_.data(), db_.data(), ws.data());
            return std::tuple{dx_, dw_, db_};
        };
        auto scratch3 = poisoned<T>(g.output_size());
        const auto [dx3, dw3, db3] = whole(scratch3);
        const bool sparse = std::is_same_v<T, float> && be.isa() != CpuIsa::portable && c.stride == 1 &&
                            c.pad == Padding::valid && c.pool == 2 && conv2d_direct_pool_sparse_supported(be, g, pg);
        if (sparse) {
            expect_close(dx3, std::vector<double>(want_dx.begin(), want_dx.end()), what + " dx");
            expect_close(dw3, std::vector<double>(want_dw.begin(), want_dw.end()), what + " dw");
            expect_close(db3, std::vector<double>(want_db.begin(), want_db.end()), what + " db");
            const auto [dx4, dw4, db4] = whole(scratch3);
            EXPECT_TRUE(bitwise_equal(dx3, dx4) && bitwise_equal(dw3, dw4) && bitwise_equal(db3, db4))
                << what << ": not repeatable";
        } else {
            EXPECT_TRUE(bitwise_equal(dx3, want_dx)) << what;
            EXPECT_TRUE(bitwise_equal(dw3, want_dw)) << what;
            EXPECT_TRUE(bitwise_equal(db3, want_db)) << what;
        }
        EXPECT_EQ(bitwise_equal(scratch3, poisoned<T>(g.output_size())), sparse)
            << what << ": the sparse kernels should not store the convolution's gradient";
        if (std::is_same_v<T, float> && c.c_in == 32) {  // the reference CNN's conv2 takes that route on x86-64
            EXPECT_EQ(sparse, be.isa() != CpuIsa::portable) << what;
        }
        auto dw5 = poisoned<T>(g.weight_size()), db5 = poisoned<T>(g.c_out);
        conv2d_relu_maxpool_backward(be, g, pg, x.data(), w.data(), pool_y.data(), at.data(), pool_dy.data(),
                                     scratch3.data(), static_cast<T*>(nullptr), dw5.data(), db5.data(), ws.data());
        EXPECT_TRUE(bitwise_equal(dw5, dw) && bitwise_equal(db5, db)) << what << " without dx";
    });
}

// ---- Cpu::parallel_for -------------------------------------------------------

// Pieces are claimed dynamically (four per thread at most), so a thread the
// OS deschedules delays one small piece; one thread runs everything inline.
TEST(CpuParallelFor, SplitsIntoContiguousPiecesClaimedByTheThreads) {
    for (int threads : {1, 2, 3, 8})
        for (size_t count : {size_t{0}, size_t{1}, size_t{2}, size_t{7}, size_t{1000}}) {
            std::vector<std::pair<size_t, size_t>> chunks(32);
            std::atomic<size_t> calls{0};
            Cpu(threads).parallel_for(count, [&](size_t begin, size_t end) { chunks[calls++] = {begin, end}; });
            ASSERT_EQ(calls.load(), threads == 1 ? std::min(count, size_t{1}) : std::min(count, size_t(4 * threads)));
            chunks.resize(calls.load());
            std::sort(chunks.begin(), chunks.end());
            size_t covered = 0;  // non-empty chunks tiling [0, count): every index exactly once
            for (const auto& [begin, end] : chunks) {
                EXPECT_EQ(begin, covered);
                EXPECT_LT(begin, end);
                covered = end;
            }
            EXPECT_EQ(covered, count);
        }
}

}  // namespace
