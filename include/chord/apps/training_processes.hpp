#pragma once
/// @file
/// What every trainer program does to run unchanged as one process of a `torchrun` job: join the
/// group before any long work (a bare `cuda` device becomes `cuda:LOCAL_RANK`), let rank 0 alone
/// prepare the run folder and write exports, give every rank its own log file, and make the trainer
/// data parallel with the configuration as the fingerprint the ranks must agree on. Launched without
/// torchrun, a program is the single process it always was.

#include "chord/distributed.hpp"
#include "chord/io/console.hpp"
#include "chord/train/observers.hpp"
#include "chord/train/trainer.hpp"

#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

namespace chord::apps {

class TrainingProcesses {
 public:
  /// Resolves `device_flag` (cpu, cuda, cuda:N, auto), joins the job if a launcher set the environment
  /// and says where this process stands.
  TrainingProcesses(const std::string& device_flag, const std::string& program) : program_(program) {
    device_ = resolve_device(device_flag);
    if (const auto env = distributed::launch_environment()) {
      device_ = distributed::process_device(device_, *env);
      group_ = std::make_shared<distributed::ProcessGroup>(*env, device_);
    }
    std::ostringstream line;  // one write: the ranks share the terminal
    line << "[" << program << "] device: " << device_.str();
    if (device_.is_cpu()) line << " (" << at::get_num_threads() << " threads)";
    if (group_) line << ", rank " << group_->rank() << " of " << group_->world_size() << " (" << group_->backend_name() << ")";
    line << "\n";
    std::cerr << line.str() << std::flush;
  }

  c10::Device device() const noexcept { return device_; }
  int rank() const noexcept { return group_ ? group_->rank() : 0; }
  int world_size() const noexcept { return group_ ? group_->world_size() : 1; }
  bool is_main() const noexcept { return rank() == 0; }
  const std::shared_ptr<distributed::ProcessGroup>& group() const noexcept { return group_; }

  /// Every rank waits here (after rank 0 prepared the run folder, say).
  void barrier() const {
    if (group_) group_->barrier();
  }

  /// The trainer runs data parallel over the group; `fingerprint` (the configuration) must match on
  /// every rank.
  void configure(train::TrainerOptions& options, std::string fingerprint) const {
    options.device = device_;
    options.parallel = group_;
    options.fingerprint = std::move(fingerprint);
  }

  /// The observers of a run folder: the console, `log.jsonl` and TensorBoard on rank 0; in a
  /// multi-process run also `logs/rank<N>.log` on every rank.
  void add_observers(train::Trainer& trainer, const std::filesystem::path& out, const std::string& label, bool append) const {
    if (is_main()) {
      trainer.add_observer(std::make_shared<train::ConsoleProgress>(std::cerr, label));
      trainer.add_observer(std::make_shared<train::JsonlLogger>(out / "log.jsonl", append));
      trainer.add_observer(std::make_shared<train::TensorBoardWriter>(out / "tensorboard"));
    }
    if (group_) trainer.add_observer(std::make_shared<train::RankLog>(out / "logs", rank(), label));
  }

 private:
  std::string program_;
  c10::Device device_ = c10::kCPU;
  std::shared_ptr<distributed::ProcessGroup> group_;
};

}  // namespace chord::apps
