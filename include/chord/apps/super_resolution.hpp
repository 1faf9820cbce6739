#pragma once
/// @file
/// SAGA-SR's ready-made programs for any super-resolution spec (`chord::systems::SagaStep0` …
/// `SagaOfficial`, or your own): `chord_add_trainer(... APP sr_trainer | sr_infer)` builds them for a
/// spec. The work is the library's (`chord/systems/saga_sr.hpp`: the data pipeline, training into a
/// run folder, windowed inference, metrics); this file parses arguments, checks them before the long
/// work, states the cost, shows progress and prints where the results are.
///
/// A run folder holds `config.json` (everything needed to rebuild the system), `model_ema.safetensors`
/// (the EMA of the DiT, its conditioners and a trainable text encoder), checkpoints, logs, `loss.png`.

#include "chord/apps/cli.hpp"
#include "chord/apps/manifest_check.hpp"
#include "chord/apps/published_models.hpp"
#include "chord/apps/run_report.hpp"
#include "chord/apps/training_processes.hpp"
#include "chord/audio/io.hpp"
#include "chord/core/allocator.hpp"
#include "chord/core/error.hpp"
#include "chord/systems/saga_sr.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace chord::apps {

// The library's SAGA-SR names (chord::systems::saga_sr), also under the spelling they had when they
// lived in this file.
using systems::saga_sr::enhance;
using systems::saga_sr::EnhanceOptions;
using systems::saga_sr::kSuperResolutionRate;
using systems::saga_sr::load_clips;
using systems::saga_sr::load_run;
using systems::saga_sr::lsd_settings;
using systems::saga_sr::make_example;
using systems::saga_sr::make_pretransform;
using systems::saga_sr::model_batch;
using systems::saga_sr::plan_windows;
using systems::saga_sr::random_example;
using systems::saga_sr::save_sr_spectrograms;
using systems::saga_sr::sr_metrics;
using systems::saga_sr::sr_training_requirements;
using systems::saga_sr::SrClips;
using systems::saga_sr::SrConfig;
using systems::saga_sr::SrExample;
using systems::saga_sr::SrMetrics;
using systems::saga_sr::SrRun;
using systems::saga_sr::SrTrainResult;
using systems::saga_sr::SuperResolutionSystem;
using systems::saga_sr::SuperResolutionSystemImpl;
using systems::saga_sr::to_model_audio;
using systems::saga_sr::train_super_resolution;
using systems::saga_sr::validation_degradation;
using systems::saga_sr::validation_examples;

// --- the trainer ----------------------------------------------------------------------------------------

namespace detail {
/// The trainer's command line: every field of SrConfig, '_' → '-'.
inline void add_sr_trainer_options(CLI::App& app, SrConfig& cfg, std::string& config_file) {
  take_last_of_repeated_options(app);
  app.add_option("--config", config_file, "JSON file with any of the options below");
  app.add_option("--manifest", cfg.manifest, "Training manifest (JSONL: audio, text = caption)");
  app.add_option("--valid-manifest", cfg.valid_manifest, "Held-out manifest: the EMA weights' loss on fixed degraded crops");
  app.add_option("--out", cfg.out, "Run folder")->capture_default_str();
  app.add_option("--preset", cfg.preset, "DiT size: tiny, small, full")->capture_default_str();
  app.add_option("--pretransform", cfg.pretransform, "patch | oobleck:<Stable Audio Open model.safetensors> | oobleck:stable-audio-open-1.0 (downloaded)")
      ->capture_default_str();
  app.add_option("--patch", cfg.patch, "Samples per latent frame with waveform patching")->capture_default_str();
  app.add_option("--audio-channels", cfg.audio_channels, "Channels with waveform patching (1 or 2)")->capture_default_str();
  app.add_option("--patch-scale", cfg.patch_scale, "Waveform patching divides the audio by this (about its RMS)")->capture_default_str();
  app.add_option("--text-encoder", cfg.text_encoder, "bytes | t5:<Hugging Face T5 folder> | t5:t5-base (downloaded)")->capture_default_str();
  app.add_option("--text-width", cfg.text_width, "Width of the byte-level text encoder")->capture_default_str();
  app.add_option("--text-length", cfg.text_length, "Tokens per caption (padded/truncated)")->capture_default_str();
  app.add_option("--segment-seconds", cfg.segment_seconds, "Training crop length")->capture_default_str();
  app.add_option("--batch-size", cfg.batch_size, "Crops per update")->capture_default_str();
  app.add_option("--steps", cfg.steps, "Optimiser updates")->capture_default_str();
  app.add_option("--lr", cfg.lr, "AdamW learning rate (InverseLR warm-up 0.99)")->capture_default_str();
  app.add_option("--weight-decay", cfg.weight_decay, "AdamW weight decay")->capture_default_str();
  app.add_option("--max-grad-norm", cfg.max_grad_norm, "Gradient clipping (0 = off)")->capture_default_str();
  app.add_option("--ema-beta", cfg.ema_beta, "EMA decay ceiling (power 3/4, every update)")->capture_default_str();
  app.add_option("--log-every", cfg.log_every, "Updates between logged losses")->capture_default_str();
  app.add_option("--checkpoint-every", cfg.checkpoint_every, "Updates between checkpoints")->capture_default_str();
  app.add_option("--keep-checkpoints", cfg.keep_checkpoints, "Newest checkpoints kept")->capture_default_str();
  app.add_option("--validate-every", cfg.validate_every, "Updates between validation losses (0 = at the end)")->capture_default_str();
  app.add_option("--seed", cfg.seed, "Seed of every draw")->capture_default_str();
  app.add_flag("--fresh", cfg.fresh, "Ignore and delete checkpoints in --out");
  add_fused_adamw_flag(app, cfg.fused_adamw);
  add_skip_bad_items_flag(app, cfg.skip_bad_items);
  add_device_option(app, cfg.device);
}

/// Where the trainer stopped and where its results are.
/// `oobleck:<name>` and `t5:<name>` naming published models (chord-fetch --list) become the paths they
/// stand for, fetched into the Hugging Face cache (the run's config.json then records those paths).
inline void use_published_parts(SrConfig& cfg, const std::string& program) {
  const std::string oobleck = "oobleck:", t5 = "t5:";
  auto names_no_file = [](const std::string& value, const std::string& prefix) {
    return value.starts_with(prefix) && !std::filesystem::exists(value.substr(prefix.size()));
  };
  if (!names_no_file(cfg.pretransform, oobleck) && !names_no_file(cfg.text_encoder, t5)) return;
  // A download can take a while: the checks that cost nothing come first.
  cfg.check();
  CHORD_CHECK(!cfg.manifest.empty(), "--manifest is required (JSONL with \"audio\" and \"text\" per line)");
  require_input_file(cfg.manifest, "--manifest");
  io::require_output_folder(cfg.out, "--out");
  if (cfg.pretransform.starts_with(oobleck))
    cfg.pretransform = oobleck + published_path_or_value(cfg.pretransform.substr(oobleck.size()), "--pretransform " + oobleck, "weights", program);
  if (cfg.text_encoder.starts_with(t5))
    cfg.text_encoder = t5 + published_path_or_value(cfg.text_encoder.substr(t5.size()), "--text-encoder " + t5, "folder", program);
}

inline void report_sr_training(const SrTrainResult& result, const SrConfig& cfg, const std::string& program) {
  report_run_end(program, result.interrupted ? "interrupted" : "completed", result.steps,
                 {{"final loss", c10::str(result.final_loss)},
                  {"EMA weights", result.weights.string()},
                  {"loss curve", result.loss_curve ? (std::filesystem::path(cfg.out) / "loss.png").string() : "none yet (no update logged)"}},
                 result.interrupted);
}
}  // namespace detail

template <class Spec>
int run_sr_trainer(int argc, char** argv, const std::string& program) {
  SrConfig cfg;
  try {
    nlohmann::json config = cfg;
    read_json_config(argc, argv, config);
    cfg = config.get<SrConfig>();
  } catch (const std::exception& error) {
    std::cerr << program << ": " << error.what() << "\n";
    return 2;
  }
  CLI::App app{"Train SAGA-SR (" + std::string(Spec::name) + ", " + program + ") on a JSONL manifest of 44.1 kHz audio with captions. "
               "Options may also come from --config <file.json> (same names, '_' for '-')."};
  std::string config_file;
  detail::add_sr_trainer_options(app, cfg, config_file);
  CLI11_PARSE(app, argc, argv);
  try {
    keep_freed_tensor_memory();
    detail::use_published_parts(cfg, program);
    const TrainingProcesses processes(cfg.device, program);  // joins a torchrun job before any long work
    const auto result = train_super_resolution<Spec>(cfg, program, processes.group(), processes.device());
    if (processes.is_main()) detail::report_sr_training(result, cfg, program);
    return 0;
  } catch (const std::exception& error) {
    return report_error(program, error);
  }
}

// --- inference ------------------------------------------------------------------------------------------

inline std::optional<systems::LowFrequencyReplacement> parse_lfr(const std::string& name) {
  if (name.empty() || name == "spec") return std::nullopt;
  if (name == "off") return systems::LowFrequencyReplacement::off;
  if (name == "hard") return systems::LowFrequencyReplacement::hard;
  if (name == "cross-fade") return systems::LowFrequencyReplacement::cross_fade;
  CHORD_FAIL("low-frequency replacement '", name, "' is not one of spec, off, hard, cross-fade");
}

/// Everything the inference program can be told.
struct SrInferConfig {
  std::string checkpoint, input, output = "enhanced.wav", reference, lfr, device = "auto";
  EnhanceOptions enhance;  ///< caption, output roll-off and steps are set by their flags directly
  double guidance = -1.0, window_seconds = 0.0, overlap_seconds = -1.0;
  int64_t seed = 0;
  int64_t old_steps = 0;  ///< --steps, the old name of --nfe here
};

namespace detail {
inline void add_sr_infer_options(CLI::App& app, SrInferConfig& c) {
  take_last_of_repeated_options(app);
  app.add_option("--checkpoint,--run", c.checkpoint, "Run folder written by the trainer (config.json; model_ema.safetensors or "
                 "checkpoints/), or one of its checkpoints/checkpoint_<step>.pt")->required();
  app.add_option("--input", c.input, "Low-resolution audio (any rate; resampled to 44.1 kHz first)")->required();
  app.add_option("--out", c.output, "Output WAV; a spectrogram PNG is written next to it")->capture_default_str();
  app.add_option("--caption", c.enhance.caption, "Text description of the audio");
  app.add_option("--output-rolloff", c.enhance.output_rolloff, "Target roll-off ratio in [0, 1] (brightness)")
      ->check(CLI::Range(0.0, 1.0))->capture_default_str();
  add_nfe_option(app, c.enhance.steps, "Sampling steps (Euler)");
  app.add_option("--steps", c.old_steps, "Old name of --nfe in this program (--steps means optimiser updates everywhere else)")
      ->check(CLI::Range(int64_t{1}, int64_t{100000}))->group("");
  app.add_option("--cfg,--guidance", c.guidance, "Guidance strength (default: the spec's)")->check(CLI::Range(0.0, 100.0));
  app.add_option("--lfr", c.lfr, "Low-frequency replacement: spec, off, hard, cross-fade")->capture_default_str();
  app.add_option("--reference", c.reference, "High-resolution original (any rate): also report LSD / SI-SDR against it");
  app.add_option("--window-seconds", c.window_seconds,
                 "Enhance long input in windows of this length (default: 1024 latent frames, the training length of the presets)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--overlap-seconds", c.overlap_seconds, "Cross-faded overlap of the windows (default: 1/8 of a window)")->check(CLI::NonNegativeNumber);
  add_seed_option(app, c.seed, /*allow_random=*/false);
  add_device_option(app, c.device);
}

/// Everything checked and resolved before the run is loaded: the old --steps, guidance, seed and
/// replacement mode into the enhance options, the inputs and the output. Returns the spectrogram's path.
inline std::filesystem::path check_sr_infer_arguments(const CLI::App& app, SrInferConfig& c, const std::string& program) {
  if (app.count("--steps") > 0) {
    std::cerr << "[" << program << "] warning: --steps is the old name of --nfe here (sampling steps); use --nfe\n";
    if (app.count("--nfe") == 0) c.enhance.steps = c.old_steps;
  }
  if (c.guidance >= 0.0) c.enhance.guidance = c.guidance;
  c.enhance.seed = static_cast<uint64_t>(c.seed);
  c.enhance.low_frequency_replacement = parse_lfr(c.lfr);
  require_input_file(c.input, "--input");
  if (!c.reference.empty()) require_input_file(c.reference, "--reference");
  const auto png = std::filesystem::path(c.output).replace_extension(".png");
  require_output_file(c.output, "--out");
  return png;
}

/// The windows in latent frames (`samples_per_frame` samples each) from --window-seconds and
/// --overlap-seconds, then the cost stated up front: the windows and the sampling steps.
inline void plan_and_announce_windows(SrInferConfig& c, int64_t input_samples, int64_t samples_per_frame, const std::string& program) {
  auto& o = c.enhance;
  if (c.window_seconds > 0.0) {
    o.window_frames = std::max<int64_t>(1, static_cast<int64_t>(c.window_seconds * kSuperResolutionRate) / samples_per_frame);
  }
  o.overlap_frames =
      c.overlap_seconds >= 0.0 ? static_cast<int64_t>(c.overlap_seconds * kSuperResolutionRate) / samples_per_frame : o.window_frames / 8;
  const auto windows = plan_windows(input_samples, samples_per_frame, o.window_frames, o.overlap_frames);
  std::cerr << "[" << program << "] " << static_cast<double>(input_samples) / kSuperResolutionRate << " s of audio in " << windows.size()
            << " window(s) of up to " << static_cast<double>(o.window_frames * samples_per_frame) / kSuperResolutionRate << " s, " << o.steps
            << " sampling steps each\n";
}

/// A progress line per window for EnhanceOptions::progress.
inline std::function<void(size_t, size_t, int64_t, int64_t)> window_progress(const std::string& program) {
  return [line = std::make_shared<ProgressLine>(program), current = std::function<void(int64_t, int64_t)>(),
          current_window = SIZE_MAX](size_t window, size_t count, int64_t done, int64_t total) mutable {
    if (window != current_window) {
      current_window = window;
      current = line->task("window " + std::to_string(window + 1) + "/" + std::to_string(count));
    }
    current(done, total);
  };
}

/// With --reference: the original at the model's rate and channel count joins the panels, and the
/// metrics of the output and of the input (the floor) against it are printed.
inline void compare_with_reference(const std::string& reference, const torch::Tensor& low, const torch::Tensor& enhanced, int64_t channels,
                                   std::vector<std::pair<std::string, torch::Tensor>>& panels, const std::string& program) {
  // At the model's rate and channel count, whatever the file's: metrics of a 48 kHz reference
  // against 44.1 kHz output would compare different frequencies bin by bin.
  const auto ref = to_model_audio(audio::read_audio(reference), channels);
  if (ref.size(1) != low.size(1)) {
    std::cerr << "[" << program << "] warning: --reference lasts " << static_cast<double>(ref.size(1)) / kSuperResolutionRate
              << " s and --input " << static_cast<double>(low.size(1)) / kSuperResolutionRate << " s; the metrics use the common start\n";
  }
  panels.emplace_back("reference", ref);
  const auto floor = sr_metrics(low, ref.mean(0, true)), got = sr_metrics(enhanced, ref.mean(0, true));
  std::cout << "[" << program << "] " << lsd_settings() << "\n"
            << "[" << program << "] LSD " << got.lsd << " (input " << floor.lsd << "), SI-SDR " << got.si_sdr << " dB (input "
            << floor.si_sdr << " dB)\n";
}
}  // namespace detail

template <class Spec>
int run_sr_infer(int argc, char** argv, const std::string& program) {
  CLI::App app{"Super-resolve audio to 44.1 kHz with a SAGA-SR run (" + std::string(Spec::name) + ", " + program + ")."};
  SrInferConfig c;
  detail::add_sr_infer_options(app, c);
  CLI11_PARSE(app, argc, argv);
  try {
    keep_freed_tensor_memory();
    const auto png = detail::check_sr_infer_arguments(app, c, program);
    auto run = load_run<Spec>(c.checkpoint, announce_device(c.device, program));
    const auto channels = run.pretransform->audio_channels();
    const auto low = to_model_audio(audio::read_audio(c.input), channels);
    CHORD_CHECK(low.size(1) > 0, "--input '", c.input, "' has no samples");
    detail::plan_and_announce_windows(c, low.size(1), run.pretransform->downsampling_ratio(), program);
    c.enhance.progress = detail::window_progress(program);
    auto enhanced = enhance(run, low, c.enhance);
    audio::write_audio(c.output, enhanced.size(0) == 1 ? enhanced[0] : enhanced, kSuperResolutionRate);
    std::vector<std::pair<std::string, torch::Tensor>> panels{{"input (44.1 kHz)", low}, {"SAGA-SR " + std::string(Spec::name), enhanced}};
    if (!c.reference.empty()) detail::compare_with_reference(c.reference, low, enhanced, channels, panels, program);
    save_sr_spectrograms(png, panels);
    std::cout << "[" << program << "] audio: " << c.output << "\n[" << program << "] spectrogram: " << png.string() << "\n";
    return 0;
  } catch (const std::exception& error) {
    return report_error(program, error);
  }
}

}  // namespace chord::apps
