#pragma once
/// @file
/// One training loop for every chord system: a flow model is the one-optimiser case, an adversarial
/// system registers one optimiser per member (generator, each discriminator), each with its own
/// schedule, clipping and checkpoint prefix.
///
/// The loop owns what must be identical across systems: gradient accumulation, clipping, the
/// skip-on-NaN rule, EMA updates, mixed precision, logging, atomic checkpoints with exact resume
/// (parameters, optimiser, EMA, counters and every RNG state), and SIGINT/SIGTERM handling.
///
/// With `TrainerOptions::parallel` (a process group from chord/distributed.hpp) the same loop is data
/// parallel: batches are sharded by rank, every optimiser's gradients are averaged over the processes
/// during its backward on the update's last micro-batch, scalars are averaged before they are logged,
/// the ranks agree on skipping an update and on stopping, and rank 0 alone writes checkpoints and
/// drives the observers (except those that log on every rank).

#include "chord/core/autocast.hpp"
#include "chord/core/device.hpp"
#include "chord/core/error.hpp"
#include "chord/core/random.hpp"
#include "chord/io/checkpoint.hpp"
#include "chord/io/state_dict.hpp"
#include "chord/train/ema.hpp"
#include "chord/train/fused_adamw.hpp"
#include "chord/train/grad_scaler.hpp"
#include "chord/train/observers.hpp"
#include "chord/train/parallel.hpp"
#include "chord/train/schedulers.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/nn/module.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/optimizer.h>
#include <torch/types.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>
#include <string>
#include <vector>

namespace chord::train {

struct TrainerOptions {
  int64_t max_steps = 1000;              ///< optimiser updates in total (a resumed run continues to this)
  int64_t grad_accumulation = 1;         ///< micro-batches per update
  int64_t log_every = 10;                ///< updates between logged scalars
  int64_t checkpoint_every = 0;          ///< updates between checkpoints; 0 = only at the end or on a stop
  int keep_checkpoints = 3;
  std::filesystem::path checkpoint_dir;  ///< empty = no checkpoints
  std::string checkpoint_prefix = "checkpoint";
  bool resume = true;                    ///< continue from the newest readable checkpoint if there is one
  int64_t max_consecutive_nonfinite = 5; ///< stop after this many skipped updates in a row
  uint64_t seed = 0;                     ///< seeds the step generator and the global CPU generator (dropout)
  std::optional<c10::ScalarType> autocast_dtype;  ///< kBFloat16 / kHalf around forward and loss
  /// Where training runs: registered modules (and so their optimisers' state and EMAs) and every batch
  /// are placed here, the step generator lives here, checkpoints load here.
  c10::Device device = c10::kCPU;
  bool handle_signals = true;            ///< SIGINT/SIGTERM finish the update, checkpoint and return
  /// Loss scaling shared by every optimiser (fp16 training); nullopt = off.
  std::optional<GradScalerOptions> grad_scaler;
  /// Log every optimiser's total gradient norm (before clipping), also where it does not clip, as
  /// Bert-VITS2 logs `grad_norm_d` / `grad_norm_g`. A non-finite norm skips that optimiser's update.
  bool log_grad_norms = false;
  bool prefetch = true;                  ///< load the next batch on a second thread
  /// Every torch::optim::AdamW given to add_optimizer runs as FusedAdamW (one pass over each
  /// parameter's memory; agrees with the loop to rounding, not bit for bit).
  bool fused_adamw = false;
  /// The process group of a multi-process run (chord/distributed.hpp); null: this process alone.
  std::shared_ptr<DataParallelism> parallel;
  /// Multi-process runs: parameters a loss does not reach are reduced as zeros instead of being waited
  /// for (adversarial systems, whose steps read only part of a model). Costs a graph walk per update.
  bool find_unused_parameters = false;
  /// Compared across ranks at the start (e.g. the configuration as JSON): a rank launched with other
  /// options fails at once instead of training something else.
  std::string fingerprint;
};

enum class StopReason { completed, interrupted, nonfinite };

inline const char* to_string(StopReason reason) {
  switch (reason) {
    case StopReason::completed: return "completed";
    case StopReason::interrupted: return "interrupted";
    case StopReason::nonfinite: return "non-finite losses";
  }
  return "?";
}

struct TrainResult {
  int64_t step = 0;
  StopReason reason = StopReason::completed;
  std::optional<std::filesystem::path> checkpoint;
  int64_t nonfinite_updates = 0;  ///< skipped updates over the whole run (resumes included)
};

/// Batches by (epoch, index). `load` must be a pure function of its arguments (no hidden RNG), which
/// is what makes resume exact and prefetching safe.
template <class Batch>
struct BatchSource {
  std::function<size_t(int64_t epoch)> count;
  std::function<Batch(int64_t epoch, size_t index)> load;
  /// The source already yields this rank's batches (a sampler that takes rank and world size, like
  /// DistributedBucketSampler). Otherwise a multi-process trainer shards it with shard_batches().
  bool per_rank = false;
  /// What the batch at (epoch, index) holds, for messages (e.g. its items' files); optional.
  std::function<std::string(int64_t epoch, size_t index)> describe;
};

/// Rank `rank`'s share of `source` in a job of `world_size` processes, as Hugging Face accelerate
/// shards F5-TTS's batch sampler (a `drop_last` sampler): rank r takes global batches r, r + W, r + 2W,
/// …, and the last n mod W batches of the epoch are left out, so every rank has floor(n / W).
template <class Batch>
BatchSource<Batch> shard_batches(const BatchSource<Batch>& source, int rank, int world_size) {
  CHORD_CHECK(world_size >= 1 && rank >= 0 && rank < world_size, "shard_batches: rank ", rank, " of ", world_size);
  const auto world = static_cast<size_t>(world_size), r = static_cast<size_t>(rank);
  BatchSource<Batch> shard{[count = source.count, world](int64_t epoch) { return count(epoch) / world; },
                           [load = source.load, r, world](int64_t epoch, size_t index) { return load(epoch, index * world + r); },
                           true};
  if (source.describe) {
    shard.describe = [describe = source.describe, r, world](int64_t epoch, size_t index) { return describe(epoch, index * world + r); };
  }
  return shard;
}

/// Batches from a sampler (anything with `batches(epoch) -> std::vector<std::vector<int64_t>>` and
/// `size()`) and a loader of index lists. Each epoch's order is computed once and reused.
/// `describe_items` (optional) names a batch's items in messages, e.g. their audio files.
template <class Sampler, class Load>
auto sampled_batches(std::shared_ptr<const Sampler> sampler, Load load,
                     std::function<std::string(const std::vector<int64_t>&)> describe_items = {})
    -> BatchSource<std::decay_t<decltype(load(std::declval<const std::vector<int64_t>&>()))>> {
  using Batch = std::decay_t<decltype(load(std::declval<const std::vector<int64_t>&>()))>;
  struct EpochOrder {
    std::mutex mutex;
    int64_t epoch = -1;
    std::vector<std::vector<int64_t>> batches;
  };
  auto order = std::make_shared<EpochOrder>();
  auto indices_of = [sampler, order](int64_t epoch, size_t index) {
    std::lock_guard<std::mutex> lock(order->mutex);
    if (order->epoch != epoch) {
      order->batches = sampler->batches(epoch);
      order->epoch = epoch;
    }
    return order->batches.at(index);
  };
  BatchSource<Batch> source{[sampler](int64_t) { return sampler->size(); },
                            [indices_of, load](int64_t epoch, size_t index) { return load(indices_of(epoch, index)); }};
  if (describe_items) {
    source.describe = [indices_of, describe_items](int64_t epoch, size_t index) {
      // The loader thread may have moved the cached order on: a past epoch's order is recomputed.
      return describe_items(indices_of(epoch, index));
    };
  }
  return source;
}

namespace detail {
/// The optimiser slots a trainer registered with a process group, removed again when the trainer goes
/// (an experiment trains its arms one after another in the same processes, under the same slot names).
class ParallelSlots {
 public:
  ParallelSlots() = default;
  ParallelSlots(ParallelSlots&& other) noexcept : parallel_(std::move(other.parallel_)), names_(std::exchange(other.names_, {})) {}
  ParallelSlots& operator=(ParallelSlots&& other) noexcept {
    if (this != &other) {
      release();
      parallel_ = std::move(other.parallel_);
      names_ = std::exchange(other.names_, {});
    }
    return *this;
  }
  ParallelSlots(const ParallelSlots&) = delete;
  ParallelSlots& operator=(const ParallelSlots&) = delete;
  ~ParallelSlots() { release(); }

  void add(std::shared_ptr<DataParallelism> parallel, std::string name) {
    parallel_ = std::move(parallel);
    names_.push_back(std::move(name));
  }

 private:
  void release() noexcept {
    if (!parallel_) return;
    for (const auto& name : names_) {
      try {
        parallel_->remove_parameters(name);
      } catch (...) {  // a destructor: the group may already be broken; nothing else to undo
      }
    }
    names_.clear();
  }

  std::shared_ptr<DataParallelism> parallel_;
  std::vector<std::string> names_;
};

inline std::atomic<int>& pending_signal() {
  static std::atomic<int> signal{0};
  return signal;
}

/// Routes SIGINT/SIGTERM to a flag while alive. The first of either restores the default action of
/// both, so a second signal — Ctrl-C after a scheduler's SIGTERM, or the other way round — terminates
/// at once instead of waiting for the checkpoint (which is written atomically, so nothing is lost but it).
class SignalScope {
 public:
  explicit SignalScope(bool enabled) : enabled_(enabled) {
    pending_signal().store(0);
    if (!enabled_) return;
    struct sigaction action {};
    action.sa_handler = [](int signal) {
      pending_signal().store(signal);
      std::signal(SIGINT, SIG_DFL);  // async-signal-safe (POSIX)
      std::signal(SIGTERM, SIG_DFL);
    };
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &action, &previous_int_);
    sigaction(SIGTERM, &action, &previous_term_);
  }
  ~SignalScope() {
    if (!enabled_) return;
    sigaction(SIGINT, &previous_int_, nullptr);
    sigaction(SIGTERM, &previous_term_, nullptr);
  }
  SignalScope(const SignalScope&) = delete;
  SignalScope& operator=(const SignalScope&) = delete;

 private:
  bool enabled_;
  struct sigaction previous_int_ {};
  struct sigaction previous_term_ {};
};
}  // namespace detail

namespace detail {
/// The data cursor of a run: `(epoch, index)` is the next batch to consume. A prefetch loads that
/// position on a second thread (pinning it for a CUDA device); it never moves the cursor, so
/// checkpoints stay exact. Batches are copied to the device without blocking.
template <class Batch>
class BatchCursor {
 public:
  BatchCursor(const BatchSource<Batch>& source, c10::Device device, bool prefetch)
      : source_(&source), device_(device), prefetch_(prefetch) {}
  BatchCursor(const BatchCursor&) = delete;
  BatchCursor& operator=(const BatchCursor&) = delete;
  ~BatchCursor() { wait(); }

  /// The batch at the cursor, on the device; advances the cursor and, when `another_follows`, starts
  /// loading the next one.
  Batch take(int64_t& epoch, size_t& index, bool another_follows) {
    const Position p = normalize({epoch, index});
    Batch batch = pending_position_ == p ? pending_.get() : load(p.first, p.second);
    wait();
    pending_position_ = {-1, 0};
    epoch = p.first;
    index = p.second + 1;
    if (prefetch_ && another_follows) {
      const Position q = normalize({epoch, index});
      pending_ = std::async(std::launch::async, [this, q] { return load(q.first, q.second); });
      pending_position_ = q;
    }
    if constexpr (DeviceMovable<Batch>) batch = batch.to(device_, /*non_blocking=*/device_.is_cuda());
    return batch;
  }

  void wait() {
    if (pending_.valid()) pending_.wait();
  }

 private:
  using Position = std::pair<int64_t, size_t>;

  Position normalize(Position p) const {
    for (int attempts = 0; p.second >= source_->count(p.first); ++attempts) {
      CHORD_CHECK(attempts < 2, "Trainer::fit: epoch ", p.first, " has no batches");
      ++p.first;
      p.second = 0;
    }
    return p;
  }

  Batch load(int64_t epoch, size_t index) const {
    Batch batch = source_->load(epoch, index);
    if constexpr (requires { { batch.pin_memory() } -> std::same_as<Batch>; }) {
      if (device_.is_cuda()) batch = batch.pin_memory();
    }
    return batch;
  }

  const BatchSource<Batch>* source_;
  c10::Device device_;
  bool prefetch_;
  std::future<Batch> pending_;
  Position pending_position_{-1, 0};  // epoch -1: nothing prefetched
};
}  // namespace detail

class Trainer;

/// What a step function sees: the generator for its random draws and `backward()`, which routes a
/// loss to one optimiser.
class StepContext {
 public:
  /// The generator for every random draw of the step (noise, times, masks, dropout flags).
  torch::Generator& generator() noexcept { return *generator_; }
  c10::Device device() const noexcept { return device_; }
  /// Updates completed before this one.
  int64_t step() const noexcept { return step_; }
  int64_t epoch() const noexcept { return epoch_; }
  /// Micro-batch index within the update, in [0, grad_accumulation).
  int64_t micro_batch() const noexcept { return micro_; }

  /// Backpropagates `loss` (scaled by 1/grad_accumulation) into the parameters of optimiser
  /// `optimizer_name`; on the update's last micro-batch that optimiser clips and steps. A
  /// non-finite loss is not propagated: the optimiser skips this update. Returns false then.
  inline bool backward(const std::string& optimizer_name, const torch::Tensor& loss, bool retain_graph = false);

 private:
  friend class Trainer;
  Trainer* trainer_ = nullptr;
  torch::Generator* generator_ = nullptr;
  c10::Device device_ = c10::kCPU;
  int64_t step_ = 0, epoch_ = 0, micro_ = 0;
};

/// The training loop. Register modules, optimisers, EMAs and observers, then call fit().
class Trainer {
 public:
  using Scalars = std::map<std::string, torch::Tensor>;

  explicit Trainer(TrainerOptions options)
      : options_(std::move(options)), generator_(make_generator(options_.seed, options_.device)) {
    if (options_.grad_scaler) scaler_.emplace(*options_.grad_scaler);
    CHORD_CHECK(options_.max_steps >= 0, "TrainerOptions.max_steps must be >= 0");
    CHORD_CHECK(options_.grad_accumulation >= 1, "TrainerOptions.grad_accumulation must be >= 1");
    CHORD_CHECK(options_.log_every >= 1, "TrainerOptions.log_every must be >= 1");
    CHORD_CHECK(options_.max_consecutive_nonfinite >= 1, "TrainerOptions.max_consecutive_nonfinite must be >= 1");
    if (!options_.checkpoint_dir.empty()) {
      checkpoints_.emplace(options_.checkpoint_dir, options_.checkpoint_prefix, options_.keep_checkpoints);
    }
  }

  const TrainerOptions& options() const noexcept { return options_; }
  /// This process's rank in a multi-process run (0 when alone).
  int rank() const noexcept { return options_.parallel ? options_.parallel->rank() : 0; }
  int world_size() const noexcept { return options_.parallel ? options_.parallel->world_size() : 1; }
  /// Rank 0: the process that writes checkpoints, exports and pictures.
  bool is_main_process() const noexcept { return rank() == 0; }
  int64_t step() const noexcept { return step_; }
  int64_t epoch() const noexcept { return epoch_; }
  torch::Generator& generator() noexcept { return generator_; }

  /// Checkpoints `module`'s parameters and buffers under `name`, except those whose names start with one
  /// of `pretrained_prefixes`: frozen weights the program loads from their own file at every start (a
  /// WavLM encoder, about 380 MB). Checkpoints hold a digest of them instead, and resuming with other
  /// weights there is refused. (An EMA of the module still averages and saves them.)
  void add_module(const std::string& name, std::shared_ptr<torch::nn::Module> module,
                  std::vector<std::string> pretrained_prefixes = {}) {
    CHORD_CHECK(module != nullptr, "Trainer::add_module('", name, "'): null module");
    io::check_archive_key(io::trainer_module_key(name));
    CHORD_CHECK(!modules_.count(name), "Trainer::add_module: '", name, "' is already registered");
    for (const auto& item : module->named_parameters()) {
      CHORD_CHECK(!(starts_with_any(item.key(), pretrained_prefixes) && item.value().requires_grad()), "Trainer::add_module('",
                  name, "'): '", item.key(), "' is trainable; only frozen weights can be left out of checkpoints");
    }
    module->to(options_.device);  // in place: optimisers built over its parameters keep them
    if (!pretrained_prefixes.empty()) pretrained_prefixes_.emplace(name, std::move(pretrained_prefixes));
    modules_.emplace(name, std::move(module));
  }

  /// An independently stepped optimiser, named for checkpoints and StepContext::backward
  /// (e.g. "model"; or "G", "D", "DUR", "WD" for an adversarial system).
  /// @param schedule sets the learning rate before every step (empty: the optimiser's own rate).
  /// @param max_grad_norm clip the total gradient norm of its parameters (0: no clipping).
  void add_optimizer(const std::string& name, std::shared_ptr<torch::optim::Optimizer> optimizer,
                     LrSchedule schedule = {}, double max_grad_norm = 0.0) {
    CHORD_CHECK(optimizer != nullptr, "Trainer::add_optimizer('", name, "'): null optimizer");
    io::check_archive_key("optimizer_" + name);
    CHORD_CHECK(!slots_.count(name), "Trainer::add_optimizer: '", name, "' is already registered");
    Slot slot;
    slot.optimizer = options_.fused_adamw ? fused_if_adamw(std::move(optimizer)) : std::move(optimizer);
    slot.schedule = std::move(schedule);
    slot.max_grad_norm = max_grad_norm;
    for (const auto& group : slot.optimizer->param_groups()) {
      for (const auto& p : group.params()) slot.parameters.push_back(p);
    }
    slots_.emplace(name, std::move(slot));
  }

  /// Keeps an EMA of `model`, updated after every successful update; returns it for sampling/export.
  ExponentialMovingAverage& add_ema(const std::string& name, std::shared_ptr<torch::nn::Module> model,
                                    EmaOptions ema_options = {}) {
    CHORD_CHECK(!emas_.count(name), "Trainer::add_ema: '", name, "' is already registered");
    io::check_archive_key(io::trainer_ema_key(name));
    auto& entry = emas_[name];
    entry.model = std::move(model);
    entry.ema = std::make_unique<ExponentialMovingAverage>(*entry.model, ema_options);
    return *entry.ema;
  }

  ExponentialMovingAverage& ema(const std::string& name) {
    auto found = emas_.find(name);
    CHORD_CHECK(found != emas_.end(), "Trainer: no EMA named '", name, "'");
    return *found->second.ema;
  }

  void add_observer(std::shared_ptr<TrainingObserver> observer) { observers_.push_back(std::move(observer)); }

  /// Runs after every update (validation, samples, custom logging via report()).
  void set_after_update(std::function<void(int64_t step)> hook) { after_update_ = std::move(hook); }

  /// Forwards scalars to the observers (validation metrics and the like).
  void report(int64_t step, const std::map<std::string, double>& scalars) {
    notify([&](TrainingObserver& o) { o.on_scalars(step, scalars); });
  }
  void message(MessageLevel level, const std::string& text) {
    notify([&](TrainingObserver& o) { o.on_message(level, text); });
  }
  /// Forwards a picture or sound (an evaluation's) to the observers (TensorBoard).
  void media(const MediaReport& report) {
    notify([&](TrainingObserver& o) { o.on_media(report); });
  }

  /// Restores the newest readable checkpoint (if any). Called by fit() when `options.resume`.
  bool resume() {
    if (!checkpoints_) return false;
    if (is_main_process()) {
      if (const auto stale = checkpoints_->remove_stale_temporaries().describe(); !stale.empty()) message(MessageLevel::info, stale);
    }
    auto resumed = checkpoints_->load_latest([this](torch::serialize::InputArchive& archive) { load(archive); }, options_.device);
    for (const auto& skipped : resumed.skipped) message(MessageLevel::warning, "skipped checkpoint " + skipped);
    if (!resumed.loaded) return false;
    message(MessageLevel::info, "resumed from " + resumed.loaded->path.string() + " at step " + std::to_string(step_));
    return true;
  }

  /// Writes a checkpoint of the current state now (rank 0 writes; every rank waits until the file is
  /// complete, so a launcher that stops the job after this finds it whole). The path on rank 0.
  std::optional<std::filesystem::path> save_checkpoint() {
    if (!checkpoints_) return std::nullopt;
    if (options_.parallel) options_.parallel->barrier();
    std::optional<std::filesystem::path> path;
    if (is_main_process()) {
      path = checkpoints_->save(step_, [this](torch::serialize::OutputArchive& archive) { save(archive); });
      last_checkpoint_ = path;
    }
    if (options_.parallel) options_.parallel->barrier();
    return path;
  }

  /// Trains until `options.max_steps` updates are done, a signal arrives, or too many updates in a
  /// row had non-finite losses. The step function computes the losses of one micro-batch, calls
  /// `context.backward(optimizer_name, loss)` for each optimiser, and returns scalars to log.
  template <class Batch>
  TrainResult fit(const BatchSource<Batch>& source,
                  const std::function<Scalars(const Batch&, StepContext&)>& step_function) {
    CHORD_CHECK(source.count && source.load, "Trainer::fit: the batch source needs count and load");
    CHORD_CHECK(!slots_.empty(), "Trainer::fit: no optimizer registered");
    detail::SignalScope signals(options_.handle_signals);
    const bool shard = world_size() > 1 && !source.per_rank;
    const BatchSource<Batch> batches = shard ? shard_batches(source, rank(), world_size()) : source;
    describe_batch_ = batches.describe;
    TrainResult result;
    explaining_failures([&] {
      begin_run(batches.count);
      detail::BatchCursor<Batch> cursor(batches, options_.device, options_.prefetch);
      const RunClock clock{std::chrono::steady_clock::now(), step_};
      while (step_ < options_.max_steps) {
        auto scalars = run_update(cursor, step_function);
        finish_update(scalars);
        report_update(scalars, clock);
        if (const auto reason = stop_reason()) {
          result.reason = *reason;
          break;
        }
        if (options_.checkpoint_every > 0 && step_ % options_.checkpoint_every == 0 && step_ < options_.max_steps) {
          save_checkpoint();
        }
      }
      cursor.wait();
      result.step = step_;
      result.checkpoint = save_checkpoint();
    });
    result.nonfinite_updates = nonfinite_total_;
    notify([&](TrainingObserver& o) { o.on_end(step_); });
    return result;
  }

 private:
  friend class StepContext;

  /// When this run (or resume) started, for the steps-per-second figure.
  struct RunClock {
    std::chrono::steady_clock::time_point start;
    int64_t start_step = 0;
  };

  /// Calls `f` for the observers this rank drives: all of them on rank 0, those that log on every
  /// rank elsewhere.
  template <class F>
  void notify(F&& f) {
    for (auto& o : observers_) {
      if (is_main_process() || o->on_every_rank()) f(*o);
    }
  }

  /// Runs `body`; in a multi-process run a failure (typically a collective whose peer died) is rethrown
  /// with what the group knows about its cause.
  template <class Body>
  void explaining_failures(Body&& body) {
    try {
      body();
    } catch (const Error&) {
      throw;
    } catch (const std::exception& error) {
      if (!options_.parallel) throw;
      const auto* torch_error = dynamic_cast<const c10::Error*>(&error);
      throw Error(options_.parallel->explain_failure(torch_error ? torch_error->what_without_backtrace() : error.what()));
    }
  }

  /// Resumes, or seeds a fresh run; in a multi-process run also checks that the ranks agree, makes
  /// rank 0's parameters everyone's, sets up the gradient reducers and gives each rank its own random
  /// streams. Then tells the observers.
  void begin_run(const std::function<size_t(int64_t)>& batches_in_epoch) {
    auto* parallel = options_.parallel.get();
    if (parallel) parallel->require_same("the run's configuration", options_.fingerprint);
    const bool resumed = options_.resume && resume();
    if (!resumed) {
      // A fresh run: seed the device's global generator too, since dropout draws from it.
      auto global = global_generator();
      std::lock_guard<std::mutex> lock(global.mutex());
      global.set_current_seed(options_.seed);
    }
    if (parallel) join_ranks(*parallel, resumed, batches_in_epoch);
    std::string fused;
    for (const auto& [name, slot] : slots_) {
      if (dynamic_cast<const FusedAdamW*>(slot.optimizer.get()) != nullptr) fused += (fused.empty() ? "" : ", ") + name;
    }
    if (!fused.empty()) message(MessageLevel::info, "fused AdamW kernel for optimiser(s): " + fused);
    notify([&](TrainingObserver& o) { o.on_start(step_, options_.max_steps); });
  }

  void join_ranks(DataParallelism& parallel, bool resumed, const std::function<size_t(int64_t)>& batches_in_epoch) {
    parallel.require_same("the step to start from (a resumed run needs every rank to see the same checkpoint folder)",
                          std::to_string(step_));
    std::vector<torch::Tensor> state;
    for (const auto& [name, module] : modules_) {
      for (const auto& p : module->parameters()) state.push_back(p.detach());
      for (const auto& b : module->buffers()) state.push_back(b);
    }
    parallel.broadcast_from_main(state);
    if (!resumed) {
      for (auto& [name, entry] : emas_) {
        std::vector<torch::Tensor> shadow;
        for (const auto& [key, tensor] : entry.ema->shadow()) shadow.push_back(tensor);
        parallel.broadcast_from_main(shadow);
      }
    }
    for (auto& [name, slot] : slots_) {
      if (!slot.synchronised_parameters) {
        parallel.add_parameters(name, slot.trainable(), options_.find_unused_parameters);
        parallel_slots_.add(options_.parallel, name);
        slot.synchronised_parameters = true;
      }
    }
    const size_t mine = batches_in_epoch(epoch_);
    CHORD_CHECK(parallel.all(mine > 0), "a rank has no batches in epoch ", epoch_, " (rank ", parallel.rank(), " has ", mine,
                "): the dataset is too small for ", parallel.world_size(), " processes");
    if (parallel.rank() > 0) {
      // Rank 0 continues the checkpoint's streams exactly; the others draw their own, derived from the
      // seed, the rank and the step, so a resumed run's draws do not depend on the previous world size.
      const uint64_t seed = derived_seed(options_.seed, static_cast<uint64_t>(parallel.rank()), static_cast<uint64_t>(step_));
      for (auto generator : {at::Generator(generator_), global_generator(), at::detail::getDefaultCPUGenerator()}) {
        std::lock_guard<std::mutex> lock(generator.mutex());
        generator.set_current_seed(seed);
      }
    }
  }

  /// splitmix64 over (seed, rank, step).
  static uint64_t derived_seed(uint64_t seed, uint64_t rank, uint64_t step) {
    uint64_t z = seed;
    for (uint64_t part : {rank, step}) {
      z += 0x9E3779B97F4A7C15ull + part;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      z ^= z >> 31;
    }
    return z;
  }

  /// The micro-batches of one update through the step function; returns the sums of their scalars.
  template <class Batch>
  std::map<std::string, double> run_update(detail::BatchCursor<Batch>& cursor,
                                           const std::function<Scalars(const Batch&, StepContext&)>& step_function) {
    for (auto& [name, slot] : slots_) slot.begin_update();
    std::map<std::string, double> sums;
    StepContext context;
    context.trainer_ = this;
    context.generator_ = &generator_;
    context.device_ = options_.device;
    context.step_ = step_;
    taken_.clear();
    for (int64_t micro = 0; micro < options_.grad_accumulation; ++micro) {
      const bool another_follows = micro + 1 < options_.grad_accumulation || step_ + 1 < options_.max_steps;
      const Batch batch = cursor.take(epoch_, batch_index_, another_follows);
      taken_.emplace_back(epoch_, batch_index_ - 1);
      context.micro_ = micro;
      context.epoch_ = epoch_;
      Scalars out;
      {
        std::optional<AutocastGuard> autocast;
        if (options_.autocast_dtype) autocast.emplace(options_.device.type(), *options_.autocast_dtype);
        out = step_function(batch, context);
      }
      for (const auto& [name, value] : out) sums[name] += value.detach().to(torch::kFloat64).template item<double>();
    }
    return sums;
  }

  /// After every optimiser stepped (or skipped): the update's scalars (mean losses, learning rates,
  /// gradient norms, loss scale), the loss scale's update, the step count, the non-finite rule, EMAs.
  void finish_update(std::map<std::string, double>& scalars) {
    for (auto& [name, sum] : scalars) sum /= static_cast<double>(options_.grad_accumulation);
    signal_ = detail::pending_signal().load();
    if (options_.parallel) average_across_ranks(scalars);
    bool nonfinite = false, overflowed = false;
    for (const auto& [name, slot] : slots_) {
      nonfinite = nonfinite || slot.skipped;
      overflowed = overflowed || slot.overflowed;
      const std::string suffix = slots_.size() > 1 ? "/" + name : "";
      if (slot.used) scalars["lr" + suffix] = slot.last_lr;
      if ((slot.max_grad_norm > 0.0 || options_.log_grad_norms) && slot.used) scalars["grad_norm" + suffix] = slot.last_grad_norm;
    }
    if (scaler_) {
      scaler_->update(overflowed);
      scalars["grad_scale"] = scaler_->scale();
    }
    ++step_;
    if (nonfinite) {
      ++nonfinite_total_;
      ++consecutive_nonfinite_;
      message(MessageLevel::warning, "update " + std::to_string(step_) + " skipped: non-finite loss or gradient (" +
                                         std::to_string(consecutive_nonfinite_) + " in a row); " + describe_taken());
    } else {
      consecutive_nonfinite_ = 0;
      for (auto& [name, entry] : emas_) entry.ema->update(*entry.model);
    }
  }

  /// This rank's batches of the update just run, for messages: what the source says they hold, or
  /// their positions.
  std::string describe_taken() const {
    std::string text = taken_.size() > 1 ? "its batches: " : "its batch: ";
    for (size_t i = 0; i < taken_.size(); ++i) {
      const auto [epoch, index] = taken_[i];
      std::string one = "epoch " + std::to_string(epoch) + " batch " + std::to_string(index);
      if (describe_batch_) {
        try {
          one += " (" + describe_batch_(epoch, index) + ")";
        } catch (const std::exception&) {  // a message must not fail the run
        }
      }
      text += (i ? "; " : "") + one;
    }
    if (world_size() > 1) text += " on rank " + std::to_string(rank());
    return text.size() > 600 ? text.substr(0, 600) + "…" : text;
  }

  /// One collective per update: the mean of every scalar over the ranks, and whether any rank received a
  /// signal (all stop at the same update). A 40-bit digest of the scalar names rides along, so ranks
  /// whose step functions returned different scalars fail instead of averaging unrelated numbers.
  void average_across_ranks(std::map<std::string, double>& scalars) {
    std::string names;
    std::vector<double> values;
    for (const auto& [name, value] : scalars) {
      names += name + '\n';
      values.push_back(value);
    }
    const double digest = summable_digest(names)[0];
    values.push_back(digest);
    values.push_back(signal_ != 0 ? 1.0 : 0.0);
    auto summed = torch::tensor(values, torch::kFloat64);
    options_.parallel->sum(summed);
    const auto world = static_cast<double>(world_size());
    const auto* sums = summed.data_ptr<double>();
    CHORD_CHECK(sums[scalars.size()] == digest * world, "the ranks' step functions returned different scalars at update ",
                step_ + 1, " (rank ", rank(), ": ", names, ")");
    size_t i = 0;
    for (auto& [name, value] : scalars) value = sums[i++] / world;
    if (sums[scalars.size() + 1] > 0 && signal_ == 0) signal_ = SIGTERM;  // another rank was signalled
  }

  void report_update(std::map<std::string, double> scalars, const RunClock& clock) {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - clock.start).count();
    StepReport report{step_, options_.max_steps, epoch_, std::move(scalars), elapsed,
                      elapsed > 0 ? static_cast<double>(step_ - clock.start_step) / elapsed : 0.0,
                      step_ % options_.log_every == 0 || step_ == options_.max_steps};
    notify([&](TrainingObserver& o) { o.on_step(report); });
    if (after_update_) after_update_(step_);
  }

  /// Why the run stops after this update, if it does: too many non-finite updates in a row, or a signal.
  std::optional<StopReason> stop_reason() {
    if (consecutive_nonfinite_ >= options_.max_consecutive_nonfinite) {
      message(MessageLevel::error, std::to_string(consecutive_nonfinite_) +
                                       " consecutive updates had non-finite losses or gradients (the last, update " +
                                       std::to_string(step_) + ": " + describe_taken() + "); stopping. "
                                       "The parameters are those of the last good update. Lower the learning "
                                       "rate, enable clipping, or check the data.");
      return StopReason::nonfinite;
    }
    // Alone, a signal that arrived after the update (in an after-update hook, say) stops now; with other
    // ranks it waits for the next update's agreement, so every rank stops at the same step.
    if (!options_.parallel && signal_ == 0) signal_ = detail::pending_signal().load();
    if (signal_ != 0) {
      message(MessageLevel::info, "signal " + std::to_string(signal_) + " received" +
                                      (world_size() > 1 ? " (by this or another rank)" : "") + ": finishing with a checkpoint");
      return StopReason::interrupted;
    }
    return std::nullopt;
  }

  struct Slot {
    std::shared_ptr<torch::optim::Optimizer> optimizer;
    std::vector<torch::Tensor> parameters;
    LrSchedule schedule;
    double max_grad_norm = 0.0;
    bool zeroed = false, used = false, skipped = false, overflowed = false;
    bool synchronised = false;             // this update's gradient all-reduce has run (multi-process)
    bool synchronised_parameters = false;  // registered with the process group
    double last_lr = 0.0, last_grad_norm = 0.0;

    void begin_update() { zeroed = used = skipped = overflowed = synchronised = false; }

    /// The parameters this optimiser trains: the only leaves its backward may write gradients to.
    std::vector<torch::Tensor> trainable() const {
      std::vector<torch::Tensor> out;
      for (const auto& p : parameters) {
        if (p.requires_grad()) out.push_back(p);
      }
      return out;
    }
  };

  /// The 2-norm of all of `parameters`' gradients together (what clip_grad_norm_ measures).
  static double total_grad_norm(const std::vector<torch::Tensor>& parameters) {
    std::vector<torch::Tensor> norms;
    for (const auto& p : parameters) {
      if (p.grad().defined()) norms.push_back(torch::linalg_vector_norm(p.grad().detach(), 2.0, {}, false, torch::kFloat32));
    }
    return norms.empty() ? 0.0 : torch::linalg_vector_norm(torch::stack(norms), 2.0).item<double>();
  }

  bool backward(const std::string& name, const torch::Tensor& loss, bool retain_graph, int64_t micro) {
    auto found = slots_.find(name);
    CHORD_CHECK(found != slots_.end(), "StepContext::backward: no optimizer named '", name, "'");
    auto& slot = found->second;
    TORCH_CHECK(loss.numel() == 1, "StepContext::backward: loss must be a scalar, got ", loss.sizes());
    if (!slot.zeroed) {
      slot.optimizer->zero_grad();
      slot.zeroed = true;
    }
    slot.used = true;
    bool finite = std::isfinite(loss.detach().to(torch::kFloat64).item<double>());
    // Every rank skips, or none: a rank that skipped the backward would leave the others waiting in it.
    if (options_.parallel) finite = options_.parallel->all(finite);
    const bool last_micro_batch = micro == options_.grad_accumulation - 1;
    if (!finite) {
      slot.skipped = true;
    } else {
      // Gradients go to this optimiser's parameters only: a generator's loss must not leave gradients
      // in a discriminator it reads through (they would add to the discriminator's accumulation).
      AutocastGuard no_autocast(options_.device.type(), options_.autocast_dtype.value_or(c10::kBFloat16), false);
      auto scaled = options_.grad_accumulation > 1 ? loss / static_cast<double>(options_.grad_accumulation) : loss;
      if (scaler_) scaled = scaler_->scaled(scaled);
      const auto inputs = slot.trainable();
      if (!inputs.empty()) {
        if (options_.parallel && last_micro_batch) {
          CHORD_CHECK(!slot.synchronised, "StepContext::backward: optimizer '", name, "' took a second backward in one micro-batch; "
                      "in a multi-process run add its losses and call backward once");
          options_.parallel->prepare_synchronised_backward(name, scaled);
          slot.synchronised = true;
        }
        torch::autograd::backward({scaled}, {}, retain_graph, /*create_graph=*/false, inputs);
      }
    }
    if (last_micro_batch) finish(slot);
    return finite;
  }

  void finish(Slot& slot) {
    if (!slot.skipped && scaler_ && !scaler_->unscale(slot.parameters)) {
      // An fp16 overflow: this optimiser skips the update and the scale backs off (not a bad step).
      slot.overflowed = true;
      slot.optimizer->zero_grad();
      return;
    }
    if (!slot.skipped && (slot.max_grad_norm > 0.0 || options_.log_grad_norms)) {
      slot.last_grad_norm = slot.max_grad_norm > 0.0 ? torch::nn::utils::clip_grad_norm_(slot.parameters, slot.max_grad_norm)
                                                      : total_grad_norm(slot.parameters);
      if (!std::isfinite(slot.last_grad_norm)) slot.skipped = true;
    }
    if (slot.skipped) {
      slot.optimizer->zero_grad();
      return;
    }
    if (slot.schedule) set_learning_rate(*slot.optimizer, slot.schedule(step_, epoch_));
    slot.last_lr = slot.optimizer->param_groups().front().options().get_lr();
    slot.optimizer->step();
  }

  static bool starts_with_any(const std::string& key, const std::vector<std::string>& prefixes) {
    return std::any_of(prefixes.begin(), prefixes.end(), [&](const std::string& p) { return key.rfind(p, 0) == 0; });
  }
  static std::string pretrained_digest_key(const std::string& name) { return "pretrained_digest_" + name; }

  /// FNV-1a over the names and bytes of module `name`'s pretrained tensors (once per run: about 0.5 s for
  /// a WavLM encoder).
  int64_t pretrained_digest(const std::string& name, const torch::nn::Module& module) const {
    if (const auto cached = pretrained_digests_.find(name); cached != pretrained_digests_.end()) return cached->second;
    const auto& prefixes = pretrained_prefixes_.at(name);
    uint64_t hash = fnv1a_hash(std::string());
    for (const auto& [key, tensor] : io::state_dict(module)) {
      if (!starts_with_any(key, prefixes)) continue;
      const auto bytes = tensor.detach().to(torch::kCPU).contiguous();
      hash = fnv1a_hash(bytes.data_ptr(), bytes.nbytes(), fnv1a_hash(key, hash));
    }
    const auto digest = static_cast<int64_t>(hash);
    pretrained_digests_.emplace(name, digest);
    return digest;
  }

  void save(torch::serialize::OutputArchive& archive) const {
    archive.write("trainer_step", c10::IValue(step_));
    archive.write("trainer_epoch", c10::IValue(epoch_));
    archive.write("trainer_batch_index", c10::IValue(static_cast<int64_t>(batch_index_)));
    archive.write("trainer_nonfinite_total", c10::IValue(nonfinite_total_));
    archive.write("trainer_consecutive_nonfinite", c10::IValue(consecutive_nonfinite_));
    archive.write("trainer_world_size", c10::IValue(static_cast<int64_t>(world_size())));
    for (const auto& [name, module] : modules_) {
      auto state = io::state_dict(*module);
      if (const auto pretrained = pretrained_prefixes_.find(name); pretrained != pretrained_prefixes_.end()) {
        std::erase_if(state, [&](const auto& item) { return starts_with_any(item.first, pretrained->second); });
        archive.write(pretrained_digest_key(name), c10::IValue(pretrained_digest(name, *module)));
      }
      io::write_tensor_map(archive, io::trainer_module_key(name), state);
    }
    for (const auto& [name, slot] : slots_) {
      torch::serialize::OutputArchive sub;
      slot.optimizer->save(sub);
      archive.write("optimizer_" + name, sub);
    }
    for (const auto& [name, entry] : emas_) {
      torch::serialize::OutputArchive sub;
      entry.ema->save(sub);
      archive.write(io::trainer_ema_key(name), sub);
    }
    if (scaler_) {
      torch::serialize::OutputArchive sub;
      scaler_->save(sub);
      archive.write("grad_scaler", sub);
    }
    archive.write("rng_trainer", generator_state(generator_), /*is_buffer=*/true);
    archive.write("rng_global_cpu", generator_state(at::detail::getDefaultCPUGenerator()), /*is_buffer=*/true);
    if (!options_.device.is_cpu()) archive.write("rng_global_device", generator_state(global_generator()), /*is_buffer=*/true);
  }

  void load(torch::serialize::InputArchive& archive) {
    auto read_int = [&](const char* key) {
      c10::IValue value;
      archive.read(key, value);
      return value.toInt();
    };
    // Read and check everything before changing any state.
    std::map<std::string, io::TensorMap> module_states;
    for (const auto& [name, module] : modules_) {
      auto state = io::read_tensor_map(archive, io::trainer_module_key(name));
      c10::IValue saved_digest;  // absent: an older checkpoint that holds the pretrained weights itself
      if (archive.try_read(pretrained_digest_key(name), saved_digest)) {
        const auto& prefixes = pretrained_prefixes_.at(name);
        CHORD_CHECK(saved_digest.toInt() == pretrained_digest(name, *module), "checkpoint module '", name,
                    "' was trained with other weights under '", prefixes.front(), "'", prefixes.size() > 1 ? " (and others)" : "",
                    " than this run loaded: start it with the same pretrained files (e.g. the same --wavlm-weights)");
        for (const auto& [key, tensor] : io::state_dict(*module)) {
          if (starts_with_any(key, prefixes)) state.emplace(key, tensor);  // kept as loaded
        }
      }
      module_states[name] = std::move(state);
    }
    for (auto& [name, module] : modules_) {
      io::LoadOptions options;
      options.source_name = "checkpoint module '" + name + "'";
      io::load_state_dict(*module, module_states.at(name), options);
    }
    for (auto& [name, slot] : slots_) {
      torch::serialize::InputArchive sub;
      CHORD_CHECK(archive.try_read("optimizer_" + name, sub), "checkpoint has no optimizer '", name, "'");
      slot.optimizer->load(sub);
    }
    for (auto& [name, entry] : emas_) {
      torch::serialize::InputArchive sub;
      CHORD_CHECK(archive.try_read(io::trainer_ema_key(name), sub), "checkpoint has no EMA '", name, "'");
      entry.ema->load(sub);
    }
    if (scaler_) {
      torch::serialize::InputArchive sub;
      if (archive.try_read("grad_scaler", sub)) scaler_->load(sub);
    }
    step_ = read_int("trainer_step");
    epoch_ = read_int("trainer_epoch");
    batch_index_ = static_cast<size_t>(read_int("trainer_batch_index"));
    nonfinite_total_ = read_int("trainer_nonfinite_total");
    consecutive_nonfinite_ = read_int("trainer_consecutive_nonfinite");
    // The batch cursor counts this rank's batches: rescale it when the world size changed (each of the
    // old ranks had consumed batch_index of its shard), so no batch of the epoch is seen twice.
    c10::IValue saved_world;
    const int64_t old_world = archive.try_read("trainer_world_size", saved_world) ? saved_world.toInt() : 1;
    if (old_world != world_size()) {
      const auto consumed = static_cast<int64_t>(batch_index_) * old_world;
      batch_index_ = static_cast<size_t>((consumed + world_size() - 1) / world_size());
      message(MessageLevel::info, "checkpoint written by " + std::to_string(old_world) + " process(es), resumed by " +
                                      std::to_string(world_size()) + ": epoch " + std::to_string(epoch_) +
                                      " continues after its first " + std::to_string(consumed) + " batches");
    }
    // Generator states are CPU byte tensors whatever the device the archive was mapped to.
    torch::Tensor state;
    archive.read("rng_trainer", state, /*is_buffer=*/true);
    set_generator_state(generator_, state.cpu());
    archive.read("rng_global_cpu", state, /*is_buffer=*/true);
    auto global_cpu = at::detail::getDefaultCPUGenerator();
    set_generator_state(global_cpu, state.cpu());
    if (!options_.device.is_cpu()) {
      if (archive.try_read("rng_global_device", state, /*is_buffer=*/true)) {
        auto global = global_generator();
        set_generator_state(global, state.cpu());
      }
    }
  }

  /// The device's default generator (dropout draws from it).
  at::Generator global_generator() const {
    return options_.device.is_cpu() ? at::detail::getDefaultCPUGenerator() : at::globalContext().defaultGenerator(options_.device);
  }

  struct EmaEntry {
    std::shared_ptr<torch::nn::Module> model;
    std::unique_ptr<ExponentialMovingAverage> ema;
  };

  TrainerOptions options_;
  torch::Generator generator_;
  std::optional<GradScaler> scaler_;
  std::optional<io::CheckpointManager> checkpoints_;
  std::map<std::string, std::shared_ptr<torch::nn::Module>> modules_;
  std::map<std::string, std::vector<std::string>> pretrained_prefixes_;  // by module name
  mutable std::map<std::string, int64_t> pretrained_digests_;             // computed once: the weights are frozen
  std::map<std::string, Slot> slots_;
  std::map<std::string, EmaEntry> emas_;
  std::vector<std::shared_ptr<TrainingObserver>> observers_;
  std::function<void(int64_t)> after_update_;
  std::optional<std::filesystem::path> last_checkpoint_;
  int64_t step_ = 0, epoch_ = 0;
  size_t batch_index_ = 0;
  int64_t nonfinite_total_ = 0, consecutive_nonfinite_ = 0;
  int signal_ = 0;  // the signal that stops this run at the end of the current update (agreed across ranks)
  std::function<std::string(int64_t, size_t)> describe_batch_;
  std::vector<std::pair<int64_t, size_t>> taken_;  // (epoch, index) of the current update's micro-batches
  detail::ParallelSlots parallel_slots_;  // last: deregistered first, while the parameters still exist
};

inline bool StepContext::backward(const std::string& optimizer_name, const torch::Tensor& loss, bool retain_graph) {
  return trainer_->backward(optimizer_name, loss, retain_graph, micro_);
}

}  // namespace chord::train
