# Finds chord's dependencies: the core in one imported target, chord::deps, and the optional components.
#
# Used twice: by chord's own build and by the installed chordConfig.cmake, so that a consumer project
# resolves exactly the same libraries (LibTorch from the PyPI wheel, libsndfile, libsoxr, stb, fmt,
# nlohmann-json; libespeak-ng, liquid-dsp and CLI11 when asked for) on its own machine.
include_guard(GLOBAL)
#
# chord::deps holds what every chord header may need (LibTorch, fmt, nlohmann-json, libsndfile, libsoxr,
# stb). Optional components each add one imported target, found only when asked for
# (CHORD_DEPENDENCY_COMPONENTS; the installed package sets it from find_package(chord COMPONENTS ...)):
#   espeak  chord::espeak  libespeak-ng        text/phonemizer.hpp (the demo corpora's English front end)
#   liquid  chord::liquid  liquid-dsp          audio/lowpass.hpp (SAGA-SR's low-resolution simulation)
#   apps    chord::apps    CLI11 (+ liquid)    chord/apps/*.hpp, the ready-made programs
#   hub     chord::hub     libcurl             chord/hub/*.hpp (Hugging Face Hub downloads, --model, chord-fetch)
# chord_<component>_FOUND says which were found. chord's own build asks for all of them and needs the
# first three; without libcurl it builds everything but the Hub client.
set(_chord_known_components espeak liquid apps hub)
if(NOT DEFINED CHORD_DEPENDENCY_COMPONENTS)
  set(CHORD_DEPENDENCY_COMPONENTS ${_chord_known_components})
endif()
if("apps" IN_LIST CHORD_DEPENDENCY_COMPONENTS AND NOT "liquid" IN_LIST CHORD_DEPENDENCY_COMPONENTS)
  list(APPEND CHORD_DEPENDENCY_COMPONENTS liquid)  # the super-resolution programs simulate low-pass inputs
endif()

# Torch's CMake detects GPU architectures to compile CUDA for; with no GPU present it picks a list that
# includes ones nvcc 13 no longer supports (compute_50) and ignores CMAKE_CUDA_ARCHITECTURES. Name the
# architecture instead (9.0: Hopper, the H100/H200); override with -DTORCH_CUDA_ARCH_LIST=... .
if(NOT DEFINED TORCH_CUDA_ARCH_LIST AND NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
  set(TORCH_CUDA_ARCH_LIST "9.0" CACHE STRING "CUDA architectures for LibTorch's CUDA flags (chord::cuda_ops)")
endif()

find_package(Torch REQUIRED)
find_package(fmt REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(CHORD_SNDFILE REQUIRED IMPORTED_TARGET sndfile)
pkg_check_modules(CHORD_SOXR REQUIRED IMPORTED_TARGET soxr)
pkg_check_modules(CHORD_STB REQUIRED IMPORTED_TARGET stb)

foreach(_chord_component IN LISTS _chord_known_components)
  set(chord_${_chord_component}_FOUND FALSE)
endforeach()
if("espeak" IN_LIST CHORD_DEPENDENCY_COMPONENTS)
  pkg_check_modules(CHORD_ESPEAK IMPORTED_TARGET espeak-ng)
  if(CHORD_ESPEAK_FOUND AND NOT TARGET chord::espeak)
    add_library(chord::espeak INTERFACE IMPORTED GLOBAL)
    target_link_libraries(chord::espeak INTERFACE PkgConfig::CHORD_ESPEAK)
  endif()
  set(chord_espeak_FOUND ${CHORD_ESPEAK_FOUND})
endif()
if("liquid" IN_LIST CHORD_DEPENDENCY_COMPONENTS)
  # liquid-dsp ships no pkg-config file.
  find_path(CHORD_LIQUID_INCLUDE_DIR liquid/liquid.h)
  find_library(CHORD_LIQUID_LIBRARY liquid)
  if(CHORD_LIQUID_INCLUDE_DIR AND CHORD_LIQUID_LIBRARY)
    if(NOT TARGET chord::liquid)
      add_library(chord::liquid INTERFACE IMPORTED GLOBAL)
      target_link_libraries(chord::liquid INTERFACE ${CHORD_LIQUID_LIBRARY})
      target_include_directories(chord::liquid INTERFACE ${CHORD_LIQUID_INCLUDE_DIR})
    endif()
    set(chord_liquid_FOUND TRUE)
  endif()
endif()
if("apps" IN_LIST CHORD_DEPENDENCY_COMPONENTS)
  find_package(CLI11 QUIET)
  if(CLI11_FOUND AND chord_liquid_FOUND)
    if(NOT TARGET chord::apps)
      add_library(chord::apps INTERFACE IMPORTED GLOBAL)
      target_link_libraries(chord::apps INTERFACE CLI11::CLI11 chord::liquid)
    endif()
    set(chord_apps_FOUND TRUE)
  endif()
endif()

if("hub" IN_LIST CHORD_DEPENDENCY_COMPONENTS)
  find_package(CURL QUIET)
  if(CURL_FOUND)
    if(NOT TARGET chord::hub)
      add_library(chord::hub INTERFACE IMPORTED GLOBAL)
      # CHORD_WITH_HUB: chord/apps/published_models.hpp downloads only when the program links libcurl.
      target_link_libraries(chord::hub INTERFACE CURL::libcurl)
      target_compile_definitions(chord::hub INTERFACE CHORD_WITH_HUB)
    endif()
    set(chord_hub_FOUND TRUE)
  endif()
endif()

if(NOT TARGET chord::deps)
  add_library(chord::deps INTERFACE IMPORTED GLOBAL)
  target_link_libraries(chord::deps INTERFACE
    torch fmt::fmt nlohmann_json::nlohmann_json PkgConfig::CHORD_SNDFILE PkgConfig::CHORD_SOXR PkgConfig::CHORD_STB)

  # The PyPI wheel's libtorch.so exports its own (statically linked) copy of std::filesystem, and a
  # program that links libtorch before libstdc++ binds std::filesystem::remove_all & co. to that copy,
  # which crashes (a call through a null pointer). Make libstdc++ the first library searched.
  target_link_options(chord::deps INTERFACE "LINKER:--push-state,--no-as-needed,-lstdc++,--pop-state")

  # The PyPI wheel's libtorch_cuda.so finds its CUDA libraries (NCCL, cuDNN, ...) through an $ORIGIN
  # RPATH into site-packages/nvidia/*/lib. The dynamic loader honours that; GNU ld does not, and would
  # resolve them against an older system NCCL ("undefined reference to ncclSignal"). Point the
  # linker at the wheel's copies.
  if(TORCH_INSTALL_PREFIX)
    file(GLOB _chord_wheel_nvidia_libs LIST_DIRECTORIES true "${TORCH_INSTALL_PREFIX}/../nvidia/*/lib")
    if(_chord_wheel_nvidia_libs)
      list(JOIN _chord_wheel_nvidia_libs ":" _chord_rpath_link)
      target_link_options(chord::deps INTERFACE "LINKER:-rpath-link,${_chord_rpath_link}")
    endif()
  endif()
endif()

# True when the LibTorch found was built with CUDA (the PyPI wheel is); CUDA ops need it.
if(TORCH_CUDA_LIBRARIES)
  set(CHORD_TORCH_HAS_CUDA ON)
else()
  set(CHORD_TORCH_HAS_CUDA OFF)
endif()
