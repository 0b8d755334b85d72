# Finds cuDNN (cudnn.h and libcudnn) beside the CUDA toolkit, under $CUDNN_ROOT
# or in the system directories, and defines the imported target typenet::cudnn.
# Used when building typenet and by the installed package config, so both find
# cuDNN the same way. Needs find_package(CUDAToolkit) first.
include_guard(GLOBAL)

function(typenet_find_cudnn out_found)
  if(TARGET typenet::cudnn)
    set(${out_found} TRUE PARENT_SCOPE)
    return()
  endif()
  find_path(TYPENET_CUDNN_INCLUDE_DIR cudnn.h
    HINTS ${CUDAToolkit_INCLUDE_DIRS} ENV CUDNN_ROOT
    PATHS /usr/include /usr/local/cuda/include
    PATH_SUFFIXES include)
  find_library(TYPENET_CUDNN_LIBRARY cudnn
    HINTS ${CUDAToolkit_LIBRARY_DIR} ${CUDAToolkit_LIBRARY_ROOT} ENV CUDNN_ROOT
    PATHS /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /usr/local/cuda/lib64
    PATH_SUFFIXES lib lib64)
  if(NOT TYPENET_CUDNN_INCLUDE_DIR OR NOT TYPENET_CUDNN_LIBRARY)
    set(${out_found} FALSE PARENT_SCOPE)
    return()
  endif()
  add_library(typenet::cudnn UNKNOWN IMPORTED GLOBAL)
  set_target_properties(typenet::cudnn PROPERTIES
    IMPORTED_LOCATION "${TYPENET_CUDNN_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${TYPENET_CUDNN_INCLUDE_DIR}")
  set(${out_found} TRUE PARENT_SCOPE)
endfunction()
