// typenet/core/host_device.hpp - TYPENET_HOST_DEVICE, for code both backends compile.
//
// A function marked with it is one definition that the CPU backend calls on
// the host and nvcc also compiles for the GPU, so a formula the two backends
// share is written once (optim/update_rules.hpp, losses/rules.hpp).
#pragma once

#if defined(__CUDACC__)
#define TYPENET_HOST_DEVICE __host__ __device__
// Before (the `template` line of) a TYPENET_HOST_DEVICE template that the
// CPU backend also instantiates with host-only types (Eigen array maps, as
// Eigen is built with EIGEN_NO_CUDA): nvcc then skips its check that a
// host-device function calls no host function for that instantiation.
#define TYPENET_HOST_TYPES_OK _Pragma("nv_exec_check_disable")
#else
#define TYPENET_HOST_DEVICE
#define TYPENET_HOST_TYPES_OK
#endif
