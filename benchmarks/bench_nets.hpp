// benchmarks/bench_nets.hpp - the reference networks the benchmarks and the
// comparison runner train: the CNN of examples/reference_cnn.hpp and the two
// MLPs of examples/mnist_mlp.cpp (repeated here: that file is a program).
// benchmarks/compare/torch_epoch.py builds the same three in PyTorch.
#pragma once

#include "reference_cnn.hpp"

namespace bench {

namespace tn = typenet;

using Cnn = example::ReferenceCnn;  // 96,844 parameters
// 784-70-30-10 with sigmoid hidden layers (57,390 parameters).
using MlpSmall = tn::Sequential<tn::Input<784>, tn::Dense<70>, tn::Sigmoid, tn::Dense<30>, tn::Sigmoid, tn::Dense<10>>;
// 784-512-10 with a ReLU hidden layer (407,050 parameters).
using MlpWide = tn::Sequential<tn::Input<784>, tn::Dense<512>, tn::ReLU, tn::Dense<10>>;
static_assert(Cnn::parameter_count == 96'844);
static_assert(MlpSmall::parameter_count == 57'390);
static_assert(MlpWide::parameter_count == 407'050);

}  // namespace bench
