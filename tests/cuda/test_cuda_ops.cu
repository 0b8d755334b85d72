// Parity of the CUDA backend's ops with the CPU backend's, op by op: matrix
// products, bias, activations, softmax, losses, gathering, optimizer updates,
// dropout, augmentation, batch normalisation, finiteness. Same inputs on both, results
// compared with the scale-relative error of testing/parity.hpp. Tolerances:
// 0 where both compute the same float operations in the same order, 1e-5
// where only summation order or a libm's last bit differ.
#include "cuda_test.hpp"

#include <cmath>
#include <limits>

using cuda_test::device;
using cuda_test::expect_close;
using CudaOps = cuda_test::Gpu;  // tests that skip without a GPU
using cuda_test::gpu;
using cuda_test::uniform;

namespace {
const tn::Cpu cpu{1};
constexpr double kSum = 1e-5;  // different summation order / libm
}  // namespace

TEST_F(CudaOps, GemmMatchesTheCpuForEveryTransposeAndStride) {
    const std::size_t m = 37, n = 29, k = 53;
    for (int ta = 0; ta < 2; ++ta)
        for (int tb = 0; tb < 2; ++tb)
            for (float beta : {0.0f, 0.5f}) {
                // Row strides 3 larger than the rows, to exercise lda / ldb / ldc.
                const std::size_t ra = ta ? k : m, ca = ta ? m : k, rb = tb ? n : k, cb = tb ? k : n;
                const std::size_t lda = ca + 3, ldb = cb + 3, ldc = n + 3;
                const auto a = uniform(ra * lda, 1), b = uniform(rb * ldb, 2);
                auto c = uniform(m * ldc, 3);
                if (beta == 0.0f) c.assign(c.size(), std::numeric_limits<float>::quiet_NaN());  // must not be read
                auto da = device(a), db = device(b), dc = device(c);
                tn::gemm(cpu, ta, tb, m, n, k, 1.5f, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
                tn::gemm(gpu(), ta, tb, m, n, k, 1.5f, da.data(), lda, db.data(), ldb, beta, dc.data(), ldc);
                auto got = dc.to_host();
                for (std::size_t r = 0; r < m; ++r)  // the padding columns are not part of C
                    for (std::size_t j = n; j < ldc; ++j) got[r * ldc + j] = c[r * ldc + j];
                SCOPED_TRACE("trans_a " + std::to_string(ta) + " trans_b " + std::to_string(tb));
                expect_close("C", c, got, kSum);
            }
}

TEST_F(CudaOps, LinearForwardMatchesTheCpuWithAndWithoutRelu) {
    const std::size_t n = 33, in = 71, out = 45;
    const auto x = uniform(n * in, 6), w = uniform(out * in, 7), b = uniform(out, 8);
    auto dx = device(x), dw = device(w), dbias = device(b);
    for (const bool relu : {false, true}) {
        std::vector<float> y(n * out);
        tn::Tensor<float, tn::CudaDevice> dy(tn::Dims{n * out});
        tn::linear_forward(cpu, n, in, out, x.data(), w.data(), b.data(), y.data(), relu);
        tn::linear_forward(gpu(), n, in, out, dx.data(), dw.data(), dbias.data(), dy.data(), relu);
        SCOPED_TRACE(relu ? "relu" : "no relu");
        expect_close("y", y, dy.to_host(), kSum);
    }
}

TEST_F(CudaOps, GemmWithTf32StaysWithinTf32Rounding) {
    const std::size_t m = 64, n = 48, k = 256;
    const auto a = uniform(m * k, 4), b = uniform(k * n, 5);
    std::vector<float> c(m * n);
    auto da = device(a), db = device(b), dc = device(c);
    tn::Cuda be{{.tf32 = true}};
    tn::gemm(cpu, false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
    tn::gemm(be, false, false, m, n, k, 1.0f, da.data(), k, db.data(), n, 0.0f, dc.data(), n);
    expect_close("C (TF32)", c, dc.to_host(), 5e-3);  // 10-bit mantissas: ~1e-3
}

TEST_F(CudaOps, BiasAddAndBiasGradMatchTheCpu) {
    struct Case { std::size_t n, c, s; };
    for (const Case& t : {Case{5, 7, 1}, Case{3000, 40, 1}, Case{3, 6, 11}, Case{64, 32, 676}}) {
        SCOPED_TRACE("n " + std::to_string(t.n) + " c " + std::to_string(t.c) + " s " + std::to_string(t.s));
        auto y = uniform(t.n * t.c * t.s, 6);
        const auto b = uniform(t.c, 7);
        auto dy = device(y), dbias = device(b);
        tn::bias_add(cpu, t.n, t.c, t.s, y.data(), b.data());
        tn::bias_add(gpu(), t.n, t.c, t.s, dy.data(), dbias.data());
        expect_close("bias_add", y, dy.to_host(), 0.0);
        std::vector<float> g(t.c, -7.0f);  // overwritten, not accumulated
        auto dg = device(g);
        tn::bias_grad(cpu, t.n, t.c, t.s, y.data(), g.data());
        tn::bias_grad(gpu(), t.n, t.c, t.s, dy.data(), dg.data());
        expect_close("bias_grad", g, dg.to_host(), kSum);
    }
}

TEST_F(CudaOps, EveryActivationMatchesTheCpuForwardAndBackward) {
    using K = tn::ActivationKind;
    const std::size_t count = 4099;
    const auto x = uniform(count, 8, -5.0, 5.0), dy = uniform(count, 9);
    auto dx_ = device(x), ddy = device(dy);
    for (K kind : {K::identity, K::relu, K::sigmoid, K::tanh, K::elu, K::selu}) {
        SCOPED_TRACE("activation " + std::to_string(int(kind)));
        std::vector<float> y(count), dx(count);
        tn::Tensor<float, tn::CudaDevice> gy(tn::Dims{count}), gdx(tn::Dims{count});
        tn::activation_forward(cpu, kind, count, x.data(), y.data());
        tn::activation_forward(gpu(), kind, count, dx_.data(), gy.data());
        const double tol = (kind == K::identity || kind == K::relu) ? 0.0 : kSum;
        expect_close("y", y, gy.to_host(), tol);
        // Backward from the same y, so only the derivative is compared.
        auto yy = device(y);
        tn::activation_backward(cpu, kind, count, x.data(), y.data(), dy.data(), dx.data());
        tn::activation_backward(gpu(), kind, count, dx_.data(), yy.data(), ddy.data(), gdx.data());
        expect_close("dx", dx, gdx.to_host(), tol);
    }
}

TEST_F(CudaOps, SoftmaxMatchesTheCpu) {
    for (std::size_t cols : {std::size_t{10}, std::size_t{3}, std::size_t{100}}) {
        const std::size_t rows = 33;
        const auto x = uniform(rows * cols, 10, -6.0, 6.0), dy = uniform(rows * cols, 11);
        std::vector<float> y(rows * cols), dx(rows * cols);
        auto gx = device(x), gdy = device(dy), gy = device(y), gdx = device(dx);
        tn::softmax_forward(cpu, rows, cols, x.data(), y.data());
        tn::softmax_forward(gpu(), rows, cols, gx.data(), gy.data());
        expect_close("softmax", y, gy.to_host(), kSum);
        auto yy = device(y);
        tn::softmax_backward(cpu, rows, cols, y.data(), dy.data(), dx.data());
        tn::softmax_backward(gpu(), rows, cols, yy.data(), gdy.data(), gdx.data());
        expect_close("softmax dx", dx, gdx.to_host(), kSum);
    }
}

TEST_F(CudaOps, EveryLossMatchesTheCpu) {
    for (std::size_t rows : {std::size_t{1}, std::size_t{37}, std::size_t{1000}})
        for (std::size_t cols : {std::size_t{10}, std::size_t{3}, std::size_t{70}}) {
            SCOPED_TRACE("rows " + std::to_string(rows) + " cols " + std::to_string(cols));
            cuda_test::expect_parity(tt::check_loss_parity(cpu, gpu(), tn::SoftmaxCrossEntropy{}, rows, cols, -8, 8),
                                     kSum);
            cuda_test::expect_parity(tt::check_loss_parity(cpu, gpu(), tn::BinaryCrossEntropy{}, rows, cols, 0, 1),
                                     kSum);
            cuda_test::expect_parity(tt::check_loss_parity(cpu, gpu(), tn::MeanSquaredError{}, rows, cols, -1, 2),
                                     kSum);
        }
}

TEST_F(CudaOps, CountCorrectTakesTheFirstMaximumAsTheCpu) {
    const std::size_t rows = 300, cols = 10;
    auto y = uniform(rows * cols, 12, 0.0, 4.0);
    for (auto& v : y) v = std::round(v);  // many ties
    std::vector<std::int32_t> labels(rows);
    for (std::size_t r = 0; r < rows; ++r) labels[r] = std::int32_t(r % cols);
    auto gy = device(y);
    auto gl = device(labels);
    double acc[2] = {0, 0}, gacc[2];
    tn::Tensor<double, tn::CudaDevice> dacc(tn::Dims{2});
    tn::count_correct(cpu, rows, cols, y.data(), labels.data(), acc);
    tn::count_correct(gpu(), rows, cols, gy.data(), gl.data(), dacc.data());
    tn::read_accumulator(gpu(), dacc.data(), gacc);
    EXPECT_EQ(gacc[1], acc[1]);
    EXPECT_EQ(gacc[0], 0.0);
}

TEST_F(CudaOps, GatherAndCopyMoveExactlyTheRowsAsked) {
    const std::size_t rows = 50, row = 784, count = 17;
    const auto src = uniform(rows * row, 13);
    std::vector<std::int32_t> labels(rows);
    for (std::size_t i = 0; i < rows; ++i) labels[i] = std::int32_t(i * 7 % 10);
    std::vector<std::uint32_t> idx(count);
    for (std::size_t i = 0; i < count; ++i) idx[i] = std::uint32_t((i * 31 + 5) % rows);
    std::vector<float> dst(count * row);
    std::vector<std::int32_t> lab(count);
    auto gsrc = device(src), gdst = device(dst);
    auto glabels = device(labels), glab = device(lab);
    auto gidx = device(idx);
    tn::gather_rows(cpu, count, row, src.data(), idx.data(), dst.data());
    tn::gather_labels(cpu, count, labels.data(), idx.data(), lab.data());
    tn::gather_rows(gpu(), count, row, gsrc.data(), gidx.data(), gdst.data());
    tn::gather_labels(gpu(), count, glabels.data(), gidx.data(), glab.data());
    EXPECT_EQ(gdst.to_host(), dst);
    EXPECT_EQ(glab.to_host(), lab);
    tn::Tensor<float, tn::CudaDevice> copy(tn::Dims{count * row});
    tn::copy_values(gpu(), count * row, gdst.data(), copy.data());
    EXPECT_EQ(copy.to_host(), dst);
}

TEST_F(CudaOps, OptimizerUpdatesMatchTheCpuIncludingPenalties) {
    const std::size_t n = 10'007;
    const auto w0 = uniform(n, 14), g = uniform(n, 15), s0 = uniform(n, 16, 0.0, 0.1), v0 = uniform(n, 17, 0.0, 0.1);
    auto run = [&](const char* what, auto cpu_step, auto gpu_step) {
        auto w = w0, s = s0, v = v0;
        auto gw = device(w0), gg = device(g), gs = device(s0), gv = device(v0);
        cpu_step(w.data(), g.data(), s.data(), v.data());
        gpu_step(gw.data(), gg.data(), gs.data(), gv.data());
        expect_close(what, w, gw.to_host(), kSum);
        expect_close(what, s, gs.to_host(), kSum);
        expect_close(what, v, gv.to_host(), kSum);
    };
    for (float l1 : {0.0f, 1e-3f})
        for (float l2 : {0.0f, 1e-2f}) {
            SCOPED_TRACE("l1 " + std::to_string(l1) + " l2 " + std::to_string(l2));
            for (float momentum : {0.0f, 0.9f})
                for (bool nesterov : {false, true}) {
                    if (nesterov && momentum == 0.0f) continue;
                    run("sgd", [&](float* w, const float* gr, float*, float* v) {
                        tn::sgd_update(cpu, n, w, gr, v, 0.05f, momentum, nesterov, l1, l2);
                    }, [&](float* w, const float* gr, float*, float* v) {
                        tn::sgd_update(gpu(), n, w, gr, v, 0.05f, momentum, nesterov, l1, l2);
                    });
                }
            run("rmsprop", [&](float* w, const float* gr, float* s, float*) {
                tn::rmsprop_update(cpu, n, w, gr, s, 1e-3f, 0.9f, 1e-7f, l1, l2);
            }, [&](float* w, const float* gr, float* s, float*) {
                tn::rmsprop_update(gpu(), n, w, gr, s, 1e-3f, 0.9f, 1e-7f, l1, l2);
            });
            run("adam", [&](float* w, const float* gr, float* m, float* v) {
                tn::adam_update(cpu, n, w, gr, m, v, 1e-3f, 0.9f, 0.999f, 1e-7f, 0.19f, 0.002f, l1, l2);
            }, [&](float* w, const float* gr, float* m, float* v) {
                tn::adam_update(gpu(), n, w, gr, m, v, 1e-3f, 0.9f, 0.999f, 1e-7f, 0.19f, 0.002f, l1, l2);
            });
        }
}

TEST_F(CudaOps, DropoutDrawsTheCpuMaskBitForBit) {
    const std::size_t count = 100'003;
    const auto x = uniform(count, 18), dy = uniform(count, 19);
    std::vector<float> y(count), mask(count), dx(count);
    auto gx = device(x), gdy = device(dy), gy = device(y), gmask = device(mask), gdx = device(dx);
    tn::dropout_forward(cpu, count, 0.3, 1234, x.data(), y.data(), mask.data());
    tn::dropout_forward(gpu(), count, 0.3, 1234, gx.data(), gy.data(), gmask.data());
    EXPECT_EQ(gmask.to_host(), mask);
    EXPECT_EQ(gy.to_host(), y);
    tn::dropout_backward(cpu, count, dy.data(), mask.data(), dx.data());
    tn::dropout_backward(gpu(), count, gdy.data(), gmask.data(), gdx.data());
    EXPECT_EQ(gdx.to_host(), dx);
}

// The transforms are drawn from hash(seed, index) and the pixel formula is
// one host-device function with separately rounded products on the GPU, so
// the images are expected bit-equal; whole-pixel transforms are copies and
// must be. Sine and cosine are taken in double on each side; 1e-6 allows a
// libm's last bit to move an interpolation weight.
TEST_F(CudaOps, AugmentImagesDrawTheCpuImages) {
    const std::size_t n = 300, c = 2, h = 28, w = 28;
    const auto x = uniform(n * c * h * w, 20, 0.0, 1.0);
    const auto gx = device(x);
    const tn::Augmentation whole{.max_shift = 3, .cutout = 8, .cutout_probability = 0.5f, .horizontal_flip = true,
                                 .fill = -0.25f};
    const tn::Augmentation every{.max_shift = 2, .max_rotation = 15, .min_scale = 0.85f, .max_scale = 1.15f,
                                 .cutout = 6, .horizontal_flip = true};
    for (const bool exact : {true, false}) {
        std::vector<float> y(x.size());
        auto gy = device(y);
        tn::augment_images(cpu, n, c, h, w, x.data(), y.data(), exact ? whole : every, 77);
        tn::augment_images(gpu(), n, c, h, w, gx.data(), gy.data(), exact ? whole : every, 77);
        if (exact) EXPECT_EQ(gy.to_host(), y);
        else cuda_test::expect_close("augmented images", y, gy.to_host(), 1e-6);
    }
}

TEST_F(CudaOps, BatchNormMatchesTheCpuInEveryMode) {
    struct Case { std::size_t n, c, s; };
    for (const Case& t : {Case{8, 5, 1}, Case{4, 6, 49}, Case{64, 32, 169}}) {
        SCOPED_TRACE("n " + std::to_string(t.n) + " c " + std::to_string(t.c) + " s " + std::to_string(t.s));
        const std::size_t count = t.n * t.c * t.s;
        const auto x = uniform(count, 20, -2.0, 3.0), dy = uniform(count, 21);
        const auto gamma = uniform(t.c, 22, 0.5, 1.5), beta = uniform(t.c, 23);
        auto rm = uniform(t.c, 24), rv = uniform(t.c, 25, 0.5, 2.0);
        auto gx = device(x), gdy = device(dy), ggamma = device(gamma), gbeta = device(beta), grm = device(rm),
             grv = device(rv);
        std::vector<float> y(count), dx(count), dgamma(t.c), dbeta(t.c);
        auto gy = device(y), gdx = device(dx), gdgamma = device(dgamma), gdbeta = device(dbeta);
        tn::batchnorm_forward_training(cpu, t.n, t.c, t.s, x.data(), gamma.data(), beta.data(), rm.data(), rv.data(),
                                       0.1, 1e-5, y.data());
        tn::batchnorm_forward_training(gpu(), t.n, t.c, t.s, gx.data(), ggamma.data(), gbeta.data(), grm.data(),
                                       grv.data(), 0.1, 1e-5, gy.data());
        expect_close("training y", y, gy.to_host(), kSum);
        expect_close("running mean", rm, grm.to_host(), kSum);
        expect_close("running var", rv, grv.to_host(), kSum);
        tn::batchnorm_forward_inference(cpu, t.n, t.c, t.s, x.data(), gamma.data(), beta.data(), rm.data(), rv.data(),
                                        1e-5, y.data());
        tn::batchnorm_forward_inference(gpu(), t.n, t.c, t.s, gx.data(), ggamma.data(), gbeta.data(), grm.data(),
                                        grv.data(), 1e-5, gy.data());
        expect_close("inference y", y, gy.to_host(), kSum);
        tn::batchnorm_backward(cpu, t.n, t.c, t.s, x.data(), dy.data(), gamma.data(), 1e-5, dx.data(), dgamma.data(),
                               dbeta.data());
        tn::batchnorm_backward(gpu(), t.n, t.c, t.s, gx.data(), gdy.data(), ggamma.data(), 1e-5, gdx.data(),
                               gdgamma.data(), gdbeta.data());
        expect_close("dx", dx, gdx.to_host(), kSum);
        expect_close("dgamma", dgamma, gdgamma.to_host(), kSum);
        expect_close("dbeta", dbeta, gdbeta.to_host(), kSum);
        tn::batchnorm_backward(gpu(), t.n, t.c, t.s, gx.data(), gdy.data(), ggamma.data(), 1e-5,
                               static_cast<float*>(nullptr), gdgamma.data(), gdbeta.data());
        expect_close("dgamma without dx", dgamma, gdgamma.to_host(), kSum);
    }
}

TEST_F(CudaOps, AllFiniteFindsNaNAndInfinity) {
    auto v = uniform(5000, 26);
    EXPECT_TRUE(tn::all_finite(gpu(), v.size(), device(v).data()));
    v[4321] = std::numeric_limits<float>::quiet_NaN();
    EXPECT_FALSE(tn::all_finite(gpu(), v.size(), device(v).data()));
    v[4321] = 1.0f;
    v[7] = -std::numeric_limits<float>::infinity();
    EXPECT_FALSE(tn::all_finite(gpu(), v.size(), device(v).data()));
    EXPECT_TRUE(tn::all_finite(gpu(), 0, static_cast<const float*>(nullptr)));
}
