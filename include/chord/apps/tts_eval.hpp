#pragma once
/// @file
/// A ready-made evaluation program for F5-style TTS specs: on held-out utterances, a span of each
/// utterance is regenerated from the rest (the infilling task the models train on) and compared with
/// the real frames. Reports the mean log-mel L1 over the infilled spans, the wall time and the
/// backbone passes, as JSON, and draws one example.

#include "chord/apps/tts_trainer.hpp"
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
  int64_t nfe = 32, head_steps = 4, limit = 0;
  double cfg = 2.0, span_start = 0.3, span_end = 0.7;
  uint64_t seed = 0;
  CLI::App app{"Evaluate a " + std::string(Spec::objective::name) + " TTS model (" + program +
               ") on span infilling: the mel L1 of regenerated spans of held-out utterances."};
  app.add_option("--checkpoint", checkpoint, "Model weights (.safetensors)")->required();
  app.add_option("--vocab", vocab_file, "Vocab file of the model")->required();
  app.add_option("--manifest", manifest_file, "Held-out manifest (JSONL)")->required();
  app.add_option("--out", out, "Folder for results.json and example.png")->capture_default_str();
  app.add_option("--nfe", nfe, "ODE steps (DTM: transitions)")->capture_default_str();
  app.add_option("--head-steps", head_steps, "DTM only: head steps per transition")->capture_default_str();
  app.add_option("--cfg", cfg, "Guidance strength")->capture_default_str();
  app.add_option("--span-start", span_start, "Start of the regenerated span, as a fraction of the utterance")->capture_default_str();
  app.add_option("--span-end", span_end, "End of the regenerated span, as a fraction")->capture_default_str();
  app.add_option("--limit", limit, "Evaluate only the first n utterances (0 = all)")->capture_default_str();
  app.add_option("--seed", seed, "Noise seed")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    keep_freed_tensor_memory();
    CHORD_CHECK(0.0 <= span_start && span_start < span_end && span_end <= 1.0, "need 0 <= --span-start < --span-end <= 1");
    const auto vocab = text::VocabTokenizer::from_file(vocab_file);
    auto model_options = systems::f5tts::read_model_options<Spec>(checkpoint);
    model_options.backbone.dropout(0.0);
    Model model{model_options};
    systems::f5tts::load_checkpoint(model, checkpoint);
    model->eval();
    data::SpeechDataset dataset(data::Manifest::read(manifest_file), audio::MelSpectrogramOptions::vocos_24k(),
                                std::filesystem::path(manifest_file).parent_path() / "cache" / "logmel");
    typename Model::Impl::SampleOptions options;
    options.sampler.steps = nfe;
    if constexpr (requires { options.sampler.head_steps; }) options.sampler.head_steps = head_steps;
    options.guidance_strength = cfg;
    const size_t count = limit > 0 ? std::min<size_t>(static_cast<size_t>(limit), dataset.size()) : dataset.size();
    double total_l1 = 0.0, seconds = 0.0;
    int64_t span_frames = 0;
    std::filesystem::create_directories(out);
    for (size_t i = 0; i < count; ++i) {
      auto sample = dataset.get(i);
      const int64_t frames = sample.mel.size(0);
      const auto begin = static_cast<int64_t>(span_start * static_cast<double>(frames));
      const auto end = std::max(begin + 1, static_cast<int64_t>(span_end * static_cast<double>(frames)));
      typename Model::Impl::Request request;
      request.prompt = sample.mel.unsqueeze(0);
      request.text = f5_text_ids(vocab, {sample.text});
      request.duration = torch::tensor({frames});
      auto keep = torch::ones({1, frames}, torch::kBool);
      keep.slice(1, begin, end).fill_(false);
      request.edit_mask = keep;
      options.seeds = {seed + i};
      auto gen = make_generator(seed + i);
      const auto start = std::chrono::steady_clock::now();
      auto result = model->sample(request, options, gen);
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::cerr << "[" << program << "] " << (i + 1) << "/" << count << " utterances, " << seconds << " s sampling\n";
      auto generated = result.output[0].slice(0, begin, end);
      total_l1 += (generated - sample.mel.slice(0, begin, end)).abs().sum().template item<double>();
      span_frames += (end - begin) * sample.mel.size(1);
      if (i == 0) {
        viz::save_spectrograms_png(std::filesystem::path(out) / "example.png",
                                   {{"held-out: \"" + sample.text.substr(0, 60) + "\"", sample.mel.t()},
                                    {"frames " + std::to_string(begin) + "-" + std::to_string(end) + " infilled by " +
                                         std::string(Spec::objective::name),
                                     result.output[0].slice(0, 0, frames).t()}});
      }
    }
    int64_t backbone_passes = 0;  // per sample() call; guidance branches run batched in each
    if constexpr (requires { Spec::objective::evaluations(options.sampler).first; }) {
      backbone_passes = Spec::objective::evaluations(options.sampler).first;
    } else {
      backbone_passes = Spec::objective::evaluations(options.sampler);
    }
    const nlohmann::json results = {{"objective", Spec::objective::name}, {"checkpoint", checkpoint},
                                    {"utterances", count}, {"span", {span_start, span_end}},
                                    {"nfe", nfe}, {"head_steps", head_steps}, {"cfg", cfg},
                                    {"backbone_passes", backbone_passes},
                                    {"infill_mel_l1", total_l1 / static_cast<double>(span_frames)},
                                    {"sampling_seconds", seconds}};
    std::ofstream(std::filesystem::path(out) / "results.json") << results.dump(2) << "\n";
    std::cout << results.dump() << "\n";
    return 0;
  } catch (const std::exception& error) {
    std::cerr << program << ": " << error.what() << "\n";
    return 1;
  }
}

}  // namespace chord::apps
