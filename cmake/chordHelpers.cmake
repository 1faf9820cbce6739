# Helpers for targets built on chord, in chord's own tree and in a consumer project.
include_guard(GLOBAL)

# chord_use_pch(<target>)
#   Reuse chord's precompiled header when building inside chord's tree (the donor target
#   chord_pch exists there); a no-op elsewhere.
function(chord_use_pch target)
  if(TARGET chord_pch AND CHORD_USE_PCH)
    target_precompile_headers(${target} REUSE_FROM chord_pch)
  endif()
endfunction()

# chord_add_executable(<name> SOURCES <src>... [LIBRARIES <lib>...])
#   An executable linked against chord::chord with C++20 and the shared PCH.
function(chord_add_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBRARIES" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE chord::chord ${ARG_LIBRARIES})
  target_compile_features(${name} PRIVATE cxx_std_20)
  chord_use_pch(${name})
endfunction()
