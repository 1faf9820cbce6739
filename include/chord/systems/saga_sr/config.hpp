#pragma once
/// @file
/// What a SAGA-SR run is built from: `SrConfig` (every setting of the trainer; a run folder's
/// `config.json`), the pretransform it names, and what its training clips must be.

#include "chord/core/error.hpp"
#include "chord/data/validation.hpp"
#include "chord/io/json_config.hpp"
#include "chord/nn/pretransform.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace chord::systems::saga_sr {

/// The sample rate SAGA-SR models work at.
inline constexpr int64_t kSuperResolutionRate = 44100;

/// Everything a SAGA-SR run is built from; JSON keys = field names, flags = '_' → '-'.
struct SrConfig {
  std::string manifest;
  std::string valid_manifest;
  std::string out = "out/saga_sr";
  std::string preset = "tiny";
  /// "patch" (waveform patching, offline) or "oobleck:<model.safetensors>" (Stable Audio Open's VAE).
  std::string pretransform = "patch";
  /// 32: the tiny DiT is 64 wide and input concatenation doubles the latent channels, so wider
  /// patches squeeze the input through project_in (measured: patch 64 trains to twice the loss).
  int64_t patch = 32;
  int64_t audio_channels = 1;  ///< for patching; the Oobleck VAE is stereo
  double patch_scale = 0.1;    ///< patching divides by this: the RMS of the audio gives unit-variance latents
  /// "bytes" (a small T5 over bytes, trained with the model) or "t5:<folder>" (e.g. t5-base, frozen).
  std::string text_encoder = "bytes";
  int64_t text_width = 64;
  int64_t text_length = 64;
  double segment_seconds = 0.743;  ///< rounded down to whole latent frames (1023 frames of 32 samples)
  int64_t batch_size = 4;
  int64_t steps = 1000;
  double lr = 2e-4;
  double weight_decay = 1e-3;
  double max_grad_norm = 1.0;
  double ema_beta = 0.9999;
  int64_t log_every = 10;
  int64_t checkpoint_every = 500;
  int64_t keep_checkpoints = 3;
  int64_t validate_every = 0;  ///< updates between validation losses on valid_manifest (0: at the end)
  int64_t seed = 0;
  bool fused_adamw = false;
  bool fresh = false;
  bool skip_bad_items = false;
  std::string device = "auto";

  NLOHMANN_DEFINE_TYPE_INTRUSIVE_WITH_DEFAULT(SrConfig, manifest, valid_manifest, out, preset, pretransform, patch, audio_channels, patch_scale,
                                              text_encoder, text_width, text_length, segment_seconds, batch_size, steps, lr,
                                              weight_decay, max_grad_norm, ema_beta, log_every, checkpoint_every, keep_checkpoints,
                                              validate_every, seed, fused_adamw, fresh, skip_bad_items, device)

  /// Every numeric value in its range, whether it came from the command line or a JSON config.
  void check() const {
    io::require_range("--patch", patch, int64_t{1}, int64_t{65536});
    io::require_range("--audio-channels", audio_channels, int64_t{1}, int64_t{2});
    io::require_positive("--patch-scale", patch_scale);
    io::require_range("--text-width", text_width, int64_t{1});
    io::require_range("--text-length", text_length, int64_t{1});
    io::require_positive("--segment-seconds", segment_seconds);
    io::require_range("--batch-size", batch_size, int64_t{1});
    io::require_range("--steps", steps, int64_t{1});
    io::require_positive("--lr", lr);
    io::require_range("--weight-decay", weight_decay, 0.0);
    io::require_range("--max-grad-norm", max_grad_norm, 0.0);
    io::require_range("--ema-beta", ema_beta, 0.0, 1.0);
    io::require_range("--log-every", log_every, int64_t{1});
    io::require_range("--checkpoint-every", checkpoint_every, int64_t{0});
    io::require_range("--keep-checkpoints", keep_checkpoints, int64_t{0});
    io::require_range("--validate-every", validate_every, int64_t{0});
    io::require_range("--seed", seed, int64_t{0});
  }
};

/// What super-resolution training needs of a clip: a real 44.1 kHz (or higher) recording — an
/// upsampled one has nothing above its old Nyquist to learn from — readable, finite, not empty.
inline data::AudioRequirements sr_training_requirements() {
  data::AudioRequirements needs;
  needs.min_sample_rate = 44100;
  return needs;
}

/// The pretransform `cfg.pretransform` names: waveform patching, or Stable Audio Open's Oobleck VAE.
inline nn::Pretransform make_pretransform(const SrConfig& cfg) {
  if (cfg.pretransform == "patch") return std::make_shared<nn::WaveformPatchingImpl>(cfg.audio_channels, cfg.patch, cfg.patch_scale);
  const std::string prefix = "oobleck:";
  CHORD_CHECK(cfg.pretransform.rfind(prefix, 0) == 0, "pretransform '", cfg.pretransform,
              "' is neither \"patch\" nor \"oobleck:<path to Stable Audio Open model.safetensors>\"");
  return nn::OobleckPretransformImpl::from_file(cfg.pretransform.substr(prefix.size()));
}

}  // namespace chord::systems::saga_sr
