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

#include <chrono>
#include <fstream>
#include <iostream>

namespace chord::apps {

template <class Spec>
int run_tts_eval(int argc, char** argv, const std::string& program) {
  using Model = FlowModel<Spec>;
  std::string checkpoint, vocab_file, manifest_file, out = "out/eval";
  int64_t nfe = 32, head_steps = 4, limit = 0, seed = 0;
  double cfg = 2.0, span_start = 0.3, span_end = 0.7;
  bool skip_bad_items = false;
  std::string device_name = "auto";
  CLI::App app{"Evaluate a " + std::string(Spec::objective::name) + " TTS model (" + program +
               ") on span infilling: the mel L1 of regenerated spans of held-out utterances."};
  take_last_of_repeated_options(app);
  app.add_option("--checkpoint", checkpoint, "Model weights (.safetensors, trainer checkpoint or run folder)")->required();
  app.add_option("--vocab", vocab_file, "Vocab file of the model (default: vocab.txt of the run folder)");
  app.add_option("--manifest", manifest_file, "Held-out manifest (JSONL)")->required();
  app.add_option("--out", out, "Folder for results.json and example.png")->capture_default_str();
  add_nfe_option(app, nfe, "Sampling steps (DTM: transitions)");
  app.add_option("--head-steps", head_steps, "DTM only: head steps per transition")->check(CLI::Range(int64_t{1}, int64_t{10000}))->capture_default_str();
  add_cfg_option(app, cfg);
  app.add_option("--span-start", span_start, "Start of the regenerated span, as a fraction of the utterance")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  app.add_option("--span-end", span_end, "End of the regenerated span, as a fraction")->check(CLI::Range(0.0, 1.0))->capture_default_str();
  app.add_option("--limit", limit, "Evaluate only the first n utterances (0 = all)")->check(CLI::NonNegativeNumber)->capture_default_str();
  add_seed_option(app, seed, /*allow_random=*/false);
  add_skip_bad_items_flag(app, skip_bad_items);
  add_device_option(app, device_name);
  CLI11_PARSE(app, argc, argv);

  try {
    keep_freed_tensor_memory();
    CHORD_CHECK(span_start < span_end, "need --span-start < --span-end, got ", span_start, " and ", span_end);
    if (vocab_file.empty()) {
      const auto beside = systems::f5tts::vocab_beside(checkpoint);
      CHORD_CHECK(beside, "give --vocab: no vocab.txt beside --checkpoint '", checkpoint, "'");
      vocab_file = beside->string();
    }
    require_input_file(vocab_file, "--vocab");
    require_output_folder(out, "--out");
    const auto manifest = read_checked_manifest(manifest_file, "--manifest", tts_audio_requirements(), skip_bad_items, program);
    const auto vocab = text::VocabTokenizer::from_file(vocab_file);
    auto model = systems::f5tts::load_for_inference<Spec>(checkpoint, vocab, "", false, announce_device(device_name, program));
    data::SpeechDataset dataset(manifest, audio::MelSpectrogramOptions::vocos_24k(),
                                std::filesystem::path(manifest_file).parent_path() / "cache" / "logmel");
    systems::f5tts::SynthesisOptions synthesis;
    synthesis.nfe = nfe;
    synthesis.head_steps = head_steps;
    synthesis.cfg = cfg;
    auto options = systems::f5tts::sample_options<Spec>(synthesis);
    const size_t count = limit > 0 ? std::min<size_t>(static_cast<size_t>(limit), dataset.size()) : dataset.size();
    double total_l1 = 0.0, seconds = 0.0;
    int64_t span_frames = 0;
    for (size_t i = 0; i < count; ++i) {
      auto sample = dataset.get(i);
      const int64_t frames = sample.mel.size(0);
      const auto begin = static_cast<int64_t>(span_start * static_cast<double>(frames));
      const auto end = std::max(begin + 1, static_cast<int64_t>(span_end * static_cast<double>(frames)));
      typename Model::Impl::Request request;
      request.prompt = sample.mel.unsqueeze(0);
      request.text = systems::f5tts::text_ids(vocab, {sample.text});
      request.duration = torch::tensor({frames});
      auto keep = torch::ones({1, frames}, torch::kBool);
      keep.slice(1, begin, end).fill_(false);
      request.edit_mask = keep;
      options.seeds = {static_cast<uint64_t>(seed) + i};
      auto gen = make_generator(static_cast<uint64_t>(seed) + i);
      const auto start = std::chrono::steady_clock::now();
      auto result = model->sample(request, options, gen);
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::cerr << "[" << program << "] " << (i + 1) << "/" << count << " utterances, " << seconds << " s sampling\n";
      const auto output = result.output.cpu();
      auto generated = output[0].slice(0, begin, end);
      total_l1 += (generated - sample.mel.slice(0, begin, end)).abs().sum().template item<double>();
      span_frames += (end - begin) * sample.mel.size(1);
      if (i == 0) {
        viz::save_spectrograms_png(std::filesystem::path(out) / "example.png",
                                   {{"held-out: \"" + sample.text.substr(0, 60) + "\"", sample.mel.t()},
                                    {"frames " + std::to_string(begin) + "-" + std::to_string(end) + " infilled by " +
                                         std::string(Spec::objective::name),
                                     output[0].slice(0, 0, frames).t()}});
      }
    }
    const nlohmann::json results = {{"objective", Spec::objective::name}, {"checkpoint", checkpoint},
                                    {"utterances", count}, {"span", {span_start, span_end}},
                                    {"nfe", nfe}, {"head_steps", head_steps}, {"cfg", cfg},
                                    {"backbone_passes", Model::Impl::backbone_passes(options.sampler)},
                                    {"infill_mel_l1", total_l1 / static_cast<double>(span_frames)},
                                    {"sampling_seconds", seconds}};
    std::ofstream(std::filesystem::path(out) / "results.json") << results.dump(2) << "\n";
    std::cout << results.dump() << "\n";
    return 0;
  } catch (const std::exception& error) {
    return report_error(program, error);
  }
}

}  // namespace chord::apps
