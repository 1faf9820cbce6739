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

/// Loads the run folder `folder` (written by train_super_resolution) for `Spec` onto `device`; weights
/// that do not fit its config.json are refused with the differences.
template <class Spec>
SrRun<Spec> load_run(const std::filesystem::path& folder, c10::Device device = c10::kCPU) {
  SrRun<Spec> run;
  std::ifstream in(folder / "config.json");
  CHORD_CHECK(in, "'", folder.string(), "' is not a SAGA-SR run folder (no config.json)");
  try {
    run.config = nlohmann::json::parse(in).get<SrConfig>();
  } catch (const nlohmann::json::exception& error) {
    CHORD_FAIL((folder / "config.json").string(), ": ", error.what());
  }
  run.pretransform = make_pretransform(run.config);
  run.system = SuperResolutionSystem<Spec>(run.config, run.pretransform->latent_channels());
  io::LoadOptions options;
  options.strict = false;
  // The exported EMA weights; a run still training (or killed) has only its checkpoints: the newest
  // complete one's EMA weights then.
  io::TensorMap weights;
  if (std::filesystem::exists(folder / "model_ema.safetensors")) {
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
