#pragma once
/// @file
/// Umbrella header: everything in chord. Library headers never include it; for faster builds include
/// only the headers you use.

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
