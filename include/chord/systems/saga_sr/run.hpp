#pragma once
/// @file
/// A trained SAGA-SR run folder loaded back for inference: its config, the pretransform, and the
/// system with the EMA weights (or, for a run still training, its newest complete checkpoint's).

#include "chord/core/error.hpp"
#include "chord/io/checkpoint.hpp"
#include "chord/io/safetensors.hpp"
#include "chord/io/state_dict.hpp"
#include "chord/nn/pretransform.hpp"
#include "chord/systems/saga_sr/config.hpp"
#include "chord/systems/saga_sr/system.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace chord::systems::saga_sr {

/// A trained run loaded back: its config, the pretransform, the system with the EMA weights, eval mode.
template <class Spec>
struct SrRun {
  SrConfig config;
  nn::Pretransform pretransform;
  SuperResolutionSystem<Spec> system{nullptr};
};

/// Loads a run for `Spec` onto `device`: the run folder `source` (written by train_super_resolution:
/// its exported EMA weights, else its newest complete checkpoint's), or one of its trainer checkpoints
/// (`<run>/checkpoints/checkpoint_<step>.pt`: that step's EMA weights, the config from `<run>`).
/// Weights that do not fit the run's config.json are refused with the differences.
template <class Spec>
SrRun<Spec> load_run(const std::filesystem::path& source, c10::Device device = c10::kCPU) {
  SrRun<Spec> run;
  const bool checkpoint_file = std::filesystem::is_regular_file(source) && source.extension() == ".pt";
  const auto folder = checkpoint_file ? source.parent_path().parent_path() : source;
  std::ifstream in(folder / "config.json");
  CHORD_CHECK(in, checkpoint_file ? "'" + source.string() + "' is a trainer checkpoint, but its run folder '" + folder.string() +
                                        "' has no config.json (a checkpoint is read from <run>/checkpoints/)"
                                  : "'" + source.string() + "' is not a SAGA-SR run folder (no config.json)");
  const std::string config_path = (folder / "config.json").string();
  try {
    const auto config = nlohmann::json::parse(in);
    io::check_config_json(nlohmann::json(SrConfig{}), config, config_path);
    run.config = config.get<SrConfig>();
  } catch (const nlohmann::json::exception& error) {
    CHORD_FAIL(config_path, ": ", error.what());
  }
  try {
    run.config.check();
  } catch (const std::exception& error) {
    CHORD_FAIL(config_path, ": ", error.what());
  }
  run.pretransform = make_pretransform(run.config);
  run.system = SuperResolutionSystem<Spec>(run.config, run.pretransform->latent_channels());
  io::LoadOptions options;
  options.strict = false;
  // The exported EMA weights; a run still training (or killed) has only its checkpoints: the newest
  // complete one's EMA weights then.
  io::TensorMap weights;
  if (checkpoint_file) {
    options.source_name = source.string();
    weights = io::read_trainer_weights(source, "system").tensors;
  } else if (std::filesystem::exists(folder / "model_ema.safetensors")) {
    options.source_name = (folder / "model_ema.safetensors").string();
    weights = io::load_safetensors(folder / "model_ema.safetensors");
  } else {
    const auto entries = io::CheckpointManager(folder / "checkpoints").list();
    auto newest = std::find_if(entries.rbegin(), entries.rend(), [](const auto& e) { return io::CheckpointManager::is_complete(e.path); });
    CHORD_CHECK(newest != entries.rend(), "'", folder.string(), "' has neither model_ema.safetensors nor a complete checkpoint");
    options.source_name = newest->path.string();
    weights = io::read_trainer_weights(newest->path, "system").tensors;
  }
  auto report = io::load_state_dict(*run.system, weights, options);
  const bool frozen_text = run.system->text && run.system->text->frozen();
  bool complete = report.unexpected.empty() && report.mismatched.empty();
  for (const auto& key : report.missing) complete = complete && frozen_text && key.rfind("text.", 0) == 0;
  CHORD_CHECK(complete, "the weights in '", folder.string(), "' do not fit its config.json: ", report.describe());
  run.system->to(device);
  run.pretransform->to(device);
  run.system->eval();
  return run;
}

}  // namespace chord::systems::saga_sr
