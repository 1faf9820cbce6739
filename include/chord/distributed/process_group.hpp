#pragma once
/// @file
/// Data-parallel training on PyTorch's own engine: a c10d process group (NCCL for CUDA tensors, Gloo
/// for CPU tensors) joined through the launcher's TCP store, and one `c10d::Reducer` per optimiser slot
/// — the bucketed gradient all-reduce that overlaps the backward, driven exactly as
/// `torch.nn.parallel.DistributedDataParallel` drives it (parameters broadcast from rank 0, first
/// iteration's buckets by size limit `SIZE_MAX`, buckets rebuilt in gradient-ready order after it,
/// no reduction on accumulation micro-steps).
///
/// Gloo's own headers are not shipped in the torch wheel; scripts/setup.sh installs Debian's
/// `libgloo-dev`. Its headers are older than the gloo inside libtorch_cpu: chord only holds gloo objects
/// through `shared_ptr` and calls torch's exported functions (no inline code touches their layout), and the
/// first collective of every group is a self-check that fails loudly if that ever stops holding.
/// Without the headers the CPU backend is absent and a CPU job refuses to start, naming the package.

#include "chord/core/error.hpp"
#include "chord/distributed/launch.hpp"
#include "chord/train/parallel.hpp"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/comm.hpp>
#include <torch/csrc/distributed/c10d/logger.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>

#if defined(USE_C10D_GLOO) && __has_include(<gloo/algorithm.h>)
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#define CHORD_HAS_GLOO 1
#else
#define CHORD_HAS_GLOO 0
#endif
#if defined(USE_C10D_NCCL) && __has_include(<nccl.h>)
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#define CHORD_HAS_NCCL 1
#else
#define CHORD_HAS_NCCL 0
#endif

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace chord::distributed {

/// Whether this build can form groups for `device`'s tensors.
inline bool backend_available(c10::Device device) { return device.is_cuda() ? CHORD_HAS_NCCL : CHORD_HAS_GLOO; }

/// One process's membership of a data-parallel job.
class ProcessGroup final : public train::DataParallelism {
 public:
  /// Joins the job described by `env` for training on `device` (NCCL when it is a CUDA device, Gloo
  /// otherwise); blocks until every rank has joined or `timeout` passes.
  ProcessGroup(const LaunchEnvironment& env, c10::Device device, std::chrono::milliseconds timeout = collective_timeout())
      : env_(env), device_(device) {
    CHORD_CHECK(backend_available(device), "distributed training on ", device.str(), " needs ",
                device.is_cuda() ? "the NCCL backend (a CUDA build of LibTorch with <nccl.h> found at build time)"
                                 : "the Gloo backend: install Debian's libgloo-dev (scripts/setup.sh does) and rebuild");
    c10d::TCPStoreOptions store_options;
    store_options.port = env.master_port;
    store_options.isServer = env.rank == 0 && !env.agent_store;
    store_options.numWorkers = static_cast<size_t>(env.world_size);
    store_options.waitWorkers = true;  // every member counts itself in; the server waits for all
    store_options.timeout = timeout;
    store_options.multiTenant = true;
    try {
      store_ = c10::make_intrusive<c10d::PrefixStore>(
          env.store_prefix(), c10::make_intrusive<c10d::TCPStore>(env.master_addr, store_options));
    } catch (const std::exception& error) {
      throw Error("rank " + std::to_string(env.rank) + " could not meet the other " + std::to_string(env.world_size - 1) +
                  " rank(s) at the rendezvous store " + env.master_addr + ":" + std::to_string(env.master_port) + " within " +
                  std::to_string(timeout.count() / 1000) + " s: " + message_of(error));
    }
    group_ = c10::make_intrusive<c10d::ProcessGroup>(store_, env.rank, env.world_size);
    guarded("connecting to the other ranks", [&] { add_backends(timeout); });
    publish_peers();
    self_check();
  }

  ~ProcessGroup() override {
    reducers_.clear();  // before the group they reference
  }

  int rank() const noexcept override { return env_.rank; }
  int world_size() const noexcept override { return env_.world_size; }
  const LaunchEnvironment& environment() const noexcept { return env_; }
  c10::Device device() const noexcept { return device_; }
  const c10::intrusive_ptr<c10d::ProcessGroup>& group() const noexcept { return group_; }
  std::string backend_name() const { return device_.is_cuda() ? "nccl" : "gloo"; }

  void add_parameters(const std::string& slot, const std::vector<torch::Tensor>& parameters,
                      bool find_unused_parameters) override {
    CHORD_CHECK(!reducers_.count(slot), "ProcessGroup: slot '", slot, "' already has a reducer");
    CHORD_CHECK(!parameters.empty(), "ProcessGroup: slot '", slot, "' has no trainable parameters");
    guarded("checking the parameters of '" + slot + "' across ranks",
            [&] { c10d::verify_params_across_processes(group_, parameters, std::nullopt); });
    // DDP's first bucket assignment: one size-unlimited pass (or 1 MiB then 25 MiB buckets when unused
    // parameters are searched, which disables the rebuild), reversed so the last layers reduce first.
    // The cap list stays empty as DDP leaves it: a non-empty one would also bound the rebuilt buckets,
    // and the size-unlimited first pass would then never be split (one bucket, no overlap).
    const std::vector<size_t> limits = find_unused_parameters
                                           ? std::vector<size_t>{c10d::kDefaultFirstBucketBytes, c10d::kDefaultBucketBytesCap}
                                           : std::vector<size_t>{std::numeric_limits<size_t>::max()};
    const std::vector<bool> dense(parameters.size(), false);
    auto buckets = std::get<0>(c10d::compute_bucket_assignment_by_size(parameters, limits, dense));
    std::reverse(buckets.begin(), buckets.end());
    std::unordered_map<size_t, std::string> names;
    for (size_t i = 0; i < parameters.size(); ++i) names.emplace(i, slot + "." + std::to_string(i));
    auto reducer = std::make_shared<c10d::Reducer>(
        parameters, std::move(buckets), group_, dense, c10d::kDefaultBucketBytesCap, find_unused_parameters,
        /*gradient_as_bucket_view=*/false, std::move(names), c10d::kDefaultFirstBucketBytes,
        /*skip_all_reduce_unused_params=*/false, /*use_python_reducer=*/false, /*bucket_bytes_cap_list=*/std::vector<int64_t>{});
    // As DDP does: the reducer reports through a logger and dereferences it unchecked when the set of
    // unused parameters changes between iterations (a segmentation fault without one).
    auto logger = std::make_shared<c10d::Logger>(reducer);
    reducer->set_logger(logger);
    reducers_.emplace(slot, SlotReducer{std::move(reducer), std::move(logger), find_unused_parameters});
  }

  void remove_parameters(const std::string& slot) override { reducers_.erase(slot); }

  void prepare_synchronised_backward(const std::string& slot, const torch::Tensor& loss) override {
    auto found = reducers_.find(slot);
    CHORD_CHECK(found != reducers_.end(), "ProcessGroup: no reducer for slot '", slot, "'");
    auto& reducer = *found->second.reducer;
    guarded("preparing the gradient all-reduce of '" + slot + "'", [&] {
      reducer.prepare_for_forward();
      reducer.rebuild_buckets();  // once, after the first synchronised backward recorded the ready order
      reducer.prepare_for_backward(found->second.find_unused ? std::vector<torch::Tensor>{loss} : std::vector<torch::Tensor>{});
    });
  }

  /// The bytes of each gradient bucket of `slot`, in all-reduce order: one bucket before the first
  /// synchronised backward (find_unused_parameters: 1 MiB, then 25 MiB caps), ready-ordered after it.
  std::vector<int64_t> bucket_bytes(const std::string& slot) const {
    auto found = reducers_.find(slot);
    CHORD_CHECK(found != reducers_.end(), "ProcessGroup: no reducer for slot '", slot, "'");
    std::vector<int64_t> bytes;
    for (const auto& bucket : found->second.reducer->get_grad_buckets(/*return_zero_tensors=*/true))
      bytes.push_back(static_cast<int64_t>(bucket.getBuffer().nbytes()));
    return bytes;
  }

  void broadcast_from_main(const std::vector<torch::Tensor>& tensors) override {
    if (tensors.empty()) return;
    torch::NoGradGuard no_grad;  // parameters are leaves that require grad: copied into, not differentiated
    guarded("broadcasting rank 0's parameters", [&] { c10d::broadcast_coalesced(group_, tensors, 250u << 20, 0); });
  }

  void sum(torch::Tensor& values) override {
    guarded("summing scalars across ranks", [&] {
      std::vector<torch::Tensor> tensors{collective_device(values)};
      group_->allreduce(tensors)->wait();
      if (!tensors[0].is_same(values)) values.copy_(tensors[0]);
    });
  }

  void barrier() override {
    guarded("waiting at a barrier", [&] {
      c10d::BarrierOptions options;
      if (device_.is_cuda() && !CHORD_HAS_GLOO) options.device_ids = {device_.index()};
      group_->barrier(options)->wait();
    });
  }

  /// `error` with what is known about the other ranks: which have exited (ranks on this host are checked
  /// by process id) — the usual reason a collective fails.
  std::string explain_failure(const std::string& error) const override {
    std::ostringstream out;
    out << "rank " << env_.rank << " of " << env_.world_size << ": " << first_line(error);
    std::vector<std::string> lost, remote;
    bool local_peers = false;
    // A killed peer's sockets close before the kernel finishes tearing its threads down, so the collective
    // can fail while the process still looks alive: give it a moment to be seen gone.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    do {
      lost.clear();
      remote.clear();
      for (size_t r = 0; r < peers_.size(); ++r) {
        if (static_cast<int>(r) == env_.rank) continue;
        const auto& peer = peers_[r];
        if (peer.host != hostname()) {
          remote.push_back(std::to_string(r) + " on " + peer.host);
        } else {
          local_peers = true;
          if (!process_alive(peer.pid)) lost.push_back(std::to_string(r) + " (pid " + std::to_string(peer.pid) + ")");
        }
      }
      if (!lost.empty() || !local_peers) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } while (std::chrono::steady_clock::now() < give_up);
    if (!lost.empty()) {
      out << "\n  lost rank" << (lost.size() > 1 ? "s " : " ");
      for (size_t i = 0; i < lost.size(); ++i) out << (i ? ", " : "") << lost[i];
      out << ": the process exited; the job cannot continue without it (torchrun --max-restarts restarts the job "
             "from the last checkpoint)";
    } else if (!remote.empty()) {
      out << "\n  no rank on this host has exited; one of the ranks on other hosts may have (";
      for (size_t i = 0; i < remote.size(); ++i) out << (i ? ", " : "") << remote[i];
      out << ")";
    }
    return out.str();
  }

 private:
  struct SlotReducer {
    std::shared_ptr<c10d::Reducer> reducer;
    std::shared_ptr<c10d::Logger> logger;  ///< destroyed first (its destructor reads the reducer)
    bool find_unused = false;
  };
  struct Peer {
    std::string host;
    long pid = 0;
  };

  static std::string first_line(const std::string& text) {
    const auto end = text.find('\n');
    return end == std::string::npos ? text : text.substr(0, end);
  }

  /// An exception's message without LibTorch's C++ stack trace.
  static std::string message_of(const std::exception& error) {
    if (const auto* torch_error = dynamic_cast<const c10::Error*>(&error)) return first_line(torch_error->what_without_backtrace());
    return first_line(error.what());
  }

  static std::string hostname() {
    char name[256] = {};
    ::gethostname(name, sizeof(name) - 1);
    return name;
  }

  /// Alive and not a zombie (a killed child its parent has not reaped yet is dead for our purpose).
  static bool process_alive(long pid) {
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return false;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string field;
    for (int i = 0; i < 3 && stat >> field; ++i) {
    }
    return !(stat && field == "Z");
  }

  template <class Action>
  void guarded(const std::string& what, Action&& action) const {
    try {
      action();
    } catch (const Error&) {
      throw;
    } catch (const std::exception& error) {
      throw Error(explain_failure("failed while " + what + ": " + message_of(error)));
    }
  }

  torch::Tensor collective_device(const torch::Tensor& values) const {
    if (values.is_cuda() || CHORD_HAS_GLOO) return values;
    return values.to(device_);  // an NCCL-only group reduces CUDA tensors only
  }

  void add_backends([[maybe_unused]] std::chrono::milliseconds timeout) {
#if CHORD_HAS_GLOO
    auto gloo_options = c10d::ProcessGroupGloo::Options::create(timeout);
    if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME"); interface && *interface) {
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(interface));
    } else {
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    auto gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, env_.rank, env_.world_size, gloo_options);
    group_->setBackend(c10::DeviceType::CPU, c10d::ProcessGroup::BackendType::GLOO, gloo);
    if (!device_.is_cuda()) group_->setDefaultBackend(c10d::ProcessGroup::BackendType::GLOO);
#endif
#if CHORD_HAS_NCCL
    if (device_.is_cuda()) {
      c10::cuda::set_device(device_.index());
      auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
      nccl_options->timeout = timeout;
      auto nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(store_, env_.rank, env_.world_size, nccl_options);
      group_->setBackend(c10::DeviceType::CUDA, c10d::ProcessGroup::BackendType::NCCL, nccl);
      group_->setDefaultBackend(c10d::ProcessGroup::BackendType::NCCL);
    }
#endif
  }

  /// Every rank records where it runs, so a failure can say which peer is gone.
  void publish_peers() {
    const std::string mine = hostname() + "\n" + std::to_string(static_cast<long>(::getpid()));
    store_->set("peer/" + std::to_string(env_.rank), std::vector<uint8_t>(mine.begin(), mine.end()));
    peers_.resize(static_cast<size_t>(env_.world_size));
    for (int r = 0; r < env_.world_size; ++r) {
      const auto bytes = store_->get("peer/" + std::to_string(r));
      const std::string text(bytes.begin(), bytes.end());
      const auto split = text.find('\n');
      peers_[static_cast<size_t>(r)] = {text.substr(0, split), std::stol(text.substr(split + 1))};
    }
  }

  /// The group's first collectives check themselves: a sum and a broadcast of known values. A mismatch
  /// means the backend is broken (e.g. gloo headers whose layout differs from the library's).
  void self_check() {
    const auto options = torch::TensorOptions().dtype(torch::kFloat64).device(device_);
    auto values = torch::tensor({static_cast<double>(env_.rank + 1), 0.5}, torch::kFloat64).to(device_);
    std::vector<torch::Tensor> tensors{values};
    guarded("running the group's self-check", [&] { group_->allreduce(tensors)->wait(); });
    const double w = env_.world_size;
    auto expected = torch::tensor({w * (w + 1) / 2, 0.5 * w}, options);
    auto token = torch::full({3}, env_.rank == 0 ? 7.0 : -1.0, options);
    guarded("running the group's self-check", [&] { c10d::broadcast_coalesced(group_, {token}, 1 << 20, 0); });
    CHORD_CHECK(torch::equal(values, expected) && torch::equal(token, torch::full({3}, 7.0, options)),
                "the ", backend_name(), " process group failed its self-check on rank ", env_.rank,
                ": the sum of 1..", env_.world_size, " came back as ", values.cpu(),
                " — the backend's headers and library disagree (see docs/distributed.md)");
  }

  LaunchEnvironment env_;
  c10::Device device_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroup> group_;
  std::map<std::string, SlotReducer> reducers_;
  std::vector<Peer> peers_;
};

/// The device a launched process trains on: `requested` as given, except that a bare `cuda` becomes
/// `cuda:LOCAL_RANK` (one GPU per process, as torchrun's convention).
inline c10::Device process_device(c10::Device requested, const LaunchEnvironment& env) {
  if (requested.is_cuda() && !requested.has_index()) return {c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(env.local_rank)};
  return requested;
}

/// Joins the job when a launcher set the environment; nullptr for a plain single-process run.
inline std::shared_ptr<ProcessGroup> join_from_environment(c10::Device device) {
  const auto env = launch_environment();
  if (!env) return nullptr;
  return std::make_shared<ProcessGroup>(*env, process_device(device, *env));
}

}  // namespace chord::distributed
