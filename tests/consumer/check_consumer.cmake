# Builds and runs tests/consumer against typenet, in MODE "package" (install
# typenet into a temporary prefix, then find_package) or "subdirectory".
# Run with cmake -P; prints "consumer ok" only when everything worked.
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

set(args -DMODE=${MODE} -DCMAKE_BUILD_TYPE=Release)
if(MODE STREQUAL "package")
  run(${CMAKE_COMMAND} --install "${TYPENET_BINARY_DIR}" --prefix "${WORK_DIR}/prefix")
  list(APPEND args "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix")
else()
  list(APPEND args "-DTYPENET_SOURCE_DIR=${TYPENET_SOURCE_DIR}")
endif()

run(${CMAKE_COMMAND} -S "${CONSUMER_DIR}" -B "${WORK_DIR}/build" ${args})
run(${CMAKE_COMMAND} --build "${WORK_DIR}/build")
run("${WORK_DIR}/build/consumer")
message("${last_output}")
