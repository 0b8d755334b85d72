// tests/fuzz/fuzz_model.hpp - the network fuzz_load loads into and
// typenet_make_seeds saves its seeds from.
#pragma once

#include <typenet/backend/cpu/cpu.hpp>
#include <typenet/io/checkpoint.hpp>
#include <typenet/io/save_load.hpp>
#include <typenet/layers/activation.hpp>
#include <typenet/layers/batchnorm.hpp>
#include <typenet/layers/conv2d.hpp>
#include <typenet/layers/dense.hpp>
#include <typenet/layers/flatten.hpp>
#include <typenet/model/model.hpp>
#include <typenet/model/sequential.hpp>
#include <typenet/optim/rmsprop.hpp>

namespace fuzz {

// Small, but with every kind of tensor load() checks: weights and biases of
// several ranks, BatchNorm running statistics (buffers), and layers without
// parameters so the names skip indices as in PyTorch: 0.weight (2,1,3,3),
// 0.bias, 1.{weight,bias,running_mean,running_var} (2), 4.weight (3,18), 4.bias.
using Net = typenet::Sequential<typenet::Input<1, 5, 5>, typenet::Conv2D<2, 3>, typenet::BatchNorm, typenet::ReLU,
                                typenet::Flatten, typenet::Dense<3>>;
using Model = typenet::Model<Net, typenet::Cpu>;
using Optimizer = typenet::RMSprop;  // one optimizer_state slot

}  // namespace fuzz
