// tests/test_kernels_conv.cpp - the direct float convolutions
// (backend/cpu/conv_direct.hpp) on every kernel path this CPU has, against
// naive double references.
//
// Tolerance as test_conv_ops.cpp: 1e-4 relative to max(1, |want|). Each case
// also checks that 1 and 2 threads and two runs give bit-identical results,
// that outputs are fully overwritten (they start as NaN), that nothing reads
// uninitialised workspace (it starts as NaN too) and that nothing is written
// past the workspace (a canary follows it).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <typenet/backend/cpu/conv_direct.hpp>
#include <typenet/backend/cpu/cpu.hpp>
#include <typenet/core/conv_geometry.hpp>
#include <typenet/core/random.hpp>

namespace {

using namespace typenet;
using std::size_t;

constexpr double tol = 1e-4;
constexpr size_t canary_size = 64;
constexpr float canary = 12345.0f;

std::vector<float> uniform(Rng& rng, size_t n, double lo = -1.0, double hi = 1.0) {
    std::vector<float> v(n);
    for (auto& x : v) x = float(rng.uniform(lo, hi));
    return v;
}

void expect_close(const std::vector<float>& got, const std::vector<double>& want, const std::string& what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    for (size_t i = 0; i < got.size(); ++i) {
        const double t = tol * std::max(1.0, std::abs(want[i]));
        if (!(std::abs(double(got[i]) - want[i]) <= t)) {
            ADD_FAILURE() << what << " [" << i << "]: got " << got[i] << ", want " << want[i];
            return;
        }
    }
}

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

struct Ref {
    std::vector<double> y, dx, dw, db;
};

// The textbook 7-loop convolution (stride 1, no padding) and its gradients.
Ref reference(const Conv2dGeometry& g, const std::vector<float>& x, const std::vector<float>& w, const float* bias,
              bool relu, const std::vector<float>& dy) {
    Ref r{std::vector<double>(g.output_size()), std::vector<double>(g.input_size()),
          std::vector<double>(g.weight_size()), std::vector<double>(g.c_out)};
    for (size_t i = 0; i < g.n; ++i)
        for (size_t co = 0; co < g.c_out; ++co)
            for (size_t oh = 0; oh < g.out_h; ++oh)
                for (size_t ow = 0; ow < g.out_w; ++ow) {
                    const size_t yi = ((i * g.c_out + co) * g.out_h + oh) * g.out_w + ow;
                    double s = bias ? double(bias[co]) : 0.0;
                    const double d = double(dy[yi]);
                    r.db[co] += d;
                    for (size_t ci = 0; ci < g.c_in; ++ci)
                        for (size_t ki = 0; ki < g.kh; ++ki)
                            for (size_t kj = 0; kj < g.kw; ++kj) {
                                const size_t xi = ((i * g.c_in + ci) * g.h + oh + ki) * g.w + ow + kj;
                                const size_t wi = ((co * g.c_in + ci) * g.kh + ki) * g.kw + kj;
                                s += double(x[xi]) * double(w[wi]);
                                r.dx[xi] += double(w[wi]) * d;
                                r.dw[wi] += double(x[xi]) * d;
                            }
                    r.y[yi] = relu ? std::max(0.0, s) : s;
                }
    return r;
}

std::string describe(const Conv2dGeometry& g) {
    std::string s;
    for (size_t v : {g.n, g.c_in, g.h, g.w, g.c_out, g.kh, g.kw}) s += std::to_string(v) + ",";
    return "(n,c_in,h,w,c_out,kh,kw) = (" + s + ")";
}

// Workspace poisoned with NaN and followed by a canary.
struct Workspace {
    std::vector<float> data;
    explicit Workspace(size_t size) : data(size + canary_size, std::numeric_limits<float>::quiet_NaN()) {
        std::fill(data.end() - canary_size, data.end(), canary);
    }
    float* get() { return data.data(); }
    bool intact() const {
        return std::all_of(data.end() - canary_size, data.end(), [](float v) { return v == canary; });
    }
};

struct Outputs {
    std::vector<float> y, dx, dw, db;
};

Outputs run_direct(const Cpu& be, const Conv2dGeometry& g, const std::vector<float>& x, const std::vector<float>& w,
                   const float* bias, bool relu, const std::vector<float>& dy) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    Outputs o{std::vector<float>(g.output_size(), nan), std::vector<float>(g.input_size(), nan),
              std::vector<float>(g.weight_size(), nan), std::vector<float>(g.c_out, nan)};
    Workspace ws(conv2d_direct_workspace(be, g));
    conv2d_direct_forward(be, g, x.data(), w.data(), bias, relu, o.y.data(), ws.get());
    conv2d_direct_backward_data(be, g, dy.data(), w.data(), o.dx.data(), ws.get());
    conv2d_direct_backward_filter(be, g, x.data(), dy.data(), o.dw.data(), o.db.data(), ws.get());
    EXPECT_TRUE(ws.intact()) << "workspace overrun, " << describe(g);
    return o;
}

struct Shape {
    size_t n, c_in, h, w, c_out, kh, kw;
};

class DirectConv : public ::testing::TestWithParam<CpuIsa> {
protected:
    void SetUp() override {
        if (static_cast<int>(GetParam()) > static_cast<int>(supported_isa()))
            GTEST_SKIP() << "this CPU lacks the " << isa_name(GetParam()) << " path (it has "
                         << isa_name(supported_isa()) << ")";
    }

    void check(const Shape& s, bool with_bias, bool relu) {
        const auto g = make_conv2d_geometry(s.n, s.c_in, s.h, s.w, s.c_out, s.kh, s.kw, 1, 1, Padding::valid);
        ASSERT_TRUE(conv2d_direct_supported(g)) << describe(g);
        Rng rng(s.n * 1000003 + s.c_in * 1009 + s.h * 101 + s.w * 13 + s.c_out * 7 + s.kh + 3 * s.kw);
        const auto x = uniform(rng, g.input_size());
        const auto w = uniform(rng, g.weight_size());
        const auto b = uniform(rng, g.c_out);
        const auto dy = uniform(rng, g.output_size());
        const float* bias = with_bias ? b.data() : nullptr;
        const std::string what = describe(g) + (with_bias ? " bias" : "") + (relu ? " relu" : "") + " on " +
                                 isa_name(GetParam());
        const Ref want = reference(g, x, w, bias, relu, dy);
        const Outputs one = run_direct(Cpu{1, GetParam()}, g, x, w, bias, relu, dy);
        expect_close(one.y, want.y, "forward " + what);
        expect_close(one.dx, want.dx, "backward-data " + what);
        expect_close(one.dw, want.dw, "backward-filter dw " + what);
        expect_close(one.db, want.db, "backward-filter db " + what);
        const Cpu two{2, GetParam()};
        const Outputs a = run_direct(two, g, x, w, bias, relu, dy);
        const Outputs again = run_direct(two, g, x, w, bias, relu, dy);
        const Outputs three = run_direct(Cpu{3, GetParam()}, g, x, w, bias, relu, dy);
        for (const Outputs* o : {&a, &again, &three}) {
            EXPECT_TRUE(bitwise_equal(one.y, o->y)) << "forward, 1 vs 2 or 3 threads, " << what;
            EXPECT_TRUE(bitwise_equal(one.dx, o->dx)) << "backward-data, 1 vs 2 or 3 threads, " << what;
            EXPECT_TRUE(bitwise_equal(one.dw, o->dw)) << "dw, 1 vs 2 or 3 threads, " << what;
            EXPECT_TRUE(bitwise_equal(one.db, o->db)) << "db, 1 vs 2 or 3 threads, " << what;
        }
    }
};

TEST_P(DirectConv, ReferenceCnnShapes) {
    for (size_t n : {3, 64, 65}) {  // conv2 and conv3 put images in lanes at 64 on every path
        check({n, 1, 28, 28, 32, 3, 3}, true, true);
        check({n, 32, 13, 13, 64, 3, 3}, true, true);
        check({n, 64, 5, 5, 64, 3, 3}, true, false);
    }
}

// The backward-filter's chunk reduction: every element as the scalar loop
// adds it, bit for bit, for every tail length; nothing past count written.
TEST_P(DirectConv, AccumulateKernelEqualsScalarLoop) {
    Rng rng(23);
    for (const std::size_t count : {0, 1, 5, 15, 16, 17, 31, 33, 100}) {
        std::vector<float> sum(count + 1), part(count + 1);
        for (float& v : sum) v = float(rng.uniform(-1.0, 1.0));
        for (float& v : part) v = float(rng.uniform(-1.0, 1.0)) * 1e-3f;
        std::vector<float> want = sum;
        for (std::size_t e = 0; e < count; ++e) want[e] += part[e];
        TYPENET_ISA_CALL(GetParam(), conv_accumulate, sum.data(), part.data(), count);
        EXPECT_TRUE(bitwise_equal(sum, want)) << "count " << count;
    }
}

TEST_P(DirectConv, Batches) {
    for (size_t n : {1, 3, 63, 65}) check({n, 3, 9, 7, 5, 3, 3}, true, false);
}

TEST_P(DirectConv, OddChannelCounts) {
    for (size_t c_out : {1, 5, 17, 33})
        for (size_t c_in : {1, 3, 17}) check({2, c_in, 8, 10, c_out, 3, 3}, c_out % 2 == 1, c_in == 3);
}

TEST_P(DirectConv, KernelSizes) {
    check({3, 4, 6, 9, 6, 1, 1}, true, true);
    check({3, 4, 9, 11, 6, 5, 5}, false, false);
    check({2, 3, 7, 12, 5, 3, 5}, true, false);  // rectangular kernel
    check({2, 3, 12, 7, 5, 5, 2}, false, true);
    check({2, 2, 5, 4, 3, 5, 4}, true, false);   // kernel == input
    check({2, 2, 1, 40, 3, 1, 3}, true, false);  // one row
    check({2, 2, 40, 1, 3, 3, 1}, true, false);  // one column
}

// Few taps: 7 to 9 of them (AVX-512) take one 9-tap tile of 2 output
// channels that also sums db; 6 and 10 the general tiles. Odd channel
// counts leave the last tile one row short.
TEST_P(DirectConv, FewTapsTiles) {
    for (size_t c_out : {1, 2, 3, 7}) {
        check({2, 2, 8, 9, c_out, 1, 3}, true, false);   // 6 taps
        check({2, 1, 6, 15, c_out, 1, 7}, true, true);   // 7
        check({3, 1, 9, 12, c_out, 2, 4}, false, true);  // 8
        check({2, 1, 9, 11, c_out, 3, 3}, true, false);  // 9
        check({2, 2, 8, 13, c_out, 1, 5}, false, false); // 10
    }
}

TEST_P(DirectConv, RectangularAndLargeInputs) {
    check({2, 3, 17, 33, 9, 3, 3}, true, true);
    check({1, 2, 31, 20, 4, 3, 3}, false, false);
    check({65, 5, 4, 6, 7, 3, 3}, true, true);
    // Backward-filter sums runs of 8 images per call here (a 4x4 plane, 64
    // output channels): chunks of 10 images end in a run of 2.
    check({80, 8, 6, 6, 64, 3, 3}, false, true);
}

TEST_P(DirectConv, ReluKeepsNaN) {
    const auto g = make_conv2d_geometry(1, 1, 3, 3, 1, 3, 3, 1, 1, Padding::valid);
    const Cpu be{1, GetParam()};
    std::vector<float> x(9, 1.0f), w(9, 1.0f), y(1, 0.0f);
    x[4] = std::numeric_limits<float>::quiet_NaN();
    Workspace ws(conv2d_direct_workspace(be, g));
    conv2d_direct_forward(be, g, x.data(), w.data(), nullptr, true, y.data(), ws.get());
    EXPECT_TRUE(std::isnan(y[0]));
    EXPECT_TRUE(ws.intact());
}

// Finite differences through the direct ops themselves (they are float-only,
// so the double gradient checks of the layers never reach them): f(x, w, b) =
// sum(r * relu(conv(x, w) + b)) is piecewise linear, so central differences
// with a step that crosses no kink are exact up to float rounding. Also: the
// ReLU fused into the forward store equals a separate ReLU pass.
// Two geometries: positions in the lanes, and a small plane with enough
// images for the forward and backward-data to put images in the lanes.
void finite_differences(CpuIsa isa, const Conv2dGeometry& g, bool batched) {
    const Cpu be{2, isa};
    ASSERT_EQ(conv2d_direct_batched(be, g), batched) << describe(g);
    Rng rng(11);
    auto x = uniform(rng, g.input_size());
    auto w = uniform(rng, g.weight_size());
    auto b = uniform(rng, g.c_out);
    const auto r = uniform(rng, g.output_size());
    Workspace ws(conv2d_direct_workspace(be, g));
    std::vector<float> y(g.output_size()), plain(g.output_size());
    const auto f = [&]() {
        conv2d_direct_forward(be, g, x.data(), w.data(), b.data(), true, y.data(), ws.get());
        double sum = 0;
        for (size_t i = 0; i < y.size(); ++i) sum += double(r[i]) * double(y[i]);
        return sum;
    };
    f();
    conv2d_direct_forward(be, g, x.data(), w.data(), b.data(), false, plain.data(), ws.get());
    for (size_t i = 0; i < y.size(); ++i)
        ASSERT_EQ(y[i], std::max(plain[i], 0.0f)) << "fused ReLU differs from a separate one at " << i;
    // Back-propagation: dy = r where the output is positive.
    std::vector<float> dy(g.output_size()), dx(g.input_size()), dw(g.weight_size()), db(g.c_out);
    for (size_t i = 0; i < dy.size(); ++i) dy[i] = plain[i] > 0.0f ? r[i] : 0.0f;
    conv2d_direct_backward_data(be, g, dy.data(), w.data(), dx.data(), ws.get());
    conv2d_direct_backward_filter(be, g, x.data(), dy.data(), dw.data(), db.data(), ws.get());
    const double step = 1e-2;
    std::vector<bool> active(plain.size());
    for (size_t i = 0; i < plain.size(); ++i) active[i] = plain[i] > 0.0f;
    const auto same_mask = [&] {  // f is linear between x and a step that flips no ReLU
        conv2d_direct_forward(be, g, x.data(), w.data(), b.data(), false, plain.data(), ws.get());
        for (size_t i = 0; i < plain.size(); ++i)
            if ((plain[i] > 0.0f) != active[i]) return false;
        return true;
    };
    ASSERT_TRUE(ws.intact());
    size_t checked = 0;
    const auto probe = [&](std::vector<float>& v, const std::vector<float>& grad, const char* name) {
        for (size_t i = 0; i < v.size(); i += 3) {
            const float keep = v[i];
            v[i] = float(keep + step);
            const double up = f();
            const bool linear_up = same_mask();
            v[i] = float(keep - step);
            const double down = f();
            const bool linear_down = same_mask();
            v[i] = keep;
            if (!linear_up || !linear_down) continue;  // the step crossed a ReLU kink
            const double numeric = (up - down) / (2 * step);
            EXPECT_NEAR(grad[i], numeric, 2e-3 * std::max(1.0, std::abs(numeric)))
                << name << "[" << i << "] on " << isa_name(isa) << ", " << describe(g);
            ++checked;
        }
    };
    probe(x, dx, "dx");
    probe(w, dw, "dw");
    probe(b, db, "db");
    EXPECT_GT(checked, 40u) << "too few values away from a ReLU kink to check";
    EXPECT_GT(std::count(active.begin(), active.end(), false), 20) << "the ReLU should cut some outputs";
}

TEST_P(DirectConv, FiniteDifferencesAndFusedReluAgree) {
    finite_differences(GetParam(), make_conv2d_geometry(2, 3, 7, 6, 5, 3, 3, 1, 1, Padding::valid), false);
    finite_differences(GetParam(), make_conv2d_geometry(20, 2, 5, 5, 3, 3, 3, 1, 1, Padding::valid), true);
}

// Which route the cases above take, so both stay covered: images in lanes
// for small planes with enough images, where few lanes would be outputs
// (conv3 at n = 65, the Batches shape at 63 and 65) or the taps are many
// (conv2 at n = 64); positions otherwise (n = 2, conv1's large plane, few
// taps with most lanes outputs, conv2 at n = 1).
TEST_P(DirectConv, ImagesInLanesOnlyWhereTheyFillMoreLanes) {
    const Cpu be{2, GetParam()};
    const auto geometry = [](size_t n, size_t c_in, size_t h, size_t w, size_t c_out) {
        return make_conv2d_geometry(n, c_in, h, w, c_out, 3, 3, 1, 1, Padding::valid);
    };
    EXPECT_TRUE(conv2d_direct_batched(be, geometry(65, 64, 5, 5, 64)));
    EXPECT_TRUE(conv2d_direct_batched(be, geometry(64, 64, 5, 5, 64)));
    EXPECT_TRUE(conv2d_direct_batched(be, geometry(63, 3, 9, 7, 5)));
    EXPECT_TRUE(conv2d_direct_batched(be, geometry(65, 5, 4, 6, 7)));
    EXPECT_FALSE(conv2d_direct_batched(be, geometry(2, 64, 5, 5, 64)));
    EXPECT_FALSE(conv2d_direct_batched(be, geometry(1, 3, 9, 7, 5)));
    EXPECT_FALSE(conv2d_direct_batched(be, geometry(65, 1, 28, 28, 32)));
    EXPECT_TRUE(conv2d_direct_batched(be, geometry(64, 32, 13, 13, 64)));
    EXPECT_FALSE(conv2d_direct_batched(be, geometry(1, 32, 13, 13, 64)));
    EXPECT_FALSE(conv2d_direct_batched(be, geometry(65, 1, 12, 12, 8)));
    EXPECT_FALSE(conv2d_direct_batched(be, geometry(0, 64, 5, 5, 64)));
}

// A layer plans its workspace for its largest batch and may run a smaller
// one, which can take the other route: that must fit the same workspace and
// give the reference's values.
TEST_P(DirectConv, ASmallerBatchSwitchingRouteFitsTheWorkspace) {
    const Cpu be{2, GetParam()};
    const auto big = make_conv2d_geometry(40, 8, 5, 5, 6, 3, 3, 1, 1, Padding::valid);
    const auto small = make_conv2d_geometry(2, 8, 5, 5, 6, 3, 3, 1, 1, Padding::valid);
    ASSERT_TRUE(conv2d_direct_batched(be, big));
    ASSERT_FALSE(conv2d_direct_batched(be, small));
    Rng rng(5);
    const auto x = uniform(rng, small.input_size()), w = uniform(rng, small.weight_size());
    const auto b = uniform(rng, small.c_out), dy = uniform(rng, small.output_size());
    const Ref want = reference(small, x, w, b.data(), true, dy);
    Workspace ws(conv2d_direct_workspace(be, big));
    std::vector<float> y(small.output_size()), dx(small.input_size()), dw(small.weight_size()), db(small.c_out);
    conv2d_direct_forward(be, small, x.data(), w.data(), b.data(), true, y.data(), ws.get());
    conv2d_direct_backward_data(be, small, dy.data(), w.data(), dx.data(), ws.get());
    conv2d_direct_backward_filter(be, small, x.data(), dy.data(), dw.data(), db.data(), ws.get());
    EXPECT_TRUE(ws.intact());
    expect_close(y, want.y, "forward");
    expect_close(dx, want.dx, "backward-data");
    expect_close(dw, want.dw, "dw");
}

TEST(DirectConvSupport, Shapes) {
    EXPECT_TRUE(conv2d_direct_supported(make_conv2d_geometry(64, 32, 13, 13, 64, 3, 3, 1, 1, Padding::valid)));
    EXPECT_FALSE(conv2d_direct_supported(make_conv2d_geometry(64, 32, 13, 13, 64, 3, 3, 2, 2, Padding::valid)));
    EXPECT_FALSE(conv2d_direct_supported(make_conv2d_geometry(64, 32, 13, 13, 64, 3, 3, 1, 1, Padding::same)));
    // The ops refuse what they do not handle.
    const auto g = make_conv2d_geometry(1, 1, 5, 5, 1, 3, 3, 2, 2, Padding::valid);
    const Cpu be{1};
    std::vector<float> x(g.input_size()), w(g.weight_size()), y(g.output_size()), ws(64);
    EXPECT_THROW(conv2d_direct_forward(be, g, x.data(), w.data(), nullptr, false, y.data(), ws.data()),
                 ArgumentError);
    EXPECT_THROW(conv2d_direct_backward_data(be, g, y.data(), w.data(), x.data(), ws.data()), ArgumentError);
    EXPECT_THROW(conv2d_direct_backward_filter(be, g, x.data(), y.data(), w.data(), nullptr, ws.data()),
                 ArgumentError);
}

// The backward-filter from a pooling's gradient takes a first layer's few
// taps (C_in * KH * KW < 64) and a 2x2 pooling of the whole output; it
// refuses the rest by name (conv_pool.hpp then runs the two ops).
TEST(DirectConvSupport, PoolBackwardShapes) {
    const auto pool_of = [](const Conv2dGeometry& g, std::size_t k) {
        return make_pool2d_geometry(g.n, g.c_out, g.out_h, g.out_w, k, k, k, k);
    };
    const auto conv1 = make_conv2d_geometry(64, 1, 28, 28, 32, 3, 3, 1, 1, Padding::valid);
    const auto conv2 = make_conv2d_geometry(64, 32, 13, 13, 64, 3, 3, 1, 1, Padding::valid);
    const auto rgb5 = make_conv2d_geometry(8, 2, 12, 12, 8, 5, 5, 1, 1, Padding::valid);  // 50 taps
    EXPECT_TRUE(conv2d_direct_pool_backward_supported(conv1, pool_of(conv1, 2)));
    EXPECT_TRUE(conv2d_direct_pool_backward_supported(rgb5, pool_of(rgb5, 2)));
    EXPECT_FALSE(conv2d_direct_pool_backward_supported(conv1, pool_of(conv1, 3)));
    EXPECT_FALSE(conv2d_direct_pool_backward_supported(conv2, pool_of(conv2, 2)));  // 288 taps
    const Cpu be{1};
    const auto pg = pool_of(conv2, 2);
    std::vector<float> x(conv2.input_size()), y(pg.output_size()), dw(conv2.weight_size()), db(conv2.c_out);
    std::vector<float> ws(conv2d_direct_workspace(be, conv2));
    std::vector<std::int32_t> at(pg.output_size());
    try {
        conv2d_direct_maxpool2x2_backward_filter(be, conv2, pg, x.data(), y.data(), at.data(), y.data(), dw.data(),
                                                 db.data(), ws.data());
        ADD_FAILURE() << "288 taps were not refused";
    } catch (const ArgumentError& e) {
        EXPECT_NE(std::string(e.what()).find("conv2d_direct_maxpool2x2_backward_filter"), std::string::npos)
            << e.what();
    }
}

TEST(DirectConvSupport, EmptyBatch) {
    const auto g = make_conv2d_geometry(0, 2, 5, 5, 3, 3, 3, 1, 1, Padding::valid);
    const Cpu be{2};
    std::vector<float> w(g.weight_size()), dw(g.weight_size(), 1.0f), db(g.c_out, 1.0f);
    std::vector<float> ws(conv2d_direct_workspace(be, g) + 1);
    conv2d_direct_forward(be, g, nullptr, w.data(), nullptr, true, nullptr, ws.data());
    conv2d_direct_backward_data(be, g, nullptr, w.data(), nullptr, ws.data());
    conv2d_direct_backward_filter(be, g, nullptr, nullptr, dw.data(), db.data(), ws.data());
    EXPECT_TRUE(std::all_of(dw.begin(), dw.end(), [](float v) { return v == 0.0f; }));
    EXPECT_TRUE(std::all_of(db.begin(), db.end(), [](float v) { return v == 0.0f; }));
    std::fill(dw.begin(), dw.end(), 1.0f), std::fill(db.begin(), db.end(), 1.0f);
    const auto pg = make_pool2d_geometry(0, g.c_out, g.out_h, g.out_w, 2, 2, 2, 2);
    conv2d_direct_maxpool2x2_backward_filter(be, g, pg, nullptr, nullptr, nullptr, nullptr, dw.data(), db.data(),
                                             ws.data());
    EXPECT_TRUE(std::all_of(dw.begin(), dw.end(), [](float v) { return v == 0.0f; }));
    EXPECT_TRUE(std::all_of(db.begin(), db.end(), [](float v) { return v == 0.0f; }));
}

// The forward fused with a 2x2 stride-2 max pooling against the forward,
// then the textbook pooling (window order, a strict >: the first of equal
// values wins, as the ReLU's zeros test), bit for bit, on each path: few
// taps pool in the tile's registers (one unit of four vectors per tile where
// a pooled row's windows need two vectors per conv row, else two units),
// many taps from scratch, or, with images in lanes, each block before its
// transpose back. Odd outputs floor; 33 channels end in a part tile.
TEST_P(DirectConv, ForwardMaxPoolEqualsForwardThenPooling) {
    struct Case {
        size_t n, c_in, h, w, c_out, k;
        bool lanes;  // many taps with images in lanes (conv2d_direct_batched) on every path
    };
    const Case cases[] = {
        {3, 1, 28, 28, 32, 3, false},   // conv1: 13 windows per pooled row
        {3, 32, 13, 13, 17, 3, false},  // many taps: 11 -> 5 through scratch
        {63, 3, 7, 9, 5, 3, false},     // 5x7 -> 2x3: two pooled rows share a tile
        {65, 2, 12, 10, 33, 5, false},  // kernel 5, 8x6 -> 4x3
        {4, 1, 13, 13, 19, 3, false},   // 11 -> 5: the last pooled row alone in its tile
        {2, 1, 44, 38, 5, 3, false},    // 42x36 -> 21x18: wide and narrow windows in one row
        {5, 1, 19, 18, 7, 3, false},    // 17x16 -> 8x8: a floor row, 8 windows per pooled row
        {2, 1, 9, 32, 3, 3, false},     // 7x30 -> 3x15: the widest rows of AVX-512's split columns
        {1, 1, 30, 21, 6, 3, false},    // 28x19 -> 14x9: a floor column
        {64, 32, 13, 13, 64, 3, true},  // conv2 at batch 64
        {63, 32, 13, 13, 17, 3, true},  // a last block short of images
        {40, 8, 7, 7, 9, 3, true},      // 5x5 -> 2x2
    };
    for (const Case& c : cases)
        for (int threads : {1, 2}) {
            const Cpu be{threads, GetParam()};
            const auto g = make_conv2d_geometry(c.n, c.c_in, c.h, c.w, c.c_out, c.k, c.k, 1, 1, Padding::valid);
            const auto pg = make_pool2d_geometry(c.n, c.c_out, g.out_h, g.out_w, 2, 2, 2, 2);
            const std::string what = std::to_string(c.n) + "x" + std::to_string(c.c_in) + "x" + std::to_string(c.h) +
                                     "x" + std::to_string(c.w) + " -> " + std::to_string(c.c_out) + ", " +
                                     std::to_string(threads) + " threads";
            ASSERT_TRUE(conv2d_direct_pool_supported(g, pg)) << what;
            ASSERT_TRUE(!c.lanes || conv2d_direct_batched(be, g)) << what << ": not the route the case is for";
            Rng rng(c.n * 5 + c.c_out);
            const auto x = uniform(rng, g.input_size()), w = uniform(rng, g.weight_size()),
                       b = uniform(rng, g.c_out, -0.2, 0.2);
            Workspace ws(conv2d_direct_workspace(be, g));
            std::vector<float> conv(g.output_size(), std::numeric_limits<float>::quiet_NaN());
            conv2d_direct_forward(be, g, x.data(), w.data(), b.data(), true, conv.data(), ws.get());
            std::vector<float> want(pg.output_size());
            std::vector<std::int32_t> want_at(pg.output_size());
            for (size_t plane = 0, o = 0; plane < c.n * c.c_out; ++plane)
                for (size_t oh = 0; oh < pg.out_h; ++oh)
                    for (size_t ow = 0; ow < pg.out_w; ++ow, ++o) {
                        const float* in = conv.data() + plane * g.out_h * g.out_w;
                        size_t best = 2 * oh * g.out_w + 2 * ow;
                        for (size_t at : {best + 1, best + g.out_w, best + g.out_w + 1})
                            if (in[at] > in[best]) best = at;
                        want[o] = in[best], want_at[o] = std::int32_t(best);
                    }
            ASSERT_TRUE(std::count(want.begin(), want.end(), 0.0f) > 0) << what << ": no window of zeros (ties)";
            Workspace ws2(conv2d_direct_workspace(be, g));
            std::vector<float> y(pg.output_size() + 1, std::numeric_limits<float>::quiet_NaN());
            std::vector<std::int32_t> at(pg.output_size() + 1, -7);
            conv2d_direct_forward_maxpool2x2(be, g, pg, x.data(), w.data(), b.data(), true, y.data(), at.data(),
                                             ws2.get());
            EXPECT_TRUE(std::isnan(y.back()) && at.back() == -7) << what << ": written past the output";
            y.pop_back(), at.pop_back();
            EXPECT_TRUE(bitwise_equal(y, want)) << what;
            EXPECT_EQ(at, want_at) << what;
            EXPECT_TRUE(ws2.intact()) << what;
        }
}

// A backward through a 2x2 pooling on `isa`: random x, w, bias and pooled
// gradient, pool_y and argmax from the fused direct forward, and the
// textbook sums over each window's argmax where pool_y > 0 (dx, dw, db).
struct PooledBackward {
    std::vector<float> x, w, pool_dy, pool_y;
    std::vector<std::int32_t> at;
    std::vector<double> dx, dw, db;
};
PooledBackward pooled_backward(CpuIsa isa, const Conv2dGeometry& g, const Pool2dGeometry& pg, std::uint64_t seed) {
    Rng rng(seed);
    PooledBackward c;
    c.x = uniform(rng, g.input_size()), c.w = uniform(rng, g.weight_size());
    const auto b = uniform(rng, g.c_out, -0.2, 0.2);
    c.pool_dy = uniform(rng, pg.output_size());
    c.pool_y.resize(pg.output_size()), c.at.resize(pg.output_size());
    Workspace ws(conv2d_direct_workspace(Cpu{1, isa}, g));
    conv2d_direct_forward_maxpool2x2(Cpu{1, isa}, g, pg, c.x.data(), c.w.data(), b.data(), true, c.pool_y.data(),
                                     c.at.data(), ws.get());
    c.dx.assign(g.input_size(), 0.0), c.dw.assign(g.weight_size(), 0.0), c.db.assign(g.c_out, 0.0);
    const size_t PP = pg.out_h * pg.out_w;
    for (size_t i = 0; i < g.n; ++i)
        for (size_t co = 0; co < g.c_out; ++co)
            for (size_t q = 0; q < PP; ++q) {
                const size_t o = (i * g.c_out + co) * PP + q;
                if (!(c.pool_y[o] > 0.0f)) continue;
                const double d = c.pool_dy[o];
                const size_t oh = size_t(c.at[o]) / g.out_w, ow = size_t(c.at[o]) % g.out_w;
                c.db[co] += d;
                for (size_t ci = 0; ci < g.c_in; ++ci)
                    for (size_t ki = 0; ki < g.kh; ++ki)
                        for (size_t kj = 0; kj < g.kw; ++kj) {
                            const size_t wi = ((co * g.c_in + ci) * g.kh + ki) * g.kw + kj;
                            const size_t xi = ((i * g.c_in + ci) * g.h + oh + ki) * g.w + ow + kj;
                            c.dw[wi] += d * c.x[xi];
                            c.dx[xi] += d * c.w[wi];
                        }
            }
    return c;
}

// The backward-filter from a 2x2 pooling's gradient against the textbook
// sums over each window's argmax (the gradient passing where the pooled
// output is positive), on each path: up to 16 taps visit only the argmax
// positions (ConvBwfPooled; on AVX-512 a 3x3 kernel on one channel up to 32
// columns wide takes ConvBwfSlots), more the dense wide rows. Threads and
// runs agree bit for bit; the workspace starts as NaN; argmax values
// outside their window or the plane (not from the forward) read nothing
// outside x and, up to 16 taps, give every path the portable path's sums.
TEST_P(DirectConv, PoolBackwardFilterAgainstReference) {
    struct Case {
        size_t n, c_in, h, w, c_out, kh, kw;
    };
    const Case cases[] = {
        {3, 1, 28, 28, 32, 3, 3},   // conv1
        {65, 1, 28, 28, 32, 3, 3},  // 9 chunks of 8 images, the last short
        {1, 1, 13, 13, 5, 3, 3},    // 11 -> 5: the last conv row unused; a run of 4 rows and one alone
        {2, 1, 9, 32, 3, 3, 3},     // 7x30 -> 3x15: the widest rows ConvBwfSlots takes, the last conv row unused
        {2, 1, 6, 33, 4, 3, 3},     // 33 columns: ConvBwfPooled on every path
        {4, 1, 12, 11, 33, 4, 4},   // 16 taps: one whole vector on AVX-512
        {2, 2, 9, 8, 6, 2, 2},      // 8 taps over two input channels
        {3, 3, 7, 9, 7, 1, 5},      // 15 taps, a rectangular kernel
        {2, 2, 12, 12, 8, 5, 5},    // 50 taps: the dense wide rows
    };
    for (const Case& c : cases) {
        const auto g = make_conv2d_geometry(c.n, c.c_in, c.h, c.w, c.c_out, c.kh, c.kw, 1, 1, Padding::valid);
        const auto pg = make_pool2d_geometry(c.n, c.c_out, g.out_h, g.out_w, 2, 2, 2, 2);
        const std::string what = describe(g) + " on " + isa_name(GetParam());
        ASSERT_TRUE(conv2d_direct_pool_backward_supported(g, pg)) << what;
        const PooledBackward pb = pooled_backward(GetParam(), g, pg, c.n * 31 + c.c_out * 7 + c.kw);
        const auto &x = pb.x, &pool_dy = pb.pool_dy, &pool_y = pb.pool_y;
        const auto& at = pb.at;
        ASSERT_TRUE(std::count(pool_y.begin(), pool_y.end(), 0.0f) > 0) << what << ": the ReLU cuts nothing";
        const auto run = [&](int threads, const std::vector<std::int32_t>& argmax, CpuIsa isa) {
            const Cpu be{threads, isa};
            Workspace ws(conv2d_direct_workspace(be, g));
            std::vector<float> dw(g.weight_size(), std::numeric_limits<float>::quiet_NaN()), db(c.c_out, dw[0]);
            conv2d_direct_maxpool2x2_backward_filter(be, g, pg, x.data(), pool_y.data(), argmax.data(),
                                                     pool_dy.data(), dw.data(), db.data(), ws.get());
            EXPECT_TRUE(ws.intact()) << "workspace overrun, " << what;
            return std::pair{dw, db};
        };
        const auto [dw, db] = run(1, at, GetParam());
        expect_close(dw, pb.dw, "dw " + what);
        expect_close(db, pb.db, "db " + what);
        for (int threads : {2, 3}) {
            const auto [dw2, db2] = run(threads, at, GetParam());
            EXPECT_TRUE(bitwise_equal(dw, dw2) && bitwise_equal(db, db2)) << threads << " threads, " << what;
        }
        auto wild = at;
        for (size_t o = 0; o < wild.size(); o += 3) wild[o] = o % 2 ? -5 : std::int32_t(g.out_h * g.out_w + 40);
        const auto [dw3, db3] = run(2, wild, GetParam());
        EXPECT_TRUE(std::all_of(dw3.begin(), dw3.end(), [](float v) { return std::isfinite(v); })) << what;
        if (c.c_in * c.kh * c.kw <= 16) {  // the dense rows drop such gradients instead
            EXPECT_TRUE(bitwise_equal(db, db3)) << "db depends only on the gradients, " << what;
            const auto [dw4, db4] = run(1, wild, CpuIsa::portable);
            expect_close(dw3, std::vector<double>(dw4.begin(), dw4.end()),
                         "dw, wild argmax, against the portable path, " + what);
        }
    }
}

// The whole backward through a 2x2 pooling with many taps (ConvPoolSparse:
// channel-last runs at each window's argmax) against the textbook sums over
// the argmax positions, on each path: dx, dw and db; channel counts that
// are not a multiple of the vector width, rectangular kernels, floor
// pooling, nine chunks of images; the 3x3 cases take dx per pooled window
// on AVX-512. Threads and runs agree bit for bit; dx is fully overwritten;
// argmax values outside their window or the plane read and write nothing
// outside x and dx, and the same sums on every path.
TEST_P(DirectConv, PoolBackwardManyTapsAgainstReference) {
    struct Case {
        size_t n, c_in, h, w, c_out, kh, kw;
    };
    const Case cases[] = {
        {3, 32, 13, 13, 64, 3, 3},   // conv2: 11 -> 5, the last conv row and column unused
        {65, 32, 13, 13, 17, 3, 3},  // 9 chunks of 8 images, the last short
        {2, 9, 9, 11, 5, 3, 3},      // 9 channels: a part vector of zeros per run
        {3, 20, 8, 9, 6, 2, 4},      // 160 taps, a rectangular kernel, 7x6 -> 3x3
        {2, 16, 6, 6, 9, 5, 5},      // 2x2 -> 1x1
    };
    for (const Case& c : cases) {
        const auto g = make_conv2d_geometry(c.n, c.c_in, c.h, c.w, c.c_out, c.kh, c.kw, 1, 1, Padding::valid);
        const auto pg = make_pool2d_geometry(c.n, c.c_out, g.out_h, g.out_w, 2, 2, 2, 2);
        const std::string what = describe(g) + " on " + isa_name(GetParam());
        ASSERT_TRUE(conv2d_direct_pool_sparse_supported(Cpu{1, GetParam()}, g, pg)) << what;
        const PooledBackward pb = pooled_backward(GetParam(), g, pg, c.n * 37 + c.c_out * 5 + c.kw);
        const auto &x = pb.x, &w = pb.w, &pool_dy = pb.pool_dy, &pool_y = pb.pool_y;
        const auto& at = pb.at;
        ASSERT_TRUE(std::count(pool_y.begin(), pool_y.end(), 0.0f) > 0) << what << ": the ReLU cuts nothing";
        const float nan = std::numeric_limits<float>::quiet_NaN();
        const auto run = [&](int threads, const std::vector<std::int32_t>& argmax, CpuIsa isa) {
            const Cpu be{threads, isa};
            Workspace ws(conv2d_direct_workspace(be, g));
            Outputs o{{}, std::vector<float>(g.input_size() + 1, nan), std::vector<float>(g.weight_size() + 1, nan),
                      std::vector<float>(c.c_out + 1, nan)};
            conv2d_direct_maxpool2x2_backward(be, g, pg, x.data(), w.data(), pool_y.data(), argmax.data(),
                                              pool_dy.data(), o.dx.data(), o.dw.data(), o.db.data(), ws.get());
            EXPECT_TRUE(ws.intact()) << "workspace overrun, " << what;
            EXPECT_TRUE(std::isnan(o.dx.back()) && std::isnan(o.dw.back()) && std::isnan(o.db.back()))
                << "written past an output, " << what;
            o.dx.pop_back(), o.dw.pop_back(), o.db.pop_back();
            return o;
        };
        const Outputs o = run(1, at, GetParam());
        expect_close(o.dx, pb.dx, "dx " + what);
        expect_close(o.dw, pb.dw, "dw " + what);
        expect_close(o.db, pb.db, "db " + what);
        for (int threads : {2, 3}) {
            const Outputs o2 = run(threads, at, GetParam());
            EXPECT_TRUE(bitwise_equal(o.dx, o2.dx) && bitwise_equal(o.dw, o2.dw) && bitwise_equal(o.db, o2.db))
                << threads << " threads, " << what;
        }
        auto wild = at;
        for (size_t q = 0; q < wild.size(); q += 3) wild[q] = q % 2 ? -5 : std::int32_t(g.out_h * g.out_w + 40);
        const Outputs o3 = run(2, wild, GetParam());
        const auto finite = [](const std::vector<float>& v) {
            return std::all_of(v.begin(), v.end(), [](float e) { return std::isfinite(e); });
        };
        EXPECT_TRUE(finite(o3.dx) && finite(o3.dw)) << what;
        EXPECT_TRUE(bitwise_equal(o.db, o3.db)) << "db depends only on the gradients, " << what;
        // Wild argmax values (clamped into the plane) give every path the same sums.
        const Outputs o4 = run(1, wild, CpuIsa::portable);
        const auto wide = [](const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); };
        expect_close(o3.dx, wide(o4.dx), "dx, wild argmax, against the portable path, " + what);
        expect_close(o3.dw, wide(o4.dw), "dw, wild argmax, against the portable path, " + what);
    }
}

// The many-taps backward takes at least 64 taps whose channels fill half a
// vector and a 2x2 pooling; it refuses the rest by name, and an empty
// batch gives zero weight gradients.
TEST(DirectConvSupport, PoolBackwardManyTapsShapes) {
    const Cpu be{1};
    const auto pool_of = [](const Conv2dGeometry& g, std::size_t k) {
        return make_pool2d_geometry(g.n, g.c_out, g.out_h, g.out_w, k, k, k, k);
    };
    const auto conv1 = make_conv2d_geometry(64, 1, 28, 28, 32, 3, 3, 1, 1, Padding::valid);
    const auto conv2 = make_conv2d_geometry(64, 32, 13, 13, 64, 3, 3, 1, 1, Padding::valid);
    EXPECT_TRUE(conv2d_direct_pool_sparse_supported(be, conv2, pool_of(conv2, 2)));
    EXPECT_FALSE(conv2d_direct_pool_sparse_supported(be, conv2, pool_of(conv2, 3)));
    EXPECT_FALSE(conv2d_direct_pool_sparse_supported(be, conv1, pool_of(conv1, 2)));  // 9 taps
    const auto pg = pool_of(conv1, 2);
    std::vector<float> x(conv1.input_size()), y(pg.output_size()), dw(conv1.weight_size()), db(conv1.c_out);
    std::vector<float> ws(conv2d_direct_workspace(be, conv1));
    std::vector<std::int32_t> at(pg.output_size());
    try {
        conv2d_direct_maxpool2x2_backward(be, conv1, pg, x.data(), dw.data(), y.data(), at.data(), y.data(),
                                          x.data(), dw.data(), db.data(), ws.data());
        ADD_FAILURE() << "9 taps were not refused";
    } catch (const ArgumentError& e) {
        EXPECT_NE(std::string(e.what()).find("conv2d_direct_maxpool2x2_backward"), std::string::npos) << e.what();
    }
    const auto empty = make_conv2d_geometry(0, 32, 13, 13, 8, 3, 3, 1, 1, Padding::valid);
    std::vector<float> w(empty.weight_size()), dw0(empty.weight_size(), 1.0f), db0(empty.c_out, 1.0f);
    std::vector<float> ws0(conv2d_direct_workspace(be, empty) + 1);
    conv2d_direct_maxpool2x2_backward(be, empty, pool_of(empty, 2), nullptr, w.data(), nullptr, nullptr, nullptr,
                                      nullptr, dw0.data(), db0.data(), ws0.data());
    EXPECT_TRUE(std::all_of(dw0.begin(), dw0.end(), [](float v) { return v == 0.0f; }));
    EXPECT_TRUE(std::all_of(db0.begin(), db0.end(), [](float v) { return v == 0.0f; }));
}

INSTANTIATE_TEST_SUITE_P(Paths, DirectConv, ::testing::Values(CpuIsa::portable, CpuIsa::avx2, CpuIsa::avx512),
                         [](const ::testing::TestParamInfo<CpuIsa>& info) { return isa_key(info.param); });

}  // namespace
