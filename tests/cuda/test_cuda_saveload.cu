// Weights files and checkpoints of CUDA models (io/): a file saved from the
// GPU loads on the CPU and back with identical values, and a checkpoint taken
// on the GPU restores parameters, buffers, optimizer state and the generator.
#include "cuda_test.hpp"

#include "../io_test_util.hpp"

using CudaSaveLoad = cuda_test::Gpu;  // tests that skip without a GPU
using cuda_test::gpu;

namespace {
const tn::Cpu cpu{1};
using Net = tn::Sequential<tn::Input<1, 12, 12>, tn::Conv2D<4, 3>, tn::BatchNorm, tn::ReLU, tn::MaxPool2D<2>, tn::Flatten,
                           tn::Dense<16>, tn::BatchNorm, tn::ReLU, tn::Dense<3>>;

tn::Dataset toy(std::size_t n) {
    tn::Dataset d;
    d.name = "toy";
    d.classes = 3;
    d.images.resize(tn::Dims{n, 1, 12, 12});
    d.labels.resize(n);
    tn::Rng rng(5);
    for (std::size_t i = 0; i < n; ++i) {
        d.labels[i] = std::int32_t(i % 3);
        for (std::size_t p = 0; p < 144; ++p) d.images[i * 144 + p] = float(rng.uniform() + (p % 3 == i % 3 ? 0.5 : 0.0));
    }
    return d;
}
}  // namespace

TEST_F(CudaSaveLoad, SaveOnGpuLoadOnCpuAndBackKeepsEveryValue) {
    io_test::TempDir dir;
    tn::Model<Net, tn::Cuda> g{1, gpu()};
    tn::RMSprop opt;
    tn::fit(g, opt, tn::SoftmaxCrossEntropy{}, toy(48), {.epochs = 1, .batch_size = 16, .verbose = tn::Verbosity::silent});
    tn::save(g, dir / "gpu.safetensors");

    tn::Model<Net> c{2, cpu};
    tn::load(c, dir / "gpu.safetensors");
    EXPECT_EQ(c.parameters().to_host(), g.parameters().to_host());
    EXPECT_EQ(c.buffers().to_host(), g.buffers().to_host());

    tn::save(c, dir / "cpu.safetensors");
    EXPECT_EQ(io_test::read_raw(dir / "cpu.safetensors"), io_test::read_raw(dir / "gpu.safetensors"))
        << "the same weights give the same file, whichever backend saved them";
    tn::Model<Net, tn::Cuda> g2{3, gpu()};
    tn::load(g2, dir / "cpu.safetensors");
    EXPECT_EQ(g2.parameters().to_host(), g.parameters().to_host());
    EXPECT_EQ(g2.buffers().to_host(), g.buffers().to_host());
}

TEST_F(CudaSaveLoad, CheckpointRestoresAGpuModelCompletely) {
    io_test::TempDir dir;
    tn::Model<Net, tn::Cuda> a{1, gpu()};
    tn::Adam opt{{.learning_rate = 0.01}};
    tn::fit(a, opt, tn::SoftmaxCrossEntropy{}, toy(48), {.epochs = 2, .batch_size = 16, .verbose = tn::Verbosity::silent});
    tn::save_checkpoint(dir / "c.ckpt", a, opt, 2);

    tn::Model<Net, tn::Cuda> b{9, gpu()};
    tn::Adam opt_b{{.learning_rate = 0.01}};
    EXPECT_EQ(tn::load_checkpoint(dir / "c.ckpt", b, opt_b), 2u);
    EXPECT_EQ(b.parameters().to_host(), a.parameters().to_host());
    EXPECT_EQ(b.buffers().to_host(), a.buffers().to_host());
    EXPECT_EQ(b.optimizer_state().moments().to_host(), a.optimizer_state().moments().to_host());
    EXPECT_EQ(b.rng().state(), a.rng().state());
    EXPECT_EQ(b.optimizer_state().step(), a.optimizer_state().step());
}
