#pragma once
/// @file
/// A ready-made evaluation program for F5-style TTS specs: on held-out utterances, a span of each
/// utterance is regenerated from the rest (the infilling task the models train on) and compared with
/// the real frames. Reports the mean log-mel L1 over the infilled spans, the wall time and the
/// backbone passes, as JSON, and draws one example.

#include "chord/apps/tts_trainer.hpp"
#include "chord/systems/f5tts_synthesis.hpp"
#include "chord/audio/metrics.hpp"
#include "chord/viz/plots.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

namespace chord::apps {

/// Everything the evaluation program can be told.
struct TtsEvalConfig {
  std::string checkpoint, vocab_file, manifest_file, out = "out/eval";
  int64_t nfe = 32, head_steps = 4, limit = 0, seed = 0;
  double cfg = 2.0, span_start = 0.3, span_end = 0.7;
  bool skip_bad_items = false;
  std::string device_name = "auto";
};

namespace detail {
inline void add_tts_eval_options(CLI::App& app, TtsEvalConfig& c) {
  take_last_of_repeated_options(app);
  app.add_option("--checkpoint", c.checkpoint, "Model weights (.safetensors, trainer checkpoint or run folder)")->required();
  app.add_option("--vocab", c.vocab_file, "Vocab file of the model (default: vocab.txt of the run folder)");
  app.add_option("--manifest", c.manifest_file, "Held-out manifest (JSONL)")->required();
  app.add_option("--out", c.out, "Folder for results.json and example.png")->capture_default_str();
  add_nfe_option(app, c.nfe, "Sampling steps (DTM: transitions)");
  app.add_option("--head-steps", c.head_steps, "DTM only: head steps per transition")->check(CLI::Range(int64_t{1}, int64_t{10000}))->capture_default_str();
  add_cfg_option(app, c.cfg);
  app.add_option("--span-start", c.span_start, "Start of the regenerated span, as a fraction of the utterance")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  app.add_option("--span-end", c.span_end, "End of the regenerated span, as a fraction")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  app.add_option("--limit", c.limit, "Evaluate only the first n utterances (0 = all)")->check(CLI::NonNegativeNumber)->capture_default_str();
  add_seed_option(app, c.seed, /*allow_random=*/false);
  add_skip_bad_items_flag(app, c.skip_bad_items);
  add_device_option(app, c.device_name);
}

/// The span check, --vocab (default: beside --checkpoint) and the output folder, before any work.
inline void check_tts_eval_arguments(TtsEvalConfig& c) {
  CHORD_CHECK(c.span_start < c.span_end, "need --span-start < --span-end, got ", c.span_start, " and ", c.span_end);
  if (c.vocab_file.empty()) {
    const auto beside = systems::f5tts::vocab_beside(c.checkpoint);
    CHORD_CHECK(beside, "give --vocab: no vocab.txt beside --checkpoint '", c.checkpoint, "'");
    c.vocab_file = beside->string();
  }
  require_input_file(c.vocab_file, "--vocab");
  require_output_folder(c.out, "--out");
}

/// One utterance with a span regenerated from the rest.
struct Infill {
  torch::Tensor output;  ///< `[frames, mel bins]` on the CPU
  int64_t begin = 0, end = 0;
  double seconds = 0.0;  ///< sampling wall time
};

/// Regenerates the span [span_start, span_end) of utterance `index` from the rest, seeded `seed + index`.
template <class Spec>
Infill infill_span(FlowModel<Spec>& model, SampleOptionsOf<Spec>& options, const data::SpeechSample& sample, size_t index,
                   const text::VocabTokenizer& vocab, const TtsEvalConfig& c) {
  const int64_t frames = sample.mel.size(0);
  Infill infill;
  infill.begin = static_cast<int64_t>(c.span_start * static_cast<double>(frames));
  infill.end = std::max(infill.begin + 1, static_cast<int64_t>(c.span_end * static_cast<double>(frames)));
  RequestOf<Spec> request;
  request.prompt = sample.mel.unsqueeze(0);
  request.text = systems::f5tts::text_ids(vocab, {sample.text});
  request.duration = torch::tensor({frames});
  auto keep = torch::ones({1, frames}, torch::kBool);
  keep.slice(1, infill.begin, infill.end).fill_(false);
  request.edit_mask = keep;
  options.seeds = {static_cast<uint64_t>(c.seed) + index};
  auto gen = make_generator(static_cast<uint64_t>(c.seed) + index);
  const auto start = std::chrono::steady_clock::now();
  auto result = model->sample(request, options, gen);
  infill.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  infill.output = result.output.cpu()[0];
  return infill;
}

/// The real and the infilled spectrogram of one utterance, stacked.
template <class Spec>
void draw_infill(const std::filesystem::path& png, const data::SpeechSample& sample, const Infill& infill) {
  viz::save_spectrograms_png(png, {{"held-out: \"" + sample.text.substr(0, 60) + "\"", sample.mel.t()},
                                   {"frames " + std::to_string(infill.begin) + "-" + std::to_string(infill.end) + " infilled by " +
                                        std::string(Spec::objective::name),
                                    infill.output.slice(0, 0, sample.mel.size(0)).t()}});
}

/// The sums the evaluation reports.
struct InfillTotals {
  double l1 = 0.0;       ///< summed |generated − real| over the infilled spans
  double seconds = 0.0;  ///< sampling wall time
  int64_t values = 0;    ///< mel values in the infilled spans
};

/// Infills the first `count` utterances of the dataset, with a progress line per utterance; draws the first.
template <class Spec>
InfillTotals infill_all(FlowModel<Spec>& model, SampleOptionsOf<Spec>& options, const data::SpeechDataset& dataset, size_t count,
                        const text::VocabTokenizer& vocab, const TtsEvalConfig& c, const std::string& program) {
  InfillTotals totals;
  for (size_t i = 0; i < count; ++i) {
    const auto sample = dataset.get(i);
    const auto infill = infill_span<Spec>(model, options, sample, i, vocab, c);
    totals.seconds += infill.seconds;
    std::cerr << "[" << program << "] " << (i + 1) << "/" << count << " utterances, " << totals.seconds << " s sampling\n";
    auto generated = infill.output.slice(0, infill.begin, infill.end);
    totals.l1 += (generated - sample.mel.slice(0, infill.begin, infill.end)).abs().sum().template item<double>();
    totals.values += (infill.end - infill.begin) * sample.mel.size(1);
    if (i == 0) draw_infill<Spec>(std::filesystem::path(c.out) / "example.png", sample, infill);
  }
  return totals;
}
}  // namespace detail

template <class Spec>
int run_tts_eval(int argc, char** argv, const std::string& program) {
  TtsEvalConfig c;
  CLI::App app{"Evaluate a " + std::string(Spec::objective::name) + " TTS model (" + program +
               ") on span infilling: the mel L1 of regenerated spans of held-out utterances."};
  detail::add_tts_eval_options(app, c);
  CLI11_PARSE(app, argc, argv);

  try {
    keep_freed_tensor_memory();
    detail::check_tts_eval_arguments(c);
    const auto manifest = read_checked_manifest(c.manifest_file, "--manifest", tts_audio_requirements(), c.skip_bad_items, program);
    const auto vocab = text::VocabTokenizer::from_file(c.vocab_file);
    auto model = systems::f5tts::load_for_inference<Spec>(c.checkpoint, vocab, "", false, announce_device(c.device_name, program));
    data::SpeechDataset dataset(manifest, audio::MelSpectrogramOptions::vocos_24k(),
                                std::filesystem::path(c.manifest_file).parent_path() / "cache" / "logmel");
    systems::f5tts::SynthesisOptions synthesis;
    synthesis.nfe = c.nfe;
    synthesis.head_steps = c.head_steps;
    synthesis.cfg = c.cfg;
    auto options = systems::f5tts::sample_options<Spec>(synthesis);
    const size_t count = c.limit > 0 ? std::min<size_t>(static_cast<size_t>(c.limit), dataset.size()) : dataset.size();
    const auto totals = detail::infill_all<Spec>(model, options, dataset, count, vocab, c, program);
    const nlohmann::json results = {{"objective", Spec::objective::name}, {"checkpoint", c.checkpoint},
                                    {"utterances", count}, {"span", {c.span_start, c.span_end}},
                                    {"nfe", c.nfe}, {"head_steps", c.head_steps}, {"cfg", c.cfg},
                                    {"backbone_passes", FlowModel<Spec>::Impl::backbone_passes(options.sampler)},
                                    {"infill_mel_l1", totals.l1 / static_cast<double>(totals.values)},
                                    {"sampling_seconds", totals.seconds}};
    std::ofstream(std::filesystem::path(c.out) / "results.json") << results.dump(2) << "\n";
    std::cout << results.dump() << "\n";
    return 0;
  } catch (const std::exception& error) {
    return report_error(program, error);
  }
}

}  // namespace chord::apps
