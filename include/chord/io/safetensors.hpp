#pragma once
/// @file
/// Reading (memory-mapped) and writing the safetensors format used by the published checkpoints.
///
/// Layout: an 8-byte little-endian header length N, N bytes of JSON
/// `{"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {...}}`,
/// then the data section. Every structural property the format promises is checked before any
/// tensor is handed out; a malformed file is a chord::Error naming the file and the problem.

#include "chord/core/error.hpp"
#include "chord/io/atomic_file.hpp"
#include "chord/io/mapped_file.hpp"
#include "chord/io/tensor_map.hpp"

#include <c10/util/irange.h>
#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chord::io {

static_assert(std::endian::native == std::endian::little,
              "chord's safetensors code assumes a little-endian host, as the format does");

/// Safetensors dtype names ↔ torch scalar types.
namespace detail {
struct SafetensorsDtype {
  std::string_view name;
  c10::ScalarType type;
};
inline constexpr SafetensorsDtype kSafetensorsDtypes[] = {
    {"F64", c10::kDouble},  {"F32", c10::kFloat},   {"F16", c10::kHalf},
    {"BF16", c10::kBFloat16}, {"I64", c10::kLong},  {"I32", c10::kInt},
    {"I16", c10::kShort},   {"I8", c10::kChar},     {"U8", c10::kByte},
    {"BOOL", c10::kBool},   {"F8_E4M3", c10::kFloat8_e4m3fn}, {"F8_E5M2", c10::kFloat8_e5m2},
};
inline constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference library's limit
}  // namespace detail

/// The safetensors name of a torch dtype; throws for a type the format cannot hold.
inline std::string_view safetensors_dtype_name(c10::ScalarType type) {
  for (const auto& entry : detail::kSafetensorsDtypes) {
    if (entry.type == type) return entry.name;
  }
  CHORD_FAIL("safetensors cannot store dtype ", c10::toString(type));
}

/// The torch dtype for a safetensors dtype name, or nullopt if unknown.
inline std::optional<c10::ScalarType> safetensors_dtype(std::string_view name) {
  for (const auto& entry : detail::kSafetensorsDtypes) {
    if (entry.name == name) return entry.type;
  }
  return std::nullopt;
}

/// One tensor's header entry. Offsets are relative to the start of the data section.
struct SafetensorsEntry {
  std::string name;
  c10::ScalarType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;
  uint64_t end = 0;
};

/// A validated, memory-mapped safetensors file. Cheap to keep open: tensors are materialised on
/// request, either copied into owned memory (default) or as zero-copy views of the mapping.
class SafetensorsReader {
 public:
  explicit SafetensorsReader(const std::filesystem::path& path)
      : file_(std::make_shared<MappedFile>(path)) {
    parse_and_validate();
  }

  const std::filesystem::path& path() const noexcept { return file_->path(); }

  /// Entries in data order.
  const std::vector<SafetensorsEntry>& entries() const noexcept { return entries_; }

  /// The optional `__metadata__` string map.
  const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }

  bool contains(std::string_view name) const { return index_.count(std::string(name)) > 0; }

  std::vector<std::string> keys() const {
    std::vector<std::string> names;
    names.reserve(entries_.size());
    for (const auto& entry : entries_) names.push_back(entry.name);
    return names;
  }

  const SafetensorsEntry& entry(std::string_view name) const {
    auto found = index_.find(std::string(name));
    CHORD_CHECK(found != index_.end(), "safetensors '", path().string(), "': no tensor named '", name,
                "' (the file has ", entries_.size(), " tensors)");
    return entries_[found->second];
  }

  /// The tensor `name` on the CPU. With `copy == false` the tensor aliases the mapping (it keeps the
  /// file mapped while alive) when the data is suitably aligned, and is copied otherwise.
  torch::Tensor tensor(std::string_view name, bool copy = true) const {
    const auto& e = entry(name);
    const uint8_t* source = data_section_ + e.begin;
    const auto options = torch::TensorOptions().dtype(e.dtype);
    const size_t element_size = c10::elementSize(e.dtype);
    const bool aligned = reinterpret_cast<uintptr_t>(source) % element_size == 0;
    if (!copy && aligned && e.end > e.begin) {
      auto keep_alive = file_;
      return torch::from_blob(const_cast<uint8_t*>(source), e.shape,
                              [keep_alive](void*) mutable { keep_alive.reset(); }, options);
    }
    auto out = torch::empty(e.shape, options);
    if (e.end > e.begin) std::memcpy(out.data_ptr(), source, e.end - e.begin);
    return out;
  }

  /// Every tensor, by name.
  TensorMap tensors(bool copy = true) const {
    TensorMap out;
    for (const auto& e : entries_) out.emplace(e.name, tensor(e.name, copy));
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const {
    CHORD_FAIL("safetensors '", path().string(), "': ", problem);
  }

  void parse_and_validate() {
    const uint64_t file_size = file_->size();
    if (file_size < 8) {
      fail(c10::str("file is ", file_size, " bytes, too short for the 8-byte header length"));
    }
    uint64_t header_size = 0;
    std::memcpy(&header_size, file_->data(), 8);
    if (header_size > file_size - 8) {
      fail(c10::str("header length ", header_size, " runs past the end of the file (", file_size,
                    " bytes): truncated or not a safetensors file"));
    }
    if (header_size > detail::kMaxHeaderBytes) {
      fail(c10::str("header length ", header_size, " exceeds the format's limit of ",
                    detail::kMaxHeaderBytes, " bytes"));
    }
    const char* header_begin = reinterpret_cast<const char*>(file_->data() + 8);
    nlohmann::json header;
    try {
      header = nlohmann::json::parse(header_begin, header_begin + header_size);
    } catch (const nlohmann::json::parse_error& error) {
      fail(c10::str("header is not valid JSON (", error.what(), ")"));
    }
    if (!header.is_object()) fail("header is not a JSON object");

    data_section_ = file_->data() + 8 + header_size;
    const uint64_t data_size = file_size - 8 - header_size;

    for (const auto& [name, value] : header.items()) {
      if (name == "__metadata__") {
        if (!value.is_object()) fail("__metadata__ is not an object");
        for (const auto& [key, text] : value.items()) {
          if (!text.is_string()) fail(c10::str("__metadata__['", key, "'] is not a string"));
          metadata_[key] = text.get<std::string>();
        }
        continue;
      }
      entries_.push_back(parse_entry(name, value, data_size));
    }

    std::sort(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    // The reference library requires the tensors to tile the data section exactly.
    uint64_t expected_begin = 0;
    for (size_t i = 0; i < entries_.size(); ++i) {
      const auto& e = entries_[i];
      if (e.begin < expected_begin) {
        fail(c10::str("tensors '", entries_[i - 1].name, "' and '", e.name, "' overlap (data_offsets [",
                      entries_[i - 1].begin, ", ", entries_[i - 1].end, "] and [", e.begin, ", ", e.end,
                      "])"));
      }
      if (e.begin > expected_begin) {
        fail(c10::str("data section has ", e.begin - expected_begin, " unclaimed bytes before tensor '",
                      e.name, "'"));
      }
      expected_begin = e.end;
    }
    if (expected_begin != data_size) {
      fail(c10::str("tensors cover ", expected_begin, " bytes but the data section holds ", data_size,
                    " bytes"));
    }
    for (size_t i = 0; i < entries_.size(); ++i) index_.emplace(entries_[i].name, i);
  }

  SafetensorsEntry parse_entry(const std::string& name, const nlohmann::json& value,
                               uint64_t data_size) const {
    auto where = [&](const std::string& problem) { return c10::str("tensor '", name, "': ", problem); };
    if (!value.is_object()) fail(where("entry is not an object"));
    if (!value.contains("dtype") || !value["dtype"].is_string()) fail(where("missing string 'dtype'"));
    if (!value.contains("shape") || !value["shape"].is_array()) fail(where("missing array 'shape'"));
    if (!value.contains("data_offsets") || !value["data_offsets"].is_array() ||
        value["data_offsets"].size() != 2) {
      fail(where("missing 'data_offsets' [begin, end]"));
    }
    SafetensorsEntry e;
    e.name = name;
    const auto dtype_name = value["dtype"].get<std::string>();
    const auto dtype = safetensors_dtype(dtype_name);
    if (!dtype) fail(where(c10::str("unknown dtype '", dtype_name, "'")));
    e.dtype = *dtype;

    uint64_t numel = 1;
    for (const auto& dim : value["shape"]) {
      if (!dim.is_number_unsigned()) fail(where("shape entries must be non-negative integers"));
      const auto extent = dim.get<uint64_t>();
      if (extent > (uint64_t{1} << 62) || (extent != 0 && numel > (uint64_t{1} << 62) / extent)) {
        fail(where("shape is too large"));
      }
      numel *= extent;
      e.shape.push_back(static_cast<int64_t>(extent));
    }
    for (const auto& offset : value["data_offsets"]) {
      if (!offset.is_number_unsigned()) fail(where("data_offsets must be non-negative integers"));
    }
    e.begin = value["data_offsets"][0].get<uint64_t>();
    e.end = value["data_offsets"][1].get<uint64_t>();
    if (e.end < e.begin) {
      fail(where(c10::str("data_offsets [", e.begin, ", ", e.end, "] end before they begin")));
    }
    if (e.end > data_size) {
      fail(where(c10::str("data_offsets [", e.begin, ", ", e.end, "] reach past the data section (",
                          data_size, " bytes)")));
    }
    // numel is bounded by 2^62, but numel × element size can still wrap around 2^64 (2^61 + 16
    // float64 elements wrap to 128 bytes): compare in a form that cannot overflow.
    const uint64_t element_size = c10::elementSize(e.dtype);
    if (numel > (e.end - e.begin) / element_size || numel * element_size != e.end - e.begin) {
      const bool huge = numel > std::numeric_limits<uint64_t>::max() / element_size;
      fail(where(c10::str("shape ", c10::IntArrayRef(e.shape), " of ", dtype_name, " needs ",
                          huge ? std::string("more than 2^64") : std::to_string(numel * element_size),
                          " bytes but data_offsets span ", e.end - e.begin)));
    }
    return e;
  }

  std::shared_ptr<MappedFile> file_;
  const uint8_t* data_section_ = nullptr;
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

/// Reads every tensor of `path` into owned CPU memory.
inline TensorMap load_safetensors(const std::filesystem::path& path) {
  return SafetensorsReader(path).tensors(/*copy=*/true);
}

/// Writes `tensors` (moved to CPU, made contiguous) to `path` atomically. Tensors are laid out by
/// descending element size, then name, so every tensor starts aligned to its element size.
inline void save_safetensors(const std::filesystem::path& path, const TensorMap& tensors,
                             const std::map<std::string, std::string>& metadata = {}) {
  std::vector<std::pair<std::string, torch::Tensor>> ordered;
  ordered.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) {
    TORCH_CHECK(tensor.defined(), "save_safetensors: tensor '", name, "' is undefined");
    CHORD_CHECK(name != "__metadata__", "save_safetensors: '__metadata__' is reserved");
    ordered.emplace_back(name, tensor.detach().to(torch::kCPU).contiguous());
  }
  std::stable_sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
    return a.second.element_size() > b.second.element_size();
  });

  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : ordered) {
    const uint64_t bytes = tensor.numel() * tensor.element_size();
    header[name] = {{"dtype", std::string(safetensors_dtype_name(tensor.scalar_type()))},
                    {"shape", tensor.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');  // keep the data section 8-aligned
  const uint64_t header_size = header_text.size();

  AtomicFile out(path);
  out.write(&header_size, 8);
  out.write(header_text.data(), header_text.size());
  for (const auto& [name, tensor] : ordered) {
    out.write(tensor.data_ptr(), tensor.numel() * tensor.element_size());
  }
  out.commit();
}

}  // namespace chord::io
