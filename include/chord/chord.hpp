#pragma once
/// @file
/// Umbrella header for chord's foundation layers: core, io, audio, text, data, train and viz (the
/// headers listed below, and what they include). Library headers never include it; for faster builds
/// include only the headers you use.
///
/// Not included, on purpose — include what you compose:
///  - the composition layers `models/`, `policies/`, `nn/`, `systems/`: a program includes the system
///    or model it builds, and pulling in every backbone, policy and system would multiply the compile
///    time of every user (LibTorch templates dominate it);
///  - `apps/`: bodies of ready-made programs (command lines, trainers), built by `chord_add_trainer`;
///  - foundation headers that only those layers or the programs use, included directly where needed:
///    SAGA-SR's signal processing (`audio/lowpass.hpp` and the roll-off / band-replacement tools), the
///    Vocos vocoder (`audio/vocos.hpp`), T5 tokenizers (`text/unigram_tokenizer.hpp`), the programs'
///    input checks, console and configuration helpers (`data/validation.hpp`, `io/console.hpp`, ...),
///    `core/condition_drop.hpp` (the guidance → conditioning message), `ops/` (model-specific kernels)
///    and `train/gan_training.hpp` (it needs `models/gan_model.hpp`).
///    `core/device.hpp` and `train/grad_scaler.hpp` come in through `train/trainer.hpp`.

#include "chord/version.hpp"

#include "chord/core/allocator.hpp"
#include "chord/core/autocast.hpp"
#include "chord/core/dependent_false.hpp"
#include "chord/core/error.hpp"
#include "chord/core/mask.hpp"
#include "chord/core/random.hpp"

#include "chord/io/atomic_file.hpp"
#include "chord/io/checkpoint.hpp"
#include "chord/io/mapped_file.hpp"
#include "chord/io/safetensors.hpp"
#include "chord/io/state_dict.hpp"
#include "chord/io/tensor_map.hpp"

#include "chord/audio/griffin_lim.hpp"
#include "chord/audio/io.hpp"
#include "chord/audio/mel.hpp"
#include "chord/audio/metrics.hpp"
#include "chord/audio/resample.hpp"
#include "chord/audio/signal.hpp"
#include "chord/audio/stft.hpp"

#include "chord/text/phonemizer.hpp"
#include "chord/text/tokenizer.hpp"
#include "chord/text/utf8.hpp"

#include "chord/data/collate.hpp"
#include "chord/data/feature_cache.hpp"
#include "chord/data/manifest.hpp"
#include "chord/data/speech_dataset.hpp"

#include "chord/train/ema.hpp"
#include "chord/train/observers.hpp"
#include "chord/train/samplers.hpp"
#include "chord/train/schedulers.hpp"
#include "chord/train/trainer.hpp"

#include "chord/viz/canvas.hpp"
#include "chord/viz/plots.hpp"
#include "chord/viz/training_curves.hpp"
