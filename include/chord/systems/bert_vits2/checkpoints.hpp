#pragma once
/// @file
/// Bert-VITS2's model files for `GanModel<systems::BertVits2>` (and the specs that drop members): one
/// safetensors file per network and step, named as train_ms.py names its `.pth` files — `G_<step>`
/// (the generator, `net_g`), then one per discriminator member by its prefix: `DUR_<step>`,
/// `D_<step>`, `WD_<step>` — each holding that network's state dict under the reference's keys, so a
/// file converted with scripts/convert_bert_vits2.py loads key for key (and back). Mirrors
/// utils.save_checkpoint / load_checkpoint / latest_checkpoint_path / clean_checkpoints of
/// fishaudio/Bert-VITS2 8f7fbd8 (reference/vits2.md §4.3), with these differences:
///
/// - The keep budget is per prefix, by step number. The reference selects files with
///   `startswith("D")`, so `DUR_*` files share the `D` budget and are deleted early; here a prefix
///   matches only `<prefix>_<digits>.safetensors`. Like the reference, `*_0` files (the base model a
///   fine-tune started from) are kept outside the budget unless `keep_step_zero(false)`. Only files
///   that read back whole count toward it and a damaged file is never deleted (the trainer's rule,
///   io/checkpoint.hpp), and the file just written is never deleted.
/// - Loading is strict by default (the reference loads whatever matches and logs the rest): a file
///   of another configuration is an error naming the first mismatched key and both shapes. A base-model
///   start with another speaker count is asked for (`new_speakers(true)`): then `emb_g.weight` keeps its
///   fresh initialisation and the report says so, as the reference's shape-mismatch path does.
/// - The newest step is the one whose whole set (G and every member) reads back: a newer set with a
///   missing or damaged file is passed over and named in the report (the reference loads each prefix's
///   newest file independently, which can mix steps).
/// - `WD_<step>` holds the WavLM discriminator `wd` alone (the reference's `net_wd`: `pre.*`, `convs.*`,
///   `conv_post.*`); the frozen WavLM comes from its own weights file, as in the reference.
/// - Step, epoch and the learning rate are in the header's `__metadata__` (`step`, `epoch`,
///   `learning_rate`); the reference's `iteration` is the epoch. Optimiser state is not in these files:
///   the trainer's own checkpoints (train/trainer.hpp) resume exactly; these are for exchange with the
///   reference, inference and base-model starts (config: `skip_optimizer` true).
///
/// Library code: nothing is printed; what a load did is returned in a ModelFilesReport.

#include "chord/core/error.hpp"
#include "chord/io/safetensors.hpp"
#include "chord/io/state_dict.hpp"
#include "chord/models/gan_model.hpp"
#include "chord/policies/discriminators/wavlm.hpp"
#include "chord/systems/bert_vits2/synthesizer.hpp"

#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/types.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace chord::systems::bert_vits2 {

/// The generator's file prefix (`G_<step>`).
inline constexpr std::string_view kGeneratorPrefix = "G";

/// A model file's name parsed: `<prefix>_<step>.safetensors`.
struct ModelFileName {
  std::string prefix;
  int64_t step = 0;
};

/// Parses `<prefix>_<digits>.safetensors` (prefix: letters, digits, '_'); nullopt for any other name.
/// The step is the digits after the last '_', so "DUR_100" is prefix "DUR", never "D".
inline std::optional<ModelFileName> parse_model_file_name(const std::filesystem::path& path) {
  if (path.extension() != ".safetensors") return std::nullopt;
  const std::string stem = path.stem().string();
  const auto cut = stem.rfind('_');
  if (cut == std::string::npos || cut == 0 || cut + 1 == stem.size()) return std::nullopt;
  ModelFileName name;
  name.prefix = stem.substr(0, cut);
  const std::string digits = stem.substr(cut + 1);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), name.step);
  if (error != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return name;
}

/// The file of `prefix` at `step` in `dir`.
inline std::filesystem::path model_file_path(const std::filesystem::path& dir, std::string_view prefix, int64_t step) {
  return dir / (std::string(prefix) + "_" + std::to_string(step) + ".safetensors");
}

/// The steps of `prefix`'s files in `dir`, ascending (exact prefix: "D" does not list `DUR_*`).
inline std::vector<int64_t> model_file_steps(const std::filesystem::path& dir, std::string_view prefix) {
  std::vector<int64_t> steps;
  if (!std::filesystem::is_directory(dir)) return steps;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const auto name = parse_model_file_name(entry.path());
    if (name && name->prefix == prefix) steps.push_back(name->step);
  }
  std::sort(steps.begin(), steps.end());
  return steps;
}

/// Why `path` cannot be read as a safetensors file (the reader's message, which names the file), or
/// nullopt when it reads back whole. Cheap: the header is validated against the file's size, no
/// tensor is copied.
inline std::optional<std::string> model_file_problem(const std::filesystem::path& path) {
  if (!std::filesystem::is_regular_file(path)) return "'" + path.string() + "' does not exist";
  try {
    io::SafetensorsReader reader(path);
  } catch (const std::exception& error) {
    const std::string what = error.what();
    return what.substr(0, what.find('\n'));
  }
  return std::nullopt;
}

struct SaveModelOptions {
  /// The epoch of the save (the reference's `iteration`; its resume restarts the epoch count from it).
  TORCH_ARG(int64_t, epoch) = 0;
  /// The learning rate the files record: the reference stores the configured initial rate
  /// (`hps.train.learning_rate`, 2e-4), not the current one.
  TORCH_ARG(double, learning_rate) = 2e-4;
  /// Files kept per prefix, newest steps first (default_config.yml `keep_ckpts`); 0 keeps all.
  TORCH_ARG(int64_t, keep) = 8;
  /// Keep `<prefix>_0` files outside the budget, as the reference does (they hold the base model).
  TORCH_ARG(bool, keep_step_zero) = true;
};

/// What a save wrote and what its keep budget removed.
struct SavedModelFiles {
  std::vector<std::filesystem::path> written;  ///< G first, then the members in the set's order
  std::vector<std::filesystem::path> removed;  ///< older files beyond the budget
};

struct LoadModelOptions {
  /// Every key of each file must be in the model with the same shape and vice versa (nothing is
  /// copied otherwise). Off: matching keys load and the rest keep their values (the reference's
  /// lenient load); the report lists what did not load.
  TORCH_ARG(bool, strict) = true;
  /// A base-model start with another speaker count: `emb_g.weight` (same `gin_channels`, other row
  /// count) keeps the model's fresh initialisation instead of failing the load.
  TORCH_ARG(bool, new_speakers) = false;
  /// A member with no file at the chosen step keeps its initialisation (a published base model ships
  /// G_0, D_0 and DUR_0 but no WD_0). Off: such a step is passed over.
  TORCH_ARG(bool, allow_missing_members) = false;
  /// Load the generator only (inference): member files are neither read nor required.
  TORCH_ARG(bool, generator_only) = false;
  /// Load this step instead of the newest complete one.
  TORCH_ARG(std::optional<int64_t>, step) = std::nullopt;
};

/// One file a load read.
struct LoadedModelFile {
  std::string prefix;
  std::filesystem::path path;
  io::LoadReport report;
};

/// What load_model_files() did.
struct ModelFilesReport {
  int64_t step = 0;              ///< from the file names (the reference's global step)
  /// From the generator file's metadata (`epoch`, or a converted file's `iteration`), when it has one.
  /// A schedule continuing the reference's per-epoch ExponentialLR resumes at lr0·γ^(epoch−1); the
  /// reference itself restarts near lr0 after a resume with skip_optimizer (reference/vits2.md §4.3).
  std::optional<int64_t> epoch;
  std::vector<LoadedModelFile> files;
  /// Keys that kept the model's values, each "<prefix> <key>: <why>" (e.g. emb_g.weight on a
  /// base-model start with another speaker count).
  std::vector<std::string> kept_initial;
  /// Member prefixes with no file at the step (their modules kept their initialisation).
  std::vector<std::string> absent;
  /// Newer steps passed over, each with the reason naming the file.
  std::vector<std::string> skipped;

  std::string describe() const {
    std::ostringstream out;
    out << "step " << step;
    if (epoch) out << " (epoch " << *epoch << ")";
    for (const auto& file : files) out << "; " << file.path.filename().string() << ": " << file.report.describe(4);
    for (const auto& key : kept_initial) out << "; kept its initialisation: " << key;
    for (const auto& prefix : absent) out << "; no " << prefix << " file: initialised";
    for (const auto& reason : skipped) out << "; skipped " << reason;
    return out.str();
  }
};

namespace detail {

/// A network's file and the module whose state dict it holds.
struct ModelFileSlot {
  std::string prefix;
  torch::nn::Module* module = nullptr;
};

/// The module a member's file holds: the WavLM member's discriminator `wd` alone (the reference's
/// `net_wd`); any other member's whole module.
template <class Spec, class Member>
torch::nn::Module* member_file_module(chord::detail::GanModelCore<Spec>& core, const Member& member) {
  if constexpr (std::is_same_v<Member, disc::WavLM>) {
    return core.module_of(member)->wd.get();
  } else {
    return core.discriminators.at(std::string(member.prefix)).get();
  }
}

/// G first, then the members in the set's order (the generator's file is the one the newest step is
/// looked up by, as the reference's `G_*.pth`).
template <class Spec>
std::vector<ModelFileSlot> model_file_slots(GanModel<Spec>& model) {
  std::vector<ModelFileSlot> slots;
  slots.push_back({std::string(kGeneratorPrefix), model->generator.get()});
  auto& core = static_cast<chord::detail::GanModelCore<Spec>&>(*model);
  core.options.discriminators.for_each([&](const auto& member) {
    CHORD_CHECK(member.prefix != kGeneratorPrefix, "Bert-VITS2 model files: a member's prefix may not be 'G' (the generator's file)");
    slots.push_back({std::string(member.prefix), member_file_module(core, member)});
  });
  return slots;
}

/// The module's parameters and buffers in registration order (parameters first), for "the first
/// mismatched key" to mean the first in the model.
inline std::vector<std::pair<std::string, torch::Tensor>> ordered_state(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) out.emplace_back(item.key(), item.value());
  for (const auto& item : module.named_buffers(/*recurse=*/true)) out.emplace_back(item.key(), item.value());
  return out;
}

inline std::string shape_text(c10::IntArrayRef shape) {
  std::ostringstream out;
  out << shape;
  return out.str();
}

/// Reads the file and prepares the tensors to copy into `slot.module`: with `new_speakers`, a
/// generator file's `emb_g.weight` of another row count is replaced by the model's own. In strict
/// mode, throws for a file that does not fit (the first mismatched key in model order with both
/// shapes, else the missing and unexpected keys). Copies nothing.
inline io::TensorMap prepare_file(const ModelFileSlot& slot, const std::filesystem::path& path, const LoadModelOptions& options,
                                  std::vector<std::string>& kept_initial) {
  io::TensorMap source = io::load_safetensors(path);  // a damaged file throws naming itself
  const auto target = ordered_state(*slot.module);
  const bool generator = slot.prefix == kGeneratorPrefix;
  if (generator && options.new_speakers()) {
    const auto found = source.find("emb_g.weight");
    const auto own = std::find_if(target.begin(), target.end(), [](const auto& item) { return item.first == "emb_g.weight"; });
    if (found != source.end() && own != target.end() && found->second.dim() == 2 && own->second.dim() == 2 &&
        found->second.size(1) == own->second.size(1) && found->second.size(0) != own->second.size(0)) {
      kept_initial.push_back(c10::str(slot.prefix, " emb_g.weight: the file has ", found->second.size(0), " speakers, the model ",
                                      own->second.size(0), " (a base-model start; the table keeps its fresh initialisation)"));
      found->second = own->second.detach().clone();
    }
  }
  if (!options.strict()) return source;

  int64_t differing = 0;
  std::string first;
  for (const auto& [key, tensor] : target) {
    const auto found = source.find(key);
    if (found == source.end() || found->second.sizes() == tensor.sizes()) continue;
    if (differing++ == 0) {
      first = c10::str("'", key, "' is ", shape_text(found->second.sizes()), " in the file and ", shape_text(tensor.sizes()),
                       " in the model");
      if (generator && key == "emb_g.weight" && found->second.dim() == 2 && tensor.dim() == 2 && found->second.size(1) == tensor.size(1)) {
        first += " (another speaker count: a base-model start loads with LoadModelOptions::new_speakers(true))";
      }
    }
  }
  CHORD_CHECK(differing == 0, "'", path.string(), "' does not fit this model (a checkpoint of another configuration?): first mismatched key ",
              first, differing > 1 ? c10::str("; ", differing, " keys differ in shape") : std::string(), ". Nothing was loaded.");
  io::LoadReport report;
  std::map<std::string, bool> in_model;
  for (const auto& [key, tensor] : target) {
    in_model[key] = true;
    if (!source.count(key)) report.missing.push_back(key);
  }
  for (const auto& [key, tensor] : source) {
    if (!in_model.count(key)) report.unexpected.push_back(key);
  }
  CHORD_CHECK(report.clean(), "'", path.string(), "' does not fit this model (", report.describe(),
              "): a file of another network or configuration? Nothing was loaded.");
  return source;
}

/// The shortest text that reads back as `value` (metadata are strings).
inline std::string shortest_text(double value) {
  char buffer[64];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  CHORD_CHECK(error == std::errc(), "cannot format ", value);
  return std::string(buffer, end);
}

inline std::optional<int64_t> metadata_int(const std::map<std::string, std::string>& metadata, const std::string& key) {
  const auto found = metadata.find(key);
  if (found == metadata.end()) return std::nullopt;
  int64_t value = 0;
  const auto& text = found->second;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

/// Deletes `prefix`'s oldest readable files beyond `keep` (see the file comment); never `protect`.
inline void prune_prefix(const std::filesystem::path& dir, std::string_view prefix, const SaveModelOptions& options,
                         const std::filesystem::path& protect, std::vector<std::filesystem::path>& removed) {
  if (options.keep() <= 0) return;
  std::vector<std::filesystem::path> counted;
  for (const auto step : model_file_steps(dir, prefix)) {
    if (step == 0 && options.keep_step_zero()) continue;
    const auto path = model_file_path(dir, prefix, step);
    if (!model_file_problem(path)) counted.push_back(path);  // a damaged file neither counts nor goes
  }
  const auto keep = static_cast<size_t>(options.keep());
  for (size_t i = 0; i + keep < counted.size(); ++i) {
    if (counted[i] == protect) continue;
    std::error_code ignored;
    if (std::filesystem::remove(counted[i], ignored)) removed.push_back(counted[i]);
  }
}

}  // namespace detail

/// Writes `G_<step>.safetensors` and one `<prefix>_<step>.safetensors` per discriminator member in
/// `dir` (created if needed), each atomically (temporary file, fsync, rename: a reader never sees a
/// torn file), with `step`, `epoch`, `learning_rate` and `prefix` in the header metadata; then applies
/// the keep budget per prefix.
template <class Spec>
SavedModelFiles save_model_files(GanModel<Spec>& model, const std::filesystem::path& dir, int64_t step,
                                 const SaveModelOptions& options = {}) {
  CHORD_CHECK(step >= 0, "save_model_files: step must be >= 0, got ", step);
  SavedModelFiles saved;
  const auto slots = detail::model_file_slots(model);
  for (const auto& slot : slots) {
    const auto path = model_file_path(dir, slot.prefix, step);
    io::save_safetensors(path, io::state_dict(*slot.module),
                         {{"format", "bert_vits2"},
                          {"prefix", slot.prefix},
                          {"step", std::to_string(step)},
                          {"epoch", std::to_string(options.epoch())},
                          {"learning_rate", detail::shortest_text(options.learning_rate())}});
    saved.written.push_back(path);
  }
  for (const auto& slot : slots) detail::prune_prefix(dir, slot.prefix, options, model_file_path(dir, slot.prefix, step), saved.removed);
  return saved;
}

/// Loads model files into `model`. `source` is a directory (the newest step whose generator file and
/// member files all read back, or `options.step()`) or one file: `<prefix>_<step>.safetensors` loads
/// into the network of that prefix, a file of any other name into the generator. Every file is
/// checked before anything is copied, so a failed load leaves the model unchanged. Throws when
/// nothing loadable is found (with the reasons) or a file does not fit the model (strict).
template <class Spec>
ModelFilesReport load_model_files(GanModel<Spec>& model, const std::filesystem::path& source, const LoadModelOptions& options = {}) {
  CHORD_CHECK(std::filesystem::exists(source), "load_model_files: '", source.string(), "' does not exist");
  const auto slots = detail::model_file_slots(model);
  ModelFilesReport report;
  std::vector<std::pair<detail::ModelFileSlot, std::filesystem::path>> chosen;

  if (!std::filesystem::is_directory(source)) {
    const auto name = parse_model_file_name(source);
    const std::string prefix = name ? name->prefix : std::string(kGeneratorPrefix);
    const auto slot = std::find_if(slots.begin(), slots.end(), [&](const auto& s) { return s.prefix == prefix; });
    CHORD_CHECK(slot != slots.end(), "load_model_files: '", source.string(), "' is a '", prefix,
                "' file and this model has no network of that prefix");
    chosen.emplace_back(*slot, source);
    if (name) report.step = name->step;
  } else {
    std::vector<int64_t> steps = model_file_steps(source, kGeneratorPrefix);
    if (options.step()) {
      CHORD_CHECK(std::find(steps.begin(), steps.end(), *options.step()) != steps.end(), "load_model_files: no ",
                  model_file_path(source, kGeneratorPrefix, *options.step()).string());
      steps = {*options.step()};
    }
    for (auto it = steps.rbegin(); it != steps.rend() && chosen.empty(); ++it) {
      std::vector<std::pair<detail::ModelFileSlot, std::filesystem::path>> set;
      std::vector<std::string> absent;
      std::string problem;
      for (const auto& slot : slots) {
        if (options.generator_only() && slot.prefix != kGeneratorPrefix) continue;
        const auto path = model_file_path(source, slot.prefix, *it);
        const bool member = slot.prefix != kGeneratorPrefix;
        if (member && options.allow_missing_members() && !std::filesystem::exists(path)) {
          absent.push_back(slot.prefix);
          continue;
        }
        if (auto why = model_file_problem(path)) {
          problem = *why;
          break;
        }
        set.emplace_back(slot, path);
      }
      if (!problem.empty()) {
        report.skipped.push_back(c10::str("step ", *it, ": ", problem));
        continue;
      }
      chosen = std::move(set);
      report.absent = std::move(absent);
      report.step = *it;
    }
    if (chosen.empty()) {
      std::ostringstream reasons;
      for (const auto& reason : report.skipped) reasons << "; " << reason;
      CHORD_FAIL("load_model_files: no complete set of Bert-VITS2 model files (G_<step>.safetensors and its members') in '",
                 source.string(), "'", reasons.str());
    }
  }

  // Check every file, then copy: all or nothing.
  std::vector<io::TensorMap> tensors;
  for (const auto& [slot, path] : chosen) tensors.push_back(detail::prepare_file(slot, path, options, report.kept_initial));
  for (size_t i = 0; i < chosen.size(); ++i) {
    const auto& [slot, path] = chosen[i];
    io::LoadOptions load;
    load.strict = options.strict();
    load.source_name = path.string();
    report.files.push_back({slot.prefix, path, io::load_state_dict(*slot.module, tensors[i], load)});
    if (slot.prefix == kGeneratorPrefix) {
      const auto metadata = io::SafetensorsReader(path).metadata();
      report.epoch = detail::metadata_int(metadata, "epoch");
      if (!report.epoch) report.epoch = detail::metadata_int(metadata, "iteration");
      if (!std::filesystem::is_directory(source) && !parse_model_file_name(source)) {
        if (const auto step = detail::metadata_int(metadata, "step")) report.step = *step;
      }
    }
  }
  return report;
}

/// Loads a generator file (a `G_<step>.safetensors`, or a converted reference `G_*.pth`) into a
/// synthesizer outside a GanModel (inference), with the same checks and `new_speakers` rule.
inline io::LoadReport load_generator_file(Synthesizer& generator, const std::filesystem::path& path, const LoadModelOptions& options = {},
                                          std::vector<std::string>* kept_initial = nullptr) {
  std::vector<std::string> kept;
  const detail::ModelFileSlot slot{std::string(kGeneratorPrefix), generator.get()};
  const auto tensors = detail::prepare_file(slot, path, options, kept);
  io::LoadOptions load;
  load.strict = options.strict();
  load.source_name = path.string();
  auto report = io::load_state_dict(*generator, tensors, load);
  if (kept_initial) kept_initial->insert(kept_initial->end(), kept.begin(), kept.end());
  return report;
}

}  // namespace chord::systems::bert_vits2
