// LD_PRELOAD module for the kill trials (tests/reliability/kill_trials.sh): counts the file-system
// steps a process takes on files whose path contains $CHORD_FAULT_MATCH (default "checkpoint") — each
// write, fsync, rename, unlink and remove — and kills the process with SIGKILL right after step number
// $CHORD_FAULT_AT (1-based; 0 or unset: only count). With $CHORD_FAULT_LOG set, every counted step is
// appended there as "<index> <kind> <path>", so a harness can pick the steps to interrupt.
// $CHORD_FAULT_ENOSPC_FROM=N makes every counted write from the N-th on fail with ENOSPC instead (a
// full disk: nothing of it reaches the file).
//
// Interposing the C library's calls needs no hook in chord itself: the checkpoint writer
// (io/atomic_file.hpp), LibTorch's archive writer and std::filesystem all reach these symbols.
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

namespace {

struct Settings {
  std::string match = "checkpoint";
  long kill_at = 0;
  std::string log;
  long enospc_from = 0;
  Settings() {
    if (const char* from = std::getenv("CHORD_FAULT_ENOSPC_FROM"); from && *from) enospc_from = std::strtol(from, nullptr, 10);
    if (const char* m = std::getenv("CHORD_FAULT_MATCH"); m && *m) match = m;
    if (const char* at = std::getenv("CHORD_FAULT_AT"); at && *at) kill_at = std::strtol(at, nullptr, 10);
    if (const char* l = std::getenv("CHORD_FAULT_LOG"); l && *l) log = l;
  }
};

const Settings& settings() {
  static const Settings s;
  return s;
}

std::atomic<long> counted{0};
std::mutex log_mutex;
thread_local bool inside = false;  // the log's own writes are not steps

template <class F>
F real(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

std::string fd_path(int fd) {
  char link[64], target[4096];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, target, sizeof target - 1);
  return n > 0 ? std::string(target, static_cast<size_t>(n)) : std::string();
}

void step(const char* kind, const std::string& path) {
  if (inside || path.find(settings().match) == std::string::npos) return;
  const long index = ++counted;
  if (!settings().log.empty()) {
    std::lock_guard<std::mutex> lock(log_mutex);
    inside = true;
    if (FILE* out = std::fopen(settings().log.c_str(), "a")) {
      std::fprintf(out, "%ld %s %s\n", index, kind, path.c_str());
      std::fclose(out);
    }
    inside = false;
  }
  if (index == settings().kill_at) {
    char message[512];
    const int n = std::snprintf(message, sizeof message, "fault injector: SIGKILL after step %ld (%s %s)\n", index, kind, path.c_str());
    real<ssize_t (*)(int, const void*, size_t)>("write")(2, message, static_cast<size_t>(n));
    std::raise(SIGKILL);
  }
}

}  // namespace

extern "C" {

ssize_t write(int fd, const void* buffer, size_t size) {
  static const auto next = real<ssize_t (*)(int, const void*, size_t)>("write");
  if (!inside && fd > 2 && settings().enospc_from > 0 && counted.load() + 1 >= settings().enospc_from &&
      fd_path(fd).find(settings().match) != std::string::npos) {
    ++counted;
    errno = ENOSPC;
    return -1;
  }
  const ssize_t result = next(fd, buffer, size);
  if (!inside && fd > 2) step("write", fd_path(fd));
  return result;
}

int fsync(int fd) {
  static const auto next = real<int (*)(int)>("fsync");
  const int result = next(fd);
  if (!inside) step("fsync", fd_path(fd));
  return result;
}

int rename(const char* from, const char* to) {
  static const auto next = real<int (*)(const char*, const char*)>("rename");
  const int result = next(from, to);
  step("rename", std::string(from) + " -> " + to);
  return result;
}

int unlink(const char* path) {
  static const auto next = real<int (*)(const char*)>("unlink");
  const int result = next(path);
  step("unlink", path);
  return result;
}

int remove(const char* path) {  // std::filesystem::remove
  static const auto next = real<int (*)(const char*)>("remove");
  const int result = next(path);
  step("remove", path);
  return result;
}

}  // extern "C"
