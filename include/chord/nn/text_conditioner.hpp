#pragma once
/// @file
/// Text → cross-attention tokens with a T5 encoder, as stable-audio-tools' `T5Conditioner`: tokenise to
/// a fixed length with `</s>`, run the encoder, zero the padded positions. Two set-ups:
///  - `TextConditioner::t5_folder(dir)`: a Hugging Face T5 folder (`config.json`, `model.safetensors`,
///    `tokenizer.json`; t5-base for SAGA-SR and Stable Audio Open), frozen, 128 tokens;
///  - `TextConditioner::byte_level(width)`: the offline default, a small T5 over bytes trained with the
///    model (its parameters are part of the trainable set and of checkpoints).

#include "chord/nn/t5_encoder.hpp"
#include "chord/text/unigram_tokenizer.hpp"

#include <optional>
#include <variant>

namespace chord::nn {

class TextConditionerImpl : public torch::nn::Module {
 public:
  using Tokenizer = std::variant<text::ByT5Tokenizer, text::UnigramTokenizer>;

  TextConditionerImpl(T5EncoderOptions options, Tokenizer tokenizer, int64_t max_length, bool frozen)
      : tokenizer_(std::move(tokenizer)), max_length_(max_length), frozen_(frozen) {
    encoder = register_module("encoder", T5Encoder(std::move(options)));
    if (frozen_) set_frozen();
  }

  /// A Hugging Face T5 folder; frozen (the Stable Audio conditioner does not train T5).
  static std::shared_ptr<TextConditionerImpl> t5_folder(const std::filesystem::path& folder, int64_t max_length = 128) {
    auto config_path = folder / "config.json";
    std::ifstream in(config_path);
    CHORD_CHECK(in, "T5 folder '", folder.string(), "': no config.json (expected config.json, model.safetensors, tokenizer.json, ",
                "as in the Hugging Face t5-base repository)");
    nlohmann::json config;
    try {
      config = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& error) {
      CHORD_FAIL(config_path.string(), ": ", error.what());
    }
    auto conditioner = std::make_shared<TextConditionerImpl>(T5EncoderOptions::from_config(config, config_path.string()),
                                                             text::UnigramTokenizer::from_file(folder / "tokenizer.json"),
                                                             max_length, /*frozen=*/true);
    conditioner->encoder->load(folder / "model.safetensors");
    conditioner->source_ = folder.string();
    return conditioner;
  }
  /// The offline byte-level encoder (random initialisation, trained with the model).
  static std::shared_ptr<TextConditionerImpl> byte_level(int64_t width = 128, int64_t max_length = 64) {
    auto conditioner = std::make_shared<TextConditionerImpl>(T5EncoderOptions::byte_level_tiny(width), text::ByT5Tokenizer{},
                                                             max_length, /*frozen=*/false);
    conditioner->source_ = "byte-level T5, " + std::to_string(width) + " wide, trained with the model";
    return conditioner;
  }

  text::EncodedTexts tokenize(const std::vector<std::string>& texts) const {
    return std::visit([&](const auto& t) { return t.encode_batch(texts, max_length_); }, tokenizer_);
  }

  /// `[B, max_length, width]` embeddings with padded positions zero, and the mask `[B, max_length]` (bool).
  std::pair<torch::Tensor, torch::Tensor> forward(const std::vector<std::string>& texts) {
    auto tokens = tokenize(texts);
    const auto device = encoder->shared->weight.device();
    auto ids = tokens.ids.to(device), mask = tokens.mask.to(device);
    torch::Tensor embedding;
    if (frozen_) {
      torch::NoGradGuard no_grad;
      embedding = encoder(ids, mask);
    } else {
      embedding = encoder(ids, mask);
    }
    return {embedding * mask.unsqueeze(-1).to(embedding.scalar_type()), mask.to(torch::kBool)};
  }

  /// A frozen encoder stays in eval mode whatever its parent is set to.
  void train(bool on = true) override {
    torch::nn::Module::train(on);
    if (frozen_) encoder->eval();
  }

  int64_t width() const { return encoder->options.d_model(); }
  int64_t max_length() const noexcept { return max_length_; }
  bool frozen() const noexcept { return frozen_; }
  const std::string& source() const noexcept { return source_; }

  T5Encoder encoder{nullptr};

 private:
  void set_frozen() {
    for (auto& p : encoder->parameters()) p.set_requires_grad(false);
    encoder->eval();
  }
  Tokenizer tokenizer_;
  int64_t max_length_;
  bool frozen_;
  std::string source_;
};
TORCH_MODULE(TextConditioner);

}  // namespace chord::nn
