# Installs chord into a fresh prefix and builds tests/consumer against it with find_package(chord).
# Run by CTest (test "consumer_project").
foreach(var CHORD_SOURCE_DIR CHORD_BINARY_DIR WORK_DIR TORCH_PREFIX GENERATOR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "consumer_project.cmake: ${var} is not set")
  endif()
endforeach()

file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "command failed (${status}): ${ARGN}\n${out}\n${err}")
  endif()
endfunction()

run(${CMAKE_COMMAND} --install "${CHORD_BINARY_DIR}" --prefix "${prefix}")
if(NOT EXISTS "${prefix}/lib/cmake/chord/chordConfig.cmake")
  message(FATAL_ERROR "install did not produce lib/cmake/chord/chordConfig.cmake")
endif()
run(${CMAKE_COMMAND} -S "${CHORD_SOURCE_DIR}/tests/consumer" -B "${WORK_DIR}/build" -G "${GENERATOR}"
    -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=${prefix}" "-DTorch_DIR=${TORCH_PREFIX}")
run(${CMAKE_COMMAND} --build "${WORK_DIR}/build")
run("${WORK_DIR}/build/consumer" "${WORK_DIR}/roundtrip.safetensors")
run("${WORK_DIR}/build/consumer-f5tts-train" --help)

# Models only: no optional component. CLI11 is disabled outright; espeak-ng and liquid-dsp must be
# neither looked for (no cache entries) nor linked (no NEEDED entries).
run(${CMAKE_COMMAND} -S "${CHORD_SOURCE_DIR}/tests/consumer_models" -B "${WORK_DIR}/models" -G "${GENERATOR}"
    -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=${prefix}" "-DTorch_DIR=${TORCH_PREFIX}" -DCMAKE_DISABLE_FIND_PACKAGE_CLI11=TRUE)
file(STRINGS "${WORK_DIR}/models/CMakeCache.txt" looked_up REGEX "^(CHORD_ESPEAK|CHORD_LIQUID|CLI11_DIR)")
if(looked_up)
  message(FATAL_ERROR "the models-only consumer looked for optional components: ${looked_up}")
endif()
run(${CMAKE_COMMAND} --build "${WORK_DIR}/models")
execute_process(COMMAND readelf -d "${WORK_DIR}/models/models_consumer" OUTPUT_VARIABLE dynamic RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "readelf failed on the models-only consumer")
endif()
if(dynamic MATCHES "espeak|liquid")
  message(FATAL_ERROR "the models-only consumer links an optional component:\n${dynamic}")
endif()
run("${WORK_DIR}/models/models_consumer")
message(STATUS "consumer projects built against the installed chord and ran (with the apps component, and models only)")
