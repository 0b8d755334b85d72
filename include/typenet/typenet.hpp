// typenet/typenet.hpp - the umbrella header users include.
//
// Internal code includes the narrow headers; only users include this one.
// The CUDA backend is added when compiled by nvcc or with TYPENET_CUDA.
#pragma once

#include "backend/cpu/cpu.hpp"
#include "core/backend.hpp"
#include "core/error.hpp"
#include "core/random.hpp"
#include "core/shape.hpp"
#include "core/tensor.hpp"
#include "core/version.hpp"
#include "data/dataset.hpp"
#include "data/idx.hpp"
#include "data/mnist.hpp"
#include "data/transform.hpp"
#include "io/checkpoint.hpp"
#include "io/safetensors.hpp"
#include "io/save_load.hpp"
#include "io/snapshot.hpp"
#include "layers/activation.hpp"
#include "layers/batchnorm.hpp"
#include "layers/conv2d.hpp"
#include "layers/dense.hpp"
#include "layers/dropout.hpp"
#include "layers/flatten.hpp"
#include "layers/init.hpp"
#include "layers/pool2d.hpp"
#include "losses/binary_cross_entropy.hpp"
#include "losses/mse.hpp"
#include "losses/softmax_cross_entropy.hpp"
#include "model/model.hpp"
#include "model/sequential.hpp"
#include "model/summary.hpp"
#include "model/transfer.hpp"
#include "optim/adam.hpp"
#include "optim/rmsprop.hpp"
#include "optim/sgd.hpp"
#include "train/callbacks.hpp"
#include "train/fit.hpp"
#include "train/inspect.hpp"
#include "train/predict.hpp"
#include "train/schedules.hpp"

// The CUDA backend (tn::Cuda), when this source is compiled by nvcc or the
// target links typenet::cuda (which defines TYPENET_CUDA). Its header holds
// kernels, so such a source must be compiled as CUDA; it says so if not.
#if defined(__CUDACC__) || defined(TYPENET_CUDA)
#include "backend/cuda/cuda.cuh"
#endif
