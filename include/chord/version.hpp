#pragma once
/// chord's version. CMake reads CHORD_VERSION_STRING from this line; keep the format.
#define CHORD_VERSION_STRING "0.1.0"
#define CHORD_VERSION_MAJOR 0
#define CHORD_VERSION_MINOR 1
#define CHORD_VERSION_PATCH 0
