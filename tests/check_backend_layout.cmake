cmake_minimum_required(VERSION 3.25)
# Checks that backend/cpu (*.hpp) and backend/cuda (*.cuh) hold the same
# op-family files, so each family is found under the same name in both.
# Each folder may also hold the files of its own machinery, listed here.
# conv_pool: the optional ConvPoolFusionOps, which only the CPU has so far.
set(cpu_own cpu isa thread_pool blas_info conv_direct conv_pool)
set(cuda_own cuda check conv_plan device launch)

foreach(side cpu cuda)
  if(side STREQUAL "cpu")
    set(ext hpp)
  else()
    set(ext cuh)
  endif()
  file(GLOB files RELATIVE ${INCLUDE_DIR}/backend/${side} ${INCLUDE_DIR}/backend/${side}/*.${ext})
  set(${side}_families "")
  foreach(f ${files})
    string(REGEX REPLACE "\\.${ext}$" "" stem ${f})
    if(NOT stem IN_LIST ${side}_own)
      list(APPEND ${side}_families ${stem})
    endif()
  endforeach()
  list(SORT ${side}_families)
endforeach()

if(NOT cpu_families STREQUAL cuda_families)
  message(FATAL_ERROR "backend layout differs: backend/cpu has op families [${cpu_families}] but backend/cuda has "
                      "[${cuda_families}]; give each family the same file name in both (or list a backend's own "
                      "machinery in tests/check_backend_layout.cmake)")
endif()
message("backend layout ok: ${cpu_families}")
