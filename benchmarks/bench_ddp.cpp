// Data-parallel F5-TTS training steps through chord's c10d layer, for scaling figures and the side by
// side comparison with PyTorch's Python DDP (benchmarks/peers/ddp_f5tts_peer.py, compare_ddp.py):
//
//   OMP_NUM_THREADS=1 torchrun --standalone --nproc-per-node=2 --no-python build/benchmarks/chord-bench-ddp
//       --preset tiny --batch 2 --steps 10 --warmup 2 --json /tmp/chord_ddp.json
//
// The same configuration as the peer: vocab 2545, mel 100, text length 40, 256 frames per item, random
// weights N(0, 0.02), AdamW lr 1e-4 (--fused-adamw: ATen's fused kernel), fp32 on the CPU, one thread
// per process, each rank its own fixed batch. After the warm-up, --steps timed steps measure the
// forward (the loss), the backward (with the reducer's bucketed all-reduce and its final wait, as DDP)
// and the optimizer (step + zero_grad); then --steps steps without gradient synchronisation (DDP's
// no_sync) give the backward alone, so backward - backward_no_sync is the communication the backward
// did not hide. Rank 0 writes the JSON, with the gradient buckets' sizes.
#include <chord/distributed.hpp>
#include <chord/systems/f5tts.hpp>
#include <chord/train/fused_adamw.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/optim/adamw.h>

#include <chrono>
#include <fstream>
#include <iostream>

namespace {

namespace f5 = chord::systems::f5tts;
using Clock = std::chrono::steady_clock;

double milliseconds_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

struct Phases {
  double forward = 0, backward = 0, optimizer = 0, total = 0;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"chord data-parallel F5-TTS training benchmark (launch with torchrun --no-python)"};
  std::string preset = "tiny", json_path;
  int64_t batch = 2, steps = 10, warmup = 2;
  bool fused_adamw = false;
  app.add_option("--preset", preset)->check(CLI::IsMember({"tiny", "v1_small"}));
  app.add_option("--batch", batch, "items per process");
  app.add_option("--steps", steps);
  app.add_option("--warmup", warmup);
  app.add_flag("--fused-adamw", fused_adamw, "AdamW through ATen's fused kernel (the peer: fused=True)");
  app.add_option("--json", json_path, "rank 0 writes the result here (always printed too)");
  CLI11_PARSE(app, argc, argv);
  try {
    torch::set_num_threads(1);
    auto group = chord::distributed::join_from_environment(c10::kCPU);
    const int rank = group ? group->rank() : 0, world = group ? group->world_size() : 1;

    constexpr int64_t kVocab = 2545, kText = 40, kFrames = 256;
    torch::manual_seed(0);
    chord::FlowModelOptions<chord::systems::F5TTS> options(
        f5::preset_options(preset == "tiny" ? f5::Preset::tiny : f5::Preset::v1_small, kVocab));
    chord::FlowModel<chord::systems::F5TTS> model(options);
    {
      torch::NoGradGuard no_grad;
      for (auto& p : model->parameters()) p.normal_(0.0, 0.02);
    }
    model->train();
    std::vector<torch::Tensor> parameters = model->parameters();
    std::unique_ptr<torch::optim::Optimizer> optimizer;
    if (fused_adamw)
      optimizer = std::make_unique<chord::train::FusedAdamW>(parameters, torch::optim::AdamWOptions(1e-4));
    else
      optimizer = std::make_unique<torch::optim::AdamW>(parameters, torch::optim::AdamWOptions(1e-4));
    if (group) {
      group->broadcast_from_main(parameters);
      group->add_parameters("model", parameters, /*find_unused_parameters=*/false);
    }
    auto gen = chord::make_generator(static_cast<uint64_t>(rank));
    const chord::FlowModel<chord::systems::F5TTS>::Batch data{torch::randn({batch, kFrames, 100}, gen),
                                                              torch::full({batch}, kFrames, torch::kLong),
                                                              torch::randint(0, kVocab, {batch, kText}, gen, torch::kLong)};

    auto run = [&](int64_t count, bool synchronise) {
      Phases sum;
      for (int64_t i = 0; i < count; ++i) {
        const auto start = Clock::now();
        auto loss = model->loss(data, gen).loss;
        const double forward = milliseconds_since(start);
        const auto backward_start = Clock::now();
        if (group && synchronise) group->prepare_synchronised_backward("model", loss);
        loss.backward();
        const double backward = milliseconds_since(backward_start);
        const auto optimizer_start = Clock::now();
        optimizer->step();
        optimizer->zero_grad();
        sum.forward += forward;
        sum.backward += backward;
        sum.optimizer += milliseconds_since(optimizer_start);
        sum.total += milliseconds_since(start);
      }
      return sum;
    };
    run(warmup, true);
    if (group) group->barrier();
    const auto timed = run(steps, true);
    if (group) group->barrier();
    const auto unsynchronised = run(steps, false);

    const double n = static_cast<double>(steps);
    nlohmann::json result = {{"system", "chord"},
                             {"preset", preset},
                             {"world", world},
                             {"batch_per_rank", batch},
                             {"steps", steps},
                             {"fused_adamw", fused_adamw},
                             {"ms_per_step", timed.total / n},
                             {"forward_ms", timed.forward / n},
                             {"backward_ms", timed.backward / n},
                             {"optimizer_ms", timed.optimizer / n},
                             {"backward_ms_no_sync", unsynchronised.backward / n},
                             {"bucket_bytes", group ? group->bucket_bytes("model") : std::vector<int64_t>{}},
                             {"items_per_second", 1000.0 * static_cast<double>(batch * world) / (timed.total / n)}};
    if (rank == 0) {
      std::cout << result.dump() << "\n";
      if (!json_path.empty()) std::ofstream(json_path) << result.dump(2) << "\n";
    }
    return 0;
  } catch (const std::exception& error) {
    std::cerr << "chord-bench-ddp: " << error.what() << "\n";
    return 1;
  }
}
