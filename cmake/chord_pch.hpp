// The one precompiled header every chord test, example and benchmark reuses (REUSE_FROM chord_pch).
// Library headers never rely on it: each public header is also compiled alone, without it.
#pragma once
#include <torch/all.h>
#include <ATen/autocast_mode.h>
#include <nlohmann/json.hpp>
#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>
