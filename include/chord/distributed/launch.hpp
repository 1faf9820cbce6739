#pragma once
/// @file
/// The launch environment of one process of a multi-process job, as `torchrun` (or any launcher that
/// follows its convention) sets it: `RANK`, `LOCAL_RANK`, `WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT`,
/// `TORCHELASTIC_USE_AGENT_STORE` (torchrun's agent already hosts the rendezvous store, so every
/// worker, rank 0 included, is a client) and `TORCHELASTIC_RESTART_COUNT` (keeps a restarted job's
/// keys apart from the failed attempt's). No c10d here: cheap to include and to test.

#include "chord/core/error.hpp"

#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace chord::distributed {

struct LaunchEnvironment {
  int rank = 0;
  int local_rank = 0;
  int world_size = 1;
  std::string master_addr = "127.0.0.1";
  uint16_t master_port = 29500;
  bool agent_store = false;  ///< a launcher's agent hosts the store: rank 0 must not start one
  int restart_count = 0;     ///< how many times the launcher restarted the job

  /// The prefix under which this attempt's rendezvous keys live.
  std::string store_prefix() const { return "chord/" + std::to_string(restart_count) + "/"; }
};

namespace detail {
inline std::optional<std::string> environment_value(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

inline int64_t parse_environment_integer(const char* name, const std::string& text, int64_t low, int64_t high) {
  int64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  CHORD_CHECK(error == std::errc() && end == text.data() + text.size(), "environment variable ", name, "='", text,
              "' is not an integer");
  CHORD_CHECK(value >= low && value <= high, "environment variable ", name, "=", value, " is outside [", low, ", ",
              high, "]");
  return value;
}
}  // namespace detail

/// This process's place in a job, or nullopt when no launcher set `WORLD_SIZE` (a plain single-process
/// run). Throws, naming the variable, when the variables are present but inconsistent.
inline std::optional<LaunchEnvironment> launch_environment() {
  using detail::environment_value;
  using detail::parse_environment_integer;
  const auto world = environment_value("WORLD_SIZE");
  if (!world) {
    CHORD_CHECK(!environment_value("RANK"), "RANK is set but WORLD_SIZE is not: launch with torchrun, or set both");
    return std::nullopt;
  }
  LaunchEnvironment env;
  env.world_size = static_cast<int>(parse_environment_integer("WORLD_SIZE", *world, 1, 1 << 20));
  const auto rank = environment_value("RANK");
  CHORD_CHECK(rank || env.world_size == 1, "WORLD_SIZE=", env.world_size, " but RANK is not set");
  if (rank) env.rank = static_cast<int>(parse_environment_integer("RANK", *rank, 0, env.world_size - 1));
  env.local_rank = env.rank;
  if (const auto local = environment_value("LOCAL_RANK")) {
    env.local_rank = static_cast<int>(parse_environment_integer("LOCAL_RANK", *local, 0, env.world_size - 1));
  }
  if (const auto addr = environment_value("MASTER_ADDR")) env.master_addr = *addr;
  if (const auto port = environment_value("MASTER_PORT")) {
    env.master_port = static_cast<uint16_t>(parse_environment_integer("MASTER_PORT", *port, 1, 65535));
  } else {
    CHORD_CHECK(env.world_size == 1, "WORLD_SIZE=", env.world_size, " but MASTER_PORT is not set");
  }
  if (const auto agent = environment_value("TORCHELASTIC_USE_AGENT_STORE")) {
    env.agent_store = *agent == "True" || *agent == "true" || *agent == "1";
  }
  if (const auto restarts = environment_value("TORCHELASTIC_RESTART_COUNT")) {
    env.restart_count = static_cast<int>(parse_environment_integer("TORCHELASTIC_RESTART_COUNT", *restarts, 0, 1 << 20));
  }
  return env;
}

/// How long a collective may wait for the other processes before the job fails (the seed's 300 s);
/// `CHORD_DIST_TIMEOUT` (seconds) overrides it.
inline std::chrono::milliseconds collective_timeout() {
  if (const auto text = detail::environment_value("CHORD_DIST_TIMEOUT")) {
    return std::chrono::seconds(detail::parse_environment_integer("CHORD_DIST_TIMEOUT", *text, 1, 7 * 24 * 3600));
  }
  return std::chrono::seconds(300);
}

}  // namespace chord::distributed
