// chord-demo-autoencoder: a short, real training run on the demo speech corpus that exercises the
// whole foundation — manifest dataset with a feature cache, frame-budget batches, the trainer (AdamW,
// warm-up + decay, clipping, EMA, checkpoints, resume, JSONL + TensorBoard logs, progress, SIGINT),
// and the pictures and sounds at the end (loss curve, spectrogram PNG, Griffin-Lim WAVs).
//
// The model is a small convolutional log-mel autoencoder with a 16-channel, half-rate bottleneck.
#include <chord/core/allocator.hpp>
#include <chord/audio/griffin_lim.hpp>
#include <chord/audio/io.hpp>
#include <chord/audio/metrics.hpp>
#include <chord/core/mask.hpp>
#include <chord/data/speech_dataset.hpp>
#include <chord/train/samplers.hpp>
#include <chord/train/trainer.hpp>
#include <chord/viz/plots.hpp>
#include <chord/viz/training_curves.hpp>

#include <chord/apps/cli.hpp>
#include <CLI/CLI.hpp>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/optim/adamw.h>

#include <iostream>

namespace {

// Log-mels span roughly [-11.5, 2.5]; a fixed affine map keeps activations near unit scale.
constexpr double kMelMean = -5.0;
constexpr double kMelScale = 2.5;

struct MelAutoencoderImpl : torch::nn::Module {
  explicit MelAutoencoderImpl(int64_t n_mels = 100, int64_t channels = 128, int64_t bottleneck = 16) {
    using torch::nn::Conv1d;
    using torch::nn::Conv1dOptions;
    encode_in = register_module("encode_in", Conv1d(Conv1dOptions(n_mels, channels, 5).padding(2)));
    encode_down = register_module("encode_down", Conv1d(Conv1dOptions(channels, channels, 4).stride(2).padding(1)));
    encode_out = register_module("encode_out", Conv1d(Conv1dOptions(channels, bottleneck, 3).padding(1)));
    decode_up = register_module("decode_up", torch::nn::ConvTranspose1d(
                                                 torch::nn::ConvTranspose1dOptions(bottleneck, channels, 4).stride(2).padding(1)));
    decode_mid = register_module("decode_mid", Conv1d(Conv1dOptions(channels, channels, 5).padding(2)));
    decode_out = register_module("decode_out", Conv1d(Conv1dOptions(channels, n_mels, 5).padding(2)));
    dropout = register_module("dropout", torch::nn::Dropout(0.1));
  }

  /// `mel [B, T, n_mels]` (log) → reconstruction of the same shape.
  torch::Tensor forward(const torch::Tensor& mel) {
    const int64_t frames = mel.size(1);
    auto x = ((mel - kMelMean) / kMelScale).transpose(1, 2);
    if (frames % 2 != 0) x = torch::constant_pad_nd(x, {0, 1});
    x = torch::gelu(encode_in(x));
    x = torch::gelu(encode_down(x));
    x = encode_out(dropout(x));
    x = torch::gelu(decode_up(x));
    x = torch::gelu(decode_mid(dropout(x)));
    x = decode_out(x).narrow(2, 0, frames);
    return x.transpose(1, 2) * kMelScale + kMelMean;
  }

  torch::nn::Conv1d encode_in{nullptr}, encode_down{nullptr}, encode_out{nullptr}, decode_mid{nullptr},
      decode_out{nullptr};
  torch::nn::ConvTranspose1d decode_up{nullptr};
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(MelAutoencoder);

/// L1 over valid frames only.
torch::Tensor masked_l1(const torch::Tensor& prediction, const chord::data::SpeechBatch& batch) {
  auto mask = chord::lens_to_mask(batch.mel_lengths, batch.mel.size(1)).unsqueeze(-1).to(prediction.dtype());
  return ((prediction - batch.mel).abs() * mask).sum() / (mask.sum() * batch.mel.size(2));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Train chord's demo log-mel autoencoder on the espeak corpus, then draw and play the result."};
  std::filesystem::path corpus = "out/corpus", out = "out/demo_autoencoder";
  int64_t steps = 2000, frames_per_batch = 3000, seed = 0;
  double lr = 2e-3;
  bool fresh = false;
  std::string device_name = "auto";
  app.add_option("--corpus", corpus, "Corpus folder made by chord-make-speech-corpus")->capture_default_str();
  app.add_option("--out", out, "Output folder (checkpoints, logs, PNGs, WAVs)")->capture_default_str();
  app.add_option("--steps", steps, "Optimiser updates")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--frames-per-batch", frames_per_batch, "Frame budget of a batch")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--lr", lr, "Peak learning rate")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--seed", seed, "Seed of every random draw")->capture_default_str();
  app.add_flag("--fresh", fresh, "Ignore existing checkpoints in --out");
  chord::apps::add_device_option(app, device_name);
  CLI11_PARSE(app, argc, argv);
  chord::keep_freed_tensor_memory();

  try {
    namespace audio = chord::audio;
    namespace train = chord::train;
    const auto device = chord::apps::announce_device(device_name, "demo");
    const auto mel_options = audio::MelSpectrogramOptions::vocos_24k();
    auto train_set = std::make_shared<chord::data::SpeechDataset>(
        chord::data::Manifest::read(corpus / "manifest_train.jsonl"), mel_options, corpus / "cache" / "logmel");
    chord::data::SpeechDataset valid_set(chord::data::Manifest::read(corpus / "manifest_valid.jsonl"), mel_options,
                                         corpus / "cache" / "logmel");
    auto sampler = std::make_shared<const train::DynamicBatchSampler>(train_set->frame_lengths(),
                                                                      static_cast<double>(frames_per_batch), 32, 666);
    auto batches = train::sampled_batches(sampler, [train_set](const std::vector<int64_t>& indices) {
      return train_set->batch(indices);
    });

    torch::manual_seed(seed);
    MelAutoencoder model;
    train::TrainerOptions options;
    options.max_steps = steps;
    options.log_every = 10;
    options.checkpoint_every = 100;
    options.checkpoint_dir = out / "checkpoints";
    options.seed = static_cast<uint64_t>(seed);
    options.resume = !fresh;
    options.device = device;
    if (fresh) std::filesystem::remove_all(out);
    train::Trainer trainer(options);
    trainer.add_module("model", model.ptr());
    auto optimizer = std::make_shared<torch::optim::AdamW>(model->parameters(), torch::optim::AdamWOptions(lr));
    trainer.add_optimizer("model", optimizer, train::warmup_linear_decay(lr, std::max<int64_t>(1, steps / 10), steps + 1), 1.0);
    auto& ema = trainer.add_ema("model", model.ptr(), {0.999, 20, 1, 1.0, 0.75, 0.0});
    trainer.add_observer(std::make_shared<train::ConsoleProgress>(std::cerr, "autoencoder"));
    trainer.add_observer(std::make_shared<train::JsonlLogger>(out / "log.jsonl"));
    trainer.add_observer(std::make_shared<train::TensorBoardWriter>(out / "tensorboard"));

    MelAutoencoder averaged;
    averaged->to(device);
    auto validate = [&] {
      torch::NoGradGuard no_grad;
      ema.copy_to(*averaged);
      averaged->eval();
      double total = 0.0;
      for (size_t i = 0; i < valid_set.size(); ++i) {
        auto batch = valid_set.batch({static_cast<int64_t>(i)}).to(device);
        total += masked_l1(averaged(batch.mel), batch).item<double>();
      }
      return total / static_cast<double>(valid_set.size());
    };
    trainer.set_after_update([&](int64_t step) {
      if (step % 100 == 0 || step == steps) trainer.report(step, {{"valid/l1", validate()}});
    });

    std::cout << "[demo] " << train_set->size() << " training utterances, " << sampler->size()
              << " batches per epoch; writing to " << out.string() << "\n";
    auto result = trainer.fit<chord::data::SpeechBatch>(batches, [&](const chord::data::SpeechBatch& batch,
                                                                    train::StepContext& context) {
      model->train();
      auto loss = masked_l1(model(batch.mel), batch);
      context.backward("model", loss);
      return train::Trainer::Scalars{{"loss", loss}};
    });

    // Look and listen: a held-out utterance through the averaged model.
    torch::NoGradGuard no_grad;
    ema.copy_to(*averaged);
    averaged->eval();
    auto example = valid_set.batch({0});
    auto reconstruction = averaged(example.mel.to(device)).cpu();
    const double l1 = masked_l1(reconstruction, example).item<double>();
    chord::viz::save_spectrograms_png(out / "reconstruction.png",
                                      {{"held-out target: \"" + example.text[0] + "\"", example.mel[0].t()},
                                       {"autoencoder (EMA) reconstruction", reconstruction[0].t()}});
    chord::viz::save_training_curves_png(out / "log.jsonl", out / "loss.png", {"loss", "valid/l1"},
                                         {.title = "mel autoencoder", .y_label = "L1 (log-mel)", .log_y = true});
    audio::GriffinLimVocoder vocoder(mel_options);
    auto gen = chord::make_generator(static_cast<uint64_t>(seed));
    audio::write_audio(out / "target_griffinlim.wav", vocoder.decode(example.mel.transpose(1, 2), gen)[0], vocoder.sample_rate());
    audio::write_audio(out / "reconstruction_griffinlim.wav", vocoder.decode(reconstruction.transpose(1, 2), gen)[0],
                       vocoder.sample_rate());

    std::cout << "[demo] " << train::to_string(result.reason) << " at step " << result.step << "; held-out L1 "
              << l1 << "\n"
              << "[demo] loss curve:     " << (out / "loss.png").string() << "\n"
              << "[demo] spectrograms:   " << (out / "reconstruction.png").string() << "\n"
              << "[demo] audio:          " << (out / "target_griffinlim.wav").string() << ", "
              << (out / "reconstruction_griffinlim.wav").string() << "\n"
              << "[demo] logs:           " << (out / "log.jsonl").string() << ", " << (out / "tensorboard").string() << "\n"
              << "[demo] checkpoint:     " << (result.checkpoint ? result.checkpoint->string() : "none") << "\n";
  } catch (const std::exception& error) {
    return chord::apps::report_error("chord-demo-autoencoder", error);
  }
  return 0;
}
