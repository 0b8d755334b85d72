# Data-parallel training's optional targets:
#  - typenet::mpi (typenet + MPI::MPI_CXX), for programs that include
#    typenet/distributed/mpi.hpp, when find_package(MPI) finds MPI
#    (Debian: libopenmpi-dev; cmake/install_deps.sh --tests installs it);
#  - typenet::nccl (typenet::cuda + typenet::mpi + libnccl), for
#    typenet/distributed/nccl.cuh, when the CUDA backend is on and nccl.h and
#    libnccl are found (in the CUDA toolkit's directories, or under NCCL_ROOT).
# Neither is part of typenet::typenet: the core headers never include MPI.
include_guard(GLOBAL)

find_package(MPI QUIET COMPONENTS CXX)
if(MPI_CXX_FOUND)
  add_library(typenet_mpi INTERFACE)
  add_library(typenet::mpi ALIAS typenet_mpi)
  target_link_libraries(typenet_mpi INTERFACE typenet::typenet MPI::MPI_CXX)
  message(STATUS "typenet: typenet::mpi on (MPI ${MPI_CXX_VERSION}, ${MPIEXEC_EXECUTABLE})")
else()
  message(STATUS "typenet: MPI not found (Debian: libopenmpi-dev); no typenet::mpi, the distributed tests "
                 "and examples are skipped")
endif()

if(TYPENET_CUDA AND TARGET typenet_mpi)
  find_path(TYPENET_NCCL_INCLUDE_DIR nccl.h
            HINTS ${NCCL_ROOT} $ENV{NCCL_ROOT} ${CUDAToolkit_INCLUDE_DIRS} PATH_SUFFIXES include)
  find_library(TYPENET_NCCL_LIBRARY NAMES nccl libnccl.so.2
               HINTS ${NCCL_ROOT} $ENV{NCCL_ROOT} ${CUDAToolkit_LIBRARY_DIR} ${CUDAToolkit_LIBRARY_ROOT}
               PATH_SUFFIXES lib lib64)
  if(TYPENET_NCCL_INCLUDE_DIR AND TYPENET_NCCL_LIBRARY)
    add_library(typenet_nccl INTERFACE)
    add_library(typenet::nccl ALIAS typenet_nccl)
    target_include_directories(typenet_nccl INTERFACE ${TYPENET_NCCL_INCLUDE_DIR})
    target_link_libraries(typenet_nccl INTERFACE typenet::cuda typenet_mpi ${TYPENET_NCCL_LIBRARY})
    message(STATUS "typenet: typenet::nccl on (${TYPENET_NCCL_LIBRARY})")
  else()
    message(STATUS "typenet: NCCL (nccl.h, libnccl) not found; set NCCL_ROOT for typenet::nccl")
  endif()
endif()
