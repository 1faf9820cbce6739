// The training loop: exact resume, skipped non-finite updates, several optimisers, signals,
// mixed precision, logging.
#include "support.hpp"
#include "train/recorder.hpp"

#include <chord/io/state_dict.hpp>
#include <chord/train/trainer.hpp>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adamw.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <sstream>

namespace train = chord::train;

namespace {

struct RegressorImpl : torch::nn::Module {
  RegressorImpl() {
    in = register_module("in", torch::nn::Linear(4, 16));
    drop = register_module("drop", torch::nn::Dropout(0.2));
    out = register_module("out", torch::nn::Linear(16, 1));
  }
  torch::Tensor forward(const torch::Tensor& x) { return out(drop(torch::gelu(in(x)))); }
  torch::nn::Linear in{nullptr}, out{nullptr};
  torch::nn::Dropout drop{nullptr};
};
TORCH_MODULE(Regressor);

struct ToyBatch {
  torch::Tensor x, y;
};

/// 5 batches per epoch; every batch is a pure function of (epoch, index).
train::BatchSource<ToyBatch> toy_source() {
  return {[](int64_t) { return size_t{5}; },
          [](int64_t epoch, size_t index) {
            auto gen = chord::make_generator(static_cast<uint64_t>(epoch * 1000 + static_cast<int64_t>(index)));
            auto x = torch::randn({8, 4}, gen);
            return ToyBatch{x, x.sum(1, true).sin()};
          }};
}

Regressor make_model(uint64_t init_seed) {
  torch::manual_seed(init_seed);
  return Regressor();
}

struct Run {
  Regressor model;
  std::unique_ptr<train::Trainer> trainer;
  std::shared_ptr<torch::optim::AdamW> optimizer;
};

Run make_run(const std::filesystem::path& dir, int64_t max_steps, uint64_t init_seed = 11, bool fused_adamw = false) {
  Run run{make_model(init_seed), nullptr, nullptr};
  train::TrainerOptions options;
  options.fused_adamw = fused_adamw;
  options.max_steps = max_steps;
  options.grad_accumulation = 2;
  options.checkpoint_dir = dir;
  options.seed = 7;
  options.log_every = 1;
  run.trainer = std::make_unique<train::Trainer>(options);
  run.optimizer = std::make_shared<torch::optim::AdamW>(run.model->parameters(), torch::optim::AdamWOptions(1e-2));
  run.trainer->add_module("model", run.model.ptr());
  run.trainer->add_optimizer("model", run.optimizer, train::warmup_linear_decay(1e-2, 3, 20), 1.0);
  run.trainer->add_ema("model", run.model.ptr(), {0.99, 2, 1, 1.0, 0.75, 0.0});
  return run;
}

train::Trainer::Scalars toy_step(Regressor& model, const ToyBatch& batch, train::StepContext& context) {
  auto x = batch.x + 0.01 * torch::randn(batch.x.sizes(), context.generator());
  auto loss = torch::mse_loss(model(x), batch.y);
  context.backward("model", loss);
  return {{"loss", loss}};
}

void require_bitwise_equal(const chord::io::TensorMap& a, const chord::io::TensorMap& b) {
  REQUIRE(a.size() == b.size());
  for (const auto& [name, tensor] : a) {
    INFO(name);
    REQUIRE(torch::equal(tensor, b.at(name)));
  }
}

using chord::test::Recorder;

}  // namespace

TEST_CASE("N steps, stop, resume M steps gives bitwise the parameters of N+M steps", "[train][trainer][resume]") {
  const auto dir = chord::test::scratch_dir("trainer_resume");
  auto straight = make_run(dir / "straight", 9);
  auto straight_result = straight.trainer->fit<ToyBatch>(
      toy_source(), [&](const ToyBatch& b, train::StepContext& c) { return toy_step(straight.model, b, c); });
  REQUIRE(straight_result.step == 9);
  REQUIRE(straight_result.reason == train::StopReason::completed);

  auto first = make_run(dir / "split", 4);
  first.trainer->fit<ToyBatch>(toy_source(), [&](const ToyBatch& b, train::StepContext& c) { return toy_step(first.model, b, c); });
  // A new process: a model initialised differently, everything restored from the checkpoint.
  auto second = make_run(dir / "split", 9, /*init_seed=*/999);
  auto recorder = std::make_shared<Recorder>();
  second.trainer->add_observer(recorder);
  auto result = second.trainer->fit<ToyBatch>(
      toy_source(), [&](const ToyBatch& b, train::StepContext& c) { return toy_step(second.model, b, c); });
  REQUIRE(result.step == 9);
  CAPTURE(recorder->steps.size(), recorder->warnings.size(), recorder->errors.size());
  REQUIRE(recorder->infos.size() == 1);
  REQUIRE_THAT(recorder->infos.front(), Catch::Matchers::Contains("resumed from"));
  REQUIRE(recorder->steps.size() == 5);

  require_bitwise_equal(chord::io::state_dict(*straight.model), chord::io::state_dict(*second.model));
  require_bitwise_equal(straight.trainer->ema("model").shadow(), second.trainer->ema("model").shadow());
  REQUIRE(straight.trainer->ema("model").step() == second.trainer->ema("model").step());
  // the optimiser moments match too
  auto straight_params = straight.model->parameters(), second_params = second.model->parameters();
  for (size_t i = 0; i < straight_params.size(); ++i) {
    auto& sa = static_cast<torch::optim::AdamWParamState&>(*straight.optimizer->state().at(straight_params[i].unsafeGetTensorImpl()));
    auto& sb = static_cast<torch::optim::AdamWParamState&>(*second.optimizer->state().at(second_params[i].unsafeGetTensorImpl()));
    REQUIRE(sa.step() == sb.step());
    REQUIRE(torch::equal(sa.exp_avg(), sb.exp_avg()));
    REQUIRE(torch::equal(sa.exp_avg_sq(), sb.exp_avg_sq()));
  }
  // and the parameters really moved
  auto initial = make_model(11);
  REQUIRE_FALSE(torch::equal(initial->in->weight, straight.model->in->weight));
}

TEST_CASE("fused AdamW trains to the loop's parameters within rounding, and resumes the loop's checkpoints",
          "[train][trainer][resume]") {
  const auto dir = chord::test::scratch_dir("trainer_fused_adamw");
  auto loop = make_run(dir / "loop", 9);
  loop.trainer->fit<ToyBatch>(toy_source(), [&](const ToyBatch& b, train::StepContext& c) { return toy_step(loop.model, b, c); });
  auto fused = make_run(dir / "fused", 9, 11, /*fused_adamw=*/true);
  fused.trainer->fit<ToyBatch>(toy_source(), [&](const ToyBatch& b, train::StepContext& c) { return toy_step(fused.model, b, c); });
  REQUIRE(fused.optimizer->state().empty());  // the trainer stepped its FusedAdamW, not the AdamW it was given

  // Four updates with the loop, the remaining five with the fused kernel from the loop's checkpoint.
  auto first = make_run(dir / "switch", 4);
  first.trainer->fit<ToyBatch>(toy_source(), [&](const ToyBatch& b, train::StepContext& c) { return toy_step(first.model, b, c); });
  auto second = make_run(dir / "switch", 9, /*init_seed=*/999, /*fused_adamw=*/true);
  const auto resumed = second.trainer->fit<ToyBatch>(
      toy_source(), [&](const ToyBatch& b, train::StepContext& c) { return toy_step(second.model, b, c); });
  REQUIRE(resumed.step == 9);

  const auto reference = chord::io::state_dict(*loop.model);
  const auto initial = chord::io::state_dict(*make_model(11));
  for (const auto* run : {&fused, &second}) {
    for (const auto& [name, tensor] : chord::io::state_dict(*run->model)) {
      INFO(name);
      REQUIRE((tensor - reference.at(name)).abs().max().item<double>() < 1e-5);
      REQUIRE((reference.at(name) - initial.at(name)).abs().max().item<double>() > 1e-3);  // it did train
    }
  }
}

TEST_CASE("pretrained frozen weights stay out of checkpoints: a digest guards the resume", "[train][trainer][resume]") {
  const auto dir = chord::test::scratch_dir("trainer_pretrained");
  // `in` plays the pretrained encoder: frozen, loaded by the program at every start (here: seeded).
  auto make = [&](const std::string& run_dir, int64_t max_steps, uint64_t pretrained_seed) {
    Run run{make_model(11), nullptr, nullptr};
    {
      torch::NoGradGuard no_grad;
      auto gen = chord::make_generator(pretrained_seed);
      run.model->in->weight.copy_(torch::randn(run.model->in->weight.sizes(), gen));
    }
    for (auto& p : run.model->in->parameters()) p.requires_grad_(false);
    train::TrainerOptions options;
    options.max_steps = max_steps;
    options.checkpoint_dir = dir / run_dir;
    options.seed = 7;
    run.trainer = std::make_unique<train::Trainer>(options);
    run.optimizer = std::make_shared<torch::optim::AdamW>(run.model->out->parameters(), torch::optim::AdamWOptions(1e-2));
    run.trainer->add_module("model", run.model.ptr(), {"in."});
    run.trainer->add_optimizer("model", run.optimizer);
    return run;
  };
  auto fit = [](Run& run) {
    return run.trainer->fit<ToyBatch>(toy_source(), [&](const ToyBatch& b, train::StepContext& c) { return toy_step(run.model, b, c); });
  };
  auto straight = make("straight", 5, 1);
  fit(straight);
  auto first = make("split", 3, 1);
  fit(first);
  torch::serialize::InputArchive archive;
  archive.load_from((dir / "split" / "checkpoint_000000003.pt").string());
  const auto saved = chord::io::read_tensor_map(archive, chord::io::trainer_module_key("model"));
  REQUIRE(saved.count("out.weight"));
  REQUIRE_FALSE(saved.count("in.weight"));
  REQUIRE_FALSE(saved.count("in.bias"));

  auto second = make("split", 5, 1);  // the same pretrained weights: resumes exactly
  REQUIRE(fit(second).step == 5);
  require_bitwise_equal(chord::io::state_dict(*straight.model), chord::io::state_dict(*second.model));

  auto other = make("split", 7, 2);  // other pretrained weights: refused, nothing changed
  const auto before = chord::io::state_dict(*other.model);
  CHORD_REQUIRE_THROWS_WITH_TEXT(fit(other), "was trained with other weights under 'in.'");
  require_bitwise_equal(before, chord::io::state_dict(*other.model));

  // Only frozen weights can be left out.
  train::Trainer trainer({});
  auto trainable = make_model(11);
  CHORD_REQUIRE_THROWS_WITH_TEXT(trainer.add_module("model", trainable.ptr(), {"in."}),
                                 "'in.weight' is trainable; only frozen weights can be left out of checkpoints");
}

TEST_CASE("a non-finite loss skips the update and K in a row stop the run at the last good state",
          "[train][trainer][nonfinite]") {
  const auto dir = chord::test::scratch_dir("trainer_nan");
  SECTION("one bad update is skipped and counted") {
    auto run = make_run(dir / "one", 6);
    auto recorder = std::make_shared<Recorder>();
    run.trainer->add_observer(recorder);
    auto result = run.trainer->fit<ToyBatch>(toy_source(), [&](const ToyBatch& b, train::StepContext& c) {
      if (c.step() == 2) {
        auto bad = torch::full({}, NAN, torch::requires_grad());
        c.backward("model", bad);
        return train::Trainer::Scalars{{"loss", bad}};
      }
      return toy_step(run.model, b, c);
    });
    REQUIRE(result.reason == train::StopReason::completed);
    REQUIRE(result.step == 6);
    REQUIRE(result.nonfinite_updates == 1);
    REQUIRE(recorder->warnings.size() == 1);
    REQUIRE_THAT(recorder->warnings[0], Catch::Matchers::Contains("update 3 skipped"));
  }
  SECTION("K consecutive bad updates stop with a checkpoint of the last good parameters") {
    auto good = make_run(dir / "good", 3);
    good.trainer->fit<ToyBatch>(toy_source(), [&](const ToyBatch& b, train::StepContext& c) { return toy_step(good.model, b, c); });

    auto run = make_run(dir / "bad", 50);
    auto recorder = std::make_shared<Recorder>();
    run.trainer->add_observer(recorder);
    auto source = toy_source();  // a source that can say what a batch holds: the messages name it
    source.describe = [](int64_t epoch, size_t index) { return "items of e" + std::to_string(epoch) + "b" + std::to_string(index); };
    auto result = run.trainer->fit<ToyBatch>(source, [&](const ToyBatch& b, train::StepContext& c) {
      if (c.step() >= 3) {
        auto loss = torch::mse_loss(run.model(b.x), b.y) * std::numeric_limits<double>::infinity();
        c.backward("model", loss);
        return train::Trainer::Scalars{{"loss", loss}};
      }
      return toy_step(run.model, b, c);
    });
    REQUIRE(result.reason == train::StopReason::nonfinite);
    REQUIRE(result.step == 3 + 5);  // max_consecutive_nonfinite = 5
    REQUIRE(result.nonfinite_updates == 5);
    REQUIRE(result.checkpoint);
    REQUIRE(std::filesystem::exists(*result.checkpoint));
    REQUIRE(recorder->errors.size() == 1);
    REQUIRE_THAT(recorder->errors[0], Catch::Matchers::Contains("5 consecutive updates had non-finite"));
    // 5 batches per epoch, 2 micro-batches per update: update 8 took batches 14 and 15 of the stream.
    REQUIRE_THAT(recorder->errors[0], Catch::Matchers::Contains(
                                          "the last, update 8: its batches: epoch 2 batch 4 (items of e2b4); epoch 3 batch 0 (items of e3b0)"));
    REQUIRE_THAT(recorder->warnings[0], Catch::Matchers::Contains("update 4 skipped: non-finite loss or gradient (1 in a row); "
                                                                  "its batches: epoch 1 batch 1 (items of e1b1); epoch 1 batch 2 (items of e1b2)"));
    require_bitwise_equal(chord::io::state_dict(*good.model), chord::io::state_dict(*run.model));
  }
}

TEST_CASE("several optimisers each get their own schedule, clipping and checkpoint entry", "[train][trainer][gan]") {
  const auto dir = chord::test::scratch_dir("trainer_gan");
  torch::manual_seed(3);
  torch::nn::Linear generator(4, 4), discriminator(4, 1);
  const auto g_before = generator->weight.clone(), d_before = discriminator->weight.clone();
  train::TrainerOptions options;
  options.max_steps = 4;
  options.checkpoint_dir = dir;
  options.log_every = 1;
  train::Trainer trainer(options);
  trainer.add_module("G", generator.ptr());
  trainer.add_module("D", discriminator.ptr());
  trainer.add_optimizer("G", std::make_shared<torch::optim::AdamW>(generator->parameters(), 1e-3),
                        train::exponential_per_epoch(1e-3, 0.5), 500.0);
  trainer.add_optimizer("D", std::make_shared<torch::optim::AdamW>(discriminator->parameters(), 2e-3));
  auto recorder = std::make_shared<Recorder>();
  trainer.add_observer(recorder);
  trainer.fit<ToyBatch>(toy_source(), [&](const ToyBatch& b, train::StepContext& c) {
    auto fake = generator(b.x);
    auto loss_d = (discriminator(fake.detach()) - discriminator(b.x) + 1).relu().mean();
    c.backward("D", loss_d);
    auto loss_g = -discriminator(fake).mean();
    c.backward("G", loss_g);
    return train::Trainer::Scalars{{"loss_d", loss_d}, {"loss_g", loss_g}};
  });
  REQUIRE_FALSE(torch::equal(generator->weight, g_before));
  REQUIRE_FALSE(torch::equal(discriminator->weight, d_before));
  const auto& last = recorder->steps.back().scalars;
  REQUIRE(last.count("lr/G"));
  REQUIRE(last.at("lr/D") == Approx(2e-3));
  REQUIRE(last.count("grad_norm/G"));
  REQUIRE_FALSE(last.count("grad_norm/D"));
  // 4 updates of 5-batch epochs: still epoch 0, so lr/G = 1e-3 · 0.5^0
  REQUIRE(last.at("lr/G") == Approx(1e-3));

  torch::serialize::InputArchive archive;
  archive.load_from((dir / "checkpoint_000000004.pt").string());
  torch::serialize::InputArchive sub;
  for (const char* key : {"module_G", "module_D", "optimizer_G", "optimizer_D"}) {
    INFO(key);
    REQUIRE(archive.try_read(key, sub));
  }
}

TEST_CASE("SIGINT finishes the current update and writes a checkpoint", "[train][trainer][signal]") {
  const auto dir = chord::test::scratch_dir("trainer_signal");
  auto run = make_run(dir, 100);
  // After the first signal a second one of either kind must terminate: both back to the default action.
  bool int_default = false, term_default = false;
  run.trainer->set_after_update([&](int64_t step) {
    if (step != 3) return;
    std::raise(SIGINT);
    struct sigaction current {};
    sigaction(SIGINT, nullptr, &current);
    int_default = current.sa_handler == SIG_DFL;
    sigaction(SIGTERM, nullptr, &current);
    term_default = current.sa_handler == SIG_DFL;
  });
  auto result = run.trainer->fit<ToyBatch>(toy_source(), [&](const ToyBatch& b, train::StepContext& c) { return toy_step(run.model, b, c); });
  REQUIRE(result.reason == train::StopReason::interrupted);
  REQUIRE(result.step == 3);
  REQUIRE(result.checkpoint == dir / "checkpoint_000000003.pt");
  REQUIRE(std::filesystem::exists(dir / "checkpoint_000000003.pt"));
  CHECK(int_default);
  CHECK(term_default);
}

TEST_CASE("bf16 autocast covers the forward pass while parameters and gradients stay fp32", "[train][trainer][autocast]") {
  auto run = make_run(chord::test::scratch_dir("trainer_bf16"), 2);
  train::TrainerOptions options;
  options.max_steps = 2;
  options.autocast_dtype = torch::kBFloat16;
  train::Trainer trainer(options);
  auto optimizer = std::make_shared<torch::optim::AdamW>(run.model->parameters(), 1e-3);
  trainer.add_optimizer("model", optimizer);
  torch::ScalarType forward_type = torch::kFloat;
  trainer.fit<ToyBatch>(toy_source(), [&](const ToyBatch& b, train::StepContext& c) {
    auto prediction = run.model(b.x);
    forward_type = prediction.scalar_type();
    auto loss = torch::mse_loss(prediction.to(torch::kFloat), b.y);
    c.backward("model", loss);
    return train::Trainer::Scalars{{"loss", loss}};
  });
  REQUIRE(forward_type == torch::kBFloat16);
  REQUIRE(run.model->in->weight.scalar_type() == torch::kFloat);
  REQUIRE(run.model->in->weight.grad().scalar_type() == torch::kFloat);
}

TEST_CASE("JSONL and TensorBoard loggers write what the trainer reports", "[train][logging]") {
  const auto dir = chord::test::scratch_dir("trainer_logs");
  auto run = make_run(dir / "ckpt", 6);
  auto jsonl = std::make_shared<train::JsonlLogger>(dir / "log.jsonl", /*append=*/false);
  auto tensorboard = std::make_shared<train::TensorBoardWriter>(dir / "tb");
  run.trainer->add_observer(jsonl);
  run.trainer->add_observer(tensorboard);
  run.trainer->fit<ToyBatch>(toy_source(), [&](const ToyBatch& b, train::StepContext& c) { return toy_step(run.model, b, c); });
  run.trainer->report(6, {{"valid/loss", 0.5}});
  // An evaluation's picture and sound, as the Bert-VITS2 trainer publishes them (the files' own bytes).
  train::MediaReport picture;
  picture.tag = "eval/mel";
  picture.step = 6;
  picture.bytes = std::string("\x89PNG\r\n\x1a\n", 8) + "stand-in picture bytes";
  picture.width = 3;
  picture.height = 2;
  run.trainer->media(picture);
  train::MediaReport sound;
  sound.kind = train::MediaReport::Kind::wav;
  sound.tag = "eval/audio";
  sound.step = 6;
  sound.bytes = "RIFF....WAVEstand-in sound bytes";
  sound.sample_rate = 22050;
  sound.channels = 1;
  sound.frames = 441;
  run.trainer->media(sound);

  auto series = train::read_jsonl_scalars(dir / "log.jsonl");
  REQUIRE(series.at("loss").size() == 6);
  REQUIRE(series.at("loss").front().first == 1.0);
  REQUIRE(series.at("valid/loss").front().second == 0.5);
  REQUIRE(series.count("lr"));

  // TFRecord framing: every record's length and payload CRCs check out; the first event is the
  // file-version record, then 6 steps × {loss, lr, grad_norm} + 1 validation scalar.
  std::ifstream in(tensorboard->path(), std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t offset = 0, records = 0;
  while (offset < data.size()) {
    REQUIRE(offset + 12 <= data.size());
    uint64_t length;
    uint32_t length_crc, data_crc;
    std::memcpy(&length, data.data() + offset, 8);
    std::memcpy(&length_crc, data.data() + offset + 8, 4);
    REQUIRE(length_crc == train::detail::masked_crc32c(reinterpret_cast<const uint8_t*>(data.data() + offset), 8));
    const auto* payload = reinterpret_cast<const uint8_t*>(data.data() + offset + 12);
    std::memcpy(&data_crc, data.data() + offset + 12 + length, 4);
    REQUIRE(data_crc == train::detail::masked_crc32c(payload, length));
    if (records == 0) REQUIRE(std::string(data.data() + offset + 12, length).find("brain.Event:2") != std::string::npos);
    offset += 12 + length + 4;
    ++records;
  }
  REQUIRE(records == 1 + 6 * 3 + 1 + 2);
  // The last two events: Summary.Value{tag, image{height 2, width 3, colorspace 3, bytes}} and
  // Value{tag, audio{rate, channels, frames, bytes, "audio/wav"}}, as protobuf fields.
  const auto image_at = data.find("eval/mel"), audio_at = data.find("eval/audio");
  REQUIRE(image_at != std::string::npos);
  REQUIRE(audio_at > image_at);
  const std::string image_fields = std::string("\x22") + char(30 + 2 + 6 + 0) + "\x08\x02\x10\x03\x18\x03\x22" + char(30);
  REQUIRE(data.compare(image_at + 8, image_fields.size(), image_fields) == 0);
  REQUIRE(data.find(picture.bytes, image_at) == image_at + 8 + image_fields.size());
  REQUIRE(data.find(sound.bytes, audio_at) != std::string::npos);
  REQUIRE(data.find("audio/wav", audio_at) != std::string::npos);
  // Leave a copy for tests/parity/check_tensorboard.py (the tensorboard package reads it; run outside CI).
  std::filesystem::copy_file(tensorboard->path(), std::filesystem::path(CHORD_TEST_OUTPUT) / "events.out.tfevents.chord-test",
                             std::filesystem::copy_options::overwrite_existing);
}

TEST_CASE("a run started after a kill mid-write removes the stale temporary files and says so", "[train][trainer][resume]") {
  const auto dir = chord::test::scratch_dir("trainer_stale_temporaries");
  std::filesystem::create_directories(dir / "ckpt");
  std::ofstream(dir / "ckpt" / "checkpoint_000000002.pt.tmp.999999999", std::ios::binary) << std::string(2000000, 'x');
  auto run = make_run(dir / "ckpt", 1);
  auto recorder = std::make_shared<Recorder>();
  run.trainer->add_observer(recorder);
  run.trainer->fit<ToyBatch>(toy_source(), [&](const ToyBatch& b, train::StepContext& c) { return toy_step(run.model, b, c); });
  REQUIRE_FALSE(std::filesystem::exists(dir / "ckpt" / "checkpoint_000000002.pt.tmp.999999999"));
  REQUIRE(std::any_of(recorder->infos.begin(), recorder->infos.end(), [&](const std::string& text) {
    return text == "removed 1 temporary file(s) (2 MB) in " + (dir / "ckpt").string() + " left by a run killed while writing";
  }));
}

TEST_CASE("the console shows validation losses, not only the log and the plot", "[train][logging]") {
  std::ostringstream console;
  train::ConsoleProgress progress(console, "demo");
  progress.on_scalars(250, {{"valid/loss", 0.4321}});
  REQUIRE(console.str() == "[demo] step 250: valid/loss=0.4321\n");
}

TEST_CASE("CRC-32C has the standard check value", "[train][logging]") {
  const std::string check = "123456789";
  REQUIRE(train::detail::crc32c(reinterpret_cast<const uint8_t*>(check.data()), check.size()) == 0xE3069283u);
}
