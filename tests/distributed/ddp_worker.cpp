// One process of the multi-process training tests (tests/distributed/run_ddp_tests.sh): trains a
// tiny F5-TTS flow model or a toy GAN (three optimisers: G, D, D2) through chord::train::Trainer with
// the c10d process group, and writes the final parameters on rank 0.
//
// Every random draw of a step is keyed by (item, step), never by process: W processes with batch B,
// or one process with batch W·B (or batch B and W accumulation micro-steps), see the same items with
// the same noise, so their parameters must agree to rounding.
//
//   chord-test-ddp-worker train --model flow|gan --batch B --steps N --out DIR [options]
//   chord-test-ddp-worker compare A.safetensors B.safetensors [--tolerance 1e-6]
#include "train/toy_gan.hpp"

#include <chord/distributed.hpp>
#include <chord/io/safetensors.hpp>
#include <chord/systems/f5tts.hpp>
#include <chord/train/gan_training.hpp>
#include <chord/train/trainer.hpp>

#include <CLI/CLI.hpp>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include <csignal>
#include <cstdlib>
#include <iostream>

namespace {

namespace f5 = chord::systems::f5tts;
namespace train = chord::train;

struct Options {
  std::string model = "flow";
  int64_t batch = 2, steps = 4, accumulation = 1, items = 64, checkpoint_every = 0;
  double lr = 1e-3;
  std::string optimizer = "adamw";  // sgd: parameter differences stay linear in gradient differences
  std::string out;
  int64_t die_at_step = -1;  // this rank kills itself (SIGKILL) inside that update, first attempt only
  int die_rank = 1;
  bool per_rank_source = false;  // rank r takes global batches r, r+W, … with no wrap-around
  std::string device = "cpu";    // cuda: NCCL, one GPU per process (scripts/gpu_check.sh)
};

// --- the toy GAN, with a generator layer no loss reaches (find_unused_parameters) -------------------
struct GanGeneratorImpl : toy_gan::GeneratorImpl {
  explicit GanGeneratorImpl(toy_gan::GeneratorOptions options) : toy_gan::GeneratorImpl(options) {
    unused = register_module("unused", torch::nn::Linear(options.width, options.width));
  }
  torch::nn::Linear unused{nullptr};
};
TORCH_MODULE(GanGenerator);

struct WorkerGan {
  using generator = GanGenerator;
  using discriminators = chord::disc::Set<toy_gan::LsganCritic, toy_gan::SecondCritic>;
};

constexpr int64_t kWidth = 4, kFrames = 48, kTextLength = 8, kVocab = 32;

uint64_t item_seed(int64_t item, int64_t step) { return static_cast<uint64_t>(item) * 1000003u + static_cast<uint64_t>(step); }

toy_gan::Batch gan_item(int64_t item) {
  auto gen = chord::make_generator(static_cast<uint64_t>(item) + 17);
  auto input = torch::randn({1, kWidth}, gen);
  return {input, input.flip(1) * 0.5 + 0.25};
}

// A flow batch is a list of item ids: each item's mel and text come from its id.
struct FlowItems {
  std::vector<int64_t> ids;
};

chord::FlowModel<chord::systems::F5TTS>::Batch flow_item(int64_t item) {
  auto gen = chord::make_generator(static_cast<uint64_t>(item) + 5);
  auto mel = torch::randn({1, kFrames, 100}, gen);
  auto text = torch::randint(1, kVocab, {1, kTextLength}, gen, torch::kLong);
  return {mel, torch::tensor({kFrames}), text};
}

/// Global batch `index` of the epoch holds items [index·B, (index+1)·B).
std::vector<int64_t> global_batch(const Options& o, size_t index) {
  std::vector<int64_t> ids;
  for (int64_t k = 0; k < o.batch; ++k) ids.push_back((static_cast<int64_t>(index) * o.batch + k) % o.items);
  return ids;
}

template <class Batch, class Make>
train::BatchSource<Batch> make_source(const Options& o, int rank, int world, Make make) {
  const size_t count = static_cast<size_t>(o.items / o.batch);
  if (!o.per_rank_source) {
    return {[count](int64_t) { return count; }, [o, make](int64_t, size_t index) { return make(global_batch(o, index)); }};
  }
  const auto r = static_cast<size_t>(rank), w = static_cast<size_t>(world);
  return {[count, r, w](int64_t) { return count / w + (r < count % w ? 1 : 0); },
          [o, make, r, w](int64_t, size_t index) { return make(global_batch(o, index * w + r)); }, true};
}

void maybe_die(const Options& o, int rank, int64_t step) {
  const char* restarts = std::getenv("TORCHELASTIC_RESTART_COUNT");
  const bool first_attempt = restarts == nullptr || std::string(restarts) == "0";
  if (first_attempt && rank == o.die_rank && step + 1 == o.die_at_step) std::raise(SIGKILL);
}

std::string fingerprint(const Options& o) {
  return o.model + " " + o.optimizer + " batch " + std::to_string(o.batch) + " accumulation " + std::to_string(o.accumulation) + " lr " +
         std::to_string(o.lr) + " items " + std::to_string(o.items);
}

int train_run(const Options& o) {
  auto group = chord::distributed::join_from_environment(chord::resolve_device(o.device));
  const c10::Device device = group ? group->device() : chord::resolve_device(o.device);
  const int rank = group ? group->rank() : 0, world = group ? group->world_size() : 1;
  torch::set_num_threads(1);

  train::TrainerOptions options;
  options.max_steps = o.steps;
  options.grad_accumulation = o.accumulation;
  options.log_every = 1;
  options.checkpoint_every = o.checkpoint_every;
  options.checkpoint_dir = std::filesystem::path(o.out) / "checkpoints";
  options.seed = 1;
  options.handle_signals = false;
  options.prefetch = false;
  options.parallel = group;
  options.fingerprint = fingerprint(o);
  options.find_unused_parameters = o.model == "gan";
  options.device = device;
  train::Trainer trainer(options);
  if (rank == 0) trainer.add_observer(std::make_shared<train::ConsoleProgress>(std::cerr, "ddp-worker"));
  if (rank == 0) trainer.add_observer(std::make_shared<train::JsonlLogger>(std::filesystem::path(o.out) / "log.jsonl"));
  if (group) trainer.add_observer(std::make_shared<train::RankLog>(std::filesystem::path(o.out) / "logs", rank, "ddp-worker"));

  chord::io::TensorMap final_state;
  train::TrainResult result;
  if (o.model == "gan") {
    torch::manual_seed(3 + static_cast<uint64_t>(rank));  // ranks start apart: the broadcast must align them
    chord::GanModelOptions<WorkerGan> model_options(toy_gan::GeneratorOptions{kWidth});
    model_options.discriminators.template get<toy_gan::LsganCritic>().learning_rate = o.lr;
    model_options.discriminators.template get<toy_gan::SecondCritic>().learning_rate = o.lr;
    chord::GanModel<WorkerGan> model(model_options);
    std::vector<torch::Tensor> generator_parameters = model->generator->parameters();
    train::add_gan(trainer, model, std::make_shared<torch::optim::AdamW>(generator_parameters, torch::optim::AdamWOptions(o.lr)));
    auto source = make_source<toy_gan::Batch>(o, rank, world, [](const std::vector<int64_t>& ids) {
      std::vector<torch::Tensor> inputs, reals;
      for (auto id : ids) {
        auto item = gan_item(id);
        inputs.push_back(item.input);
        reals.push_back(item.real);
      }
      return toy_gan::Batch{torch::cat(inputs), torch::cat(reals)};
    });
    result = trainer.fit<toy_gan::Batch>(source, [&](const toy_gan::Batch& batch, train::StepContext& context) {
      maybe_die(o, rank, context.step());
      return train::gan_step(model, toy_gan::Batch{batch.input.to(device), batch.real.to(device)}, context);
    });
    final_state = chord::io::state_dict(*model);
  } else {
    torch::manual_seed(3 + static_cast<uint64_t>(rank));
    chord::FlowModelOptions<chord::systems::F5TTS> model_options(f5::preset_options(f5::Preset::tiny, kVocab));
    model_options.backbone.dropout(0.0);  // dropout would draw per process
    chord::FlowModel<chord::systems::F5TTS> model(model_options);
    {
      torch::NoGradGuard no_grad;  // away from the zero initialisation, so every parameter gets a gradient
      for (auto& p : model->parameters()) p.normal_(0.0, 0.05);
    }
    trainer.add_module("model", model.ptr());
    std::shared_ptr<torch::optim::Optimizer> optimizer;
    if (o.optimizer == "sgd") {
      optimizer = std::make_shared<torch::optim::SGD>(model->parameters(), torch::optim::SGDOptions(o.lr).momentum(0.9));
    } else {
      optimizer = std::make_shared<torch::optim::AdamW>(model->parameters(), torch::optim::AdamWOptions(o.lr));
    }
    trainer.add_optimizer("model", optimizer, {}, 1.0);
    auto source = make_source<FlowItems>(o, rank, world, [](const std::vector<int64_t>& ids) { return FlowItems{ids}; });
    result = trainer.fit<FlowItems>(source, [&](const FlowItems& items, train::StepContext& context) {
      maybe_die(o, rank, context.step());
      torch::Tensor total;
      for (auto id : items.ids) {
        auto gen = chord::make_generator(item_seed(id, context.step()), device);
        auto loss = model->loss(flow_item(id).to(device), gen, context.step()).loss;
        total = total.defined() ? total + loss : loss;
      }
      total = total / static_cast<double>(items.ids.size());
      context.backward("model", total);
      return train::Trainer::Scalars{{"loss", total.detach()}};
    });
    final_state = chord::io::state_dict(*model);
    if (group) {  // after a rebuild, DDP's 1 MiB first bucket then 25 MiB ones, in gradient-ready order
      std::cout << "[ddp-worker] gradient buckets of 'model' (bytes, all-reduce order):";
      for (auto bytes : group->bucket_bytes("model")) std::cout << " " << bytes;
      std::cout << "\n";
    }
  }
  if (rank == 0) {
    chord::io::save_safetensors(std::filesystem::path(o.out) / "params.safetensors", final_state);
    std::cout << "[ddp-worker] " << train::to_string(result.reason) << " at step " << result.step << " with " << world
              << " process(es)\n";
  }
  return result.reason == train::StopReason::completed ? 0 : 1;
}

int compare(const std::string& a, const std::string& b, double tolerance) {
  const auto left = chord::io::load_safetensors(a), right = chord::io::load_safetensors(b);
  CHORD_CHECK(left.size() == right.size(), "different tensor counts: ", left.size(), " vs ", right.size());
  double worst = 0.0;
  std::string worst_name;
  for (const auto& [name, tensor] : left) {
    auto found = right.find(name);
    CHORD_CHECK(found != right.end(), "'", name, "' missing from ", b);
    const double diff = (tensor.to(torch::kFloat64) - found->second.to(torch::kFloat64)).abs().max().item<double>();
    if (diff > worst) {
      worst = diff;
      worst_name = name;
    }
  }
  std::cout << "max |difference| " << worst << (worst_name.empty() ? "" : " (" + worst_name + ")") << " over " << left.size()
            << " tensors; tolerance " << tolerance << "\n";
  return worst <= tolerance ? 0 : 1;
}

/// Which c10d backends this build compiled in. Gloo must be (the CPU path and every CTest here); NCCL
/// must be whenever the LibTorch build has it (USE_C10D_NCCL), since a missing <nccl.h> would otherwise
/// drop the GPU path silently.
int backends() {
  std::cout << "gloo: " << (CHORD_HAS_GLOO ? "compiled" : "MISSING") << "\n";
#if defined(USE_C10D_NCCL)
  std::cout << "nccl: " << (CHORD_HAS_NCCL ? "compiled" : "MISSING: LibTorch has NCCL but <nccl.h> was not on the include path") << "\n";
  const bool nccl_ok = CHORD_HAS_NCCL;
#else
  std::cout << "nccl: not in this LibTorch build\n";
  const bool nccl_ok = true;
#endif
  return CHORD_HAS_GLOO && nccl_ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"chord multi-process training test worker"};
  app.require_subcommand(1);
  Options o;
  auto* train_command = app.add_subcommand("train", "train and write DIR/params.safetensors on rank 0");
  train_command->add_option("--model", o.model)->check(CLI::IsMember({"flow", "gan"}));
  train_command->add_option("--batch", o.batch);
  train_command->add_option("--steps", o.steps);
  train_command->add_option("--accumulation", o.accumulation);
  train_command->add_option("--items", o.items);
  train_command->add_option("--checkpoint-every", o.checkpoint_every);
  train_command->add_option("--lr", o.lr);
  train_command->add_option("--optimizer", o.optimizer)->check(CLI::IsMember({"adamw", "sgd"}));
  train_command->add_option("--out", o.out)->required();
  train_command->add_option("--die-at-step", o.die_at_step);
  train_command->add_option("--die-rank", o.die_rank);
  train_command->add_flag("--per-rank-source", o.per_rank_source);
  train_command->add_option("--device", o.device);
  std::string a, b;
  double tolerance = 1e-6;
  auto* compare_command = app.add_subcommand("compare", "max |difference| of two parameter files; exit 1 above the tolerance");
  compare_command->add_option("a", a)->required();
  compare_command->add_option("b", b)->required();
  compare_command->add_option("--tolerance", tolerance);
  auto* backends_command = app.add_subcommand("backends", "which c10d backends were compiled in; exit 1 when one is missing");
  CLI11_PARSE(app, argc, argv);
  try {
    if (*backends_command) return backends();
    return *compare_command ? compare(a, b, tolerance) : train_run(o);
  } catch (const std::exception& error) {
    std::cerr << "chord-test-ddp-worker: " << error.what() << "\n";
    return 1;
  }
}
