# The CUDA backend's build: the option TYPENET_CUDA and, when it is on, the
# INTERFACE target typenet::cuda (typenet::typenet + cudart + cuBLAS + cuDNN),
# installed in its own export set so that the CPU package never needs CUDA.
#
# TYPENET_CUDA defaults to ON when CMake finds a CUDA compiler. Left to that
# default, a missing toolkit library or cuDNN turns it OFF with a warning; set
# explicitly, it is an error.
include_guard(GLOBAL)

if(NOT DEFINED TYPENET_CUDA)
  include(CheckLanguage)
  check_language(CUDA)
  set(_typenet_cuda_default OFF)
  if(CMAKE_CUDA_COMPILER)
    set(_typenet_cuda_default ON)
  endif()
  set(TYPENET_CUDA_IS_DEFAULT ON CACHE INTERNAL "TYPENET_CUDA was chosen by typenet, not by the user")
endif()
option(TYPENET_CUDA "Build typenet::cuda (cuBLAS, cuDNN) and the CUDA tests and examples; needs nvcc"
       ${_typenet_cuda_default})

function(_typenet_cuda_unavailable why)
  if(TYPENET_CUDA_IS_DEFAULT)
    message(WARNING "typenet: CUDA backend off: ${why}. Install it, or set TYPENET_CUDA=OFF to silence this.")
    set(TYPENET_CUDA OFF CACHE BOOL "" FORCE)
  else()
    message(FATAL_ERROR "typenet: TYPENET_CUDA=ON but ${why}; install it (and set CUDNN_ROOT if it is elsewhere) "
                        "or configure with -DTYPENET_CUDA=OFF")
  endif()
endfunction()

if(TYPENET_CUDA)
  find_package(CUDAToolkit QUIET)
  if(NOT CUDAToolkit_FOUND)
    _typenet_cuda_unavailable("the CUDA toolkit (CUDAToolkit) was not found")
  else()
    include(${CMAKE_CURRENT_LIST_DIR}/typenet_cudnn.cmake)
    typenet_find_cudnn(_typenet_cudnn_found)
    if(NOT _typenet_cudnn_found)
      _typenet_cuda_unavailable("cuDNN (cudnn.h and libcudnn) was not found")
    endif()
  endif()
endif()

if(TYPENET_CUDA)
  # sm_80 (A100), sm_90 (H100) and PTX that newer GPUs compile at load time.
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES AND NOT DEFINED ENV{CUDAARCHS})
    set(CMAKE_CUDA_ARCHITECTURES "80-real;90-real;90-virtual" CACHE STRING "GPU architectures to compile for")
  endif()
  enable_language(CUDA)
  message(STATUS "typenet: CUDA backend on (CUDA ${CUDAToolkit_VERSION}, cuDNN ${TYPENET_CUDNN_LIBRARY}, "
                 "architectures ${CMAKE_CUDA_ARCHITECTURES})")

  add_library(typenet_cuda INTERFACE)
  add_library(typenet::cuda ALIAS typenet_cuda)
  set_target_properties(typenet_cuda PROPERTIES EXPORT_NAME cuda)
  target_link_libraries(typenet_cuda INTERFACE typenet::typenet CUDA::cudart CUDA::cublas typenet::cudnn)
  # EIGEN_NO_CUDA: under nvcc Eigen would otherwise mark its code
  # __host__ __device__ and drop SIMD from the CPU backend's host code.
  target_compile_definitions(typenet_cuda INTERFACE TYPENET_CUDA EIGEN_NO_CUDA)
  # C++20 from nvcc. Older CMake (3.25, Debian 12's) does not know that nvcc
  # has it (no cuda_std_20 feature), so the flag is then given directly;
  # either way it travels with the exported target.
  if("cuda_std_20" IN_LIST CMAKE_CUDA_COMPILE_FEATURES)
    target_compile_features(typenet_cuda INTERFACE cuda_std_20)
  else()
    target_compile_options(typenet_cuda INTERFACE $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20>)
  endif()

  install(TARGETS typenet_cuda EXPORT typenetCudaTargets)
  install(EXPORT typenetCudaTargets NAMESPACE typenet:: DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/typenet)
  install(FILES ${CMAKE_CURRENT_LIST_DIR}/typenet_cudnn.cmake DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/typenet)
endif()
