#pragma once
/// @file
/// Signal tools of audio super-resolution (SAGA-SR), in one include: the spectral roll-off
/// (`audio/rolloff.hpp`) and low-frequency replacement (`audio/band_replacement.hpp`).

#include "chord/audio/band_replacement.hpp"
#include "chord/audio/rolloff.hpp"
