# Finds chord's dependencies and gathers them in one imported target, chord::deps.
#
# Used twice: by chord's own build and by the installed chordConfig.cmake, so that a consumer project
# resolves exactly the same libraries (LibTorch from the PyPI wheel, libsndfile, libsoxr, stb,
# libespeak-ng, liquid-dsp, fmt, nlohmann-json) on its own machine.
include_guard(GLOBAL)

find_package(Torch REQUIRED)
find_package(fmt REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 REQUIRED)  # used by the ready-made programs in chord/apps/
find_package(PkgConfig REQUIRED)
pkg_check_modules(CHORD_SNDFILE REQUIRED IMPORTED_TARGET sndfile)
pkg_check_modules(CHORD_SOXR REQUIRED IMPORTED_TARGET soxr)
pkg_check_modules(CHORD_STB REQUIRED IMPORTED_TARGET stb)
pkg_check_modules(CHORD_ESPEAK REQUIRED IMPORTED_TARGET espeak-ng)
# liquid-dsp (IIR filter design for low-resolution simulation) ships no pkg-config file.
find_path(CHORD_LIQUID_INCLUDE_DIR liquid/liquid.h REQUIRED)
find_library(CHORD_LIQUID_LIBRARY liquid REQUIRED)

if(NOT TARGET chord::deps)
  add_library(chord::deps INTERFACE IMPORTED GLOBAL)
  target_link_libraries(chord::deps INTERFACE
    torch fmt::fmt nlohmann_json::nlohmann_json CLI11::CLI11
    PkgConfig::CHORD_SNDFILE PkgConfig::CHORD_SOXR PkgConfig::CHORD_STB PkgConfig::CHORD_ESPEAK ${CHORD_LIQUID_LIBRARY})
  target_include_directories(chord::deps INTERFACE ${CHORD_LIQUID_INCLUDE_DIR})

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
