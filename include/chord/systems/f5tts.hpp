#pragma once
/// @file
/// F5-TTS: flow-matching TTS on the DiT backbone with random-span infilling and joint CFG dropout, in
/// one include. Page: docs/systems/f5tts.md.
///
/// | header | holds |
/// |---|---|
/// | `f5tts/spec.hpp` | the `F5TTS` spec |
/// | `f5tts/presets.hpp` | the published backbone sizes, `model_options(preset, vocab)` |
/// | `f5tts/checkpoint.hpp` | options a checkpoint implies, `resolve_checkpoint`, `load_checkpoint` |
/// | `f5tts/prompt.hpp` | prompt features, the duration rule, `clip_prompt` |
/// | `text/f5_frontend.hpp` | the text front end (`text_tokens`, `text_ids`, `chunk_text`, ...), also named here |
///
/// Synthesis and speech editing as library calls: `systems/f5tts_synthesis.hpp`.

#include "chord/systems/f5tts/checkpoint.hpp"
#include "chord/systems/f5tts/presets.hpp"
#include "chord/systems/f5tts/prompt.hpp"
#include "chord/systems/f5tts/spec.hpp"
#include "chord/text/f5_frontend.hpp"

namespace chord::systems::f5tts {

// The text front end (chord::text::f5tts), under the names F5-TTS users spell.
using text::f5tts::chunk_text;
using text::f5tts::normalize_reference_text;
using text::f5tts::text_ids;
using text::f5tts::text_tokens;
using text::f5tts::unknown_characters;

}  // namespace chord::systems::f5tts
