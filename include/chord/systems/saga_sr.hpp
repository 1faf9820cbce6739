#pragma once
/// @file
/// SAGA-SR (arXiv 2509.24924): latent audio super-resolution on the Stable Audio DiT with rectified
/// flow, in one include. Page: docs/systems/saga_sr.md.
///
/// | header | holds |
/// |---|---|
/// | `saga_sr/specs.hpp` | the spec structs (seed 001 steps 0–3, the official configuration), low-frequency replacement |
/// | `saga_sr/presets.hpp` | DiT sizes, `model_options<Spec>(preset)` |
/// | `saga_sr/config.hpp` | `SrConfig` (a run's settings, `config.json`), the pretransform it names |
/// | `saga_sr/data.hpp` | clips, random crops with the random low-pass simulation, validation batches |
/// | `saga_sr/system.hpp` | `SuperResolutionSystem<Spec>` (model + text encoder), `model_batch` |
/// | `saga_sr/training.hpp` | `train_super_resolution<Spec>(config)`: a run folder |
/// | `saga_sr/run.hpp` | `load_run<Spec>(folder)` |
/// | `saga_sr/enhance.hpp` | `enhance(run, audio, options)`: windowed inference of any length |
/// | `saga_sr/metrics.hpp` | LSD / SI-SDR, spectrogram panels |
///
/// The programs around them (`chord_add_trainer(... APP sr_trainer | sr_infer)`) are in
/// `chord/apps/super_resolution.hpp`.

#include "chord/systems/saga_sr/config.hpp"
#include "chord/systems/saga_sr/data.hpp"
#include "chord/systems/saga_sr/enhance.hpp"
#include "chord/systems/saga_sr/metrics.hpp"
#include "chord/systems/saga_sr/presets.hpp"
#include "chord/systems/saga_sr/run.hpp"
#include "chord/systems/saga_sr/specs.hpp"
#include "chord/systems/saga_sr/system.hpp"
#include "chord/systems/saga_sr/training.hpp"
