#pragma once
/// @file
/// A read-only view of a whole file through mmap (copy-on-write, so an accidental in-place write to a
/// zero-copy tensor changes only this process's pages, never the file).

#include "chord/core/error.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>

namespace chord::io {

class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path) : path_(path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    CHORD_CHECK(fd >= 0, "cannot open '", path.string(), "': ", std::strerror(errno));
    struct stat info {};
    if (::fstat(fd, &info) != 0) {
      const int error = errno;
      ::close(fd);
      CHORD_FAIL("cannot stat '", path.string(), "': ", std::strerror(error));
    }
    size_ = static_cast<size_t>(info.st_size);
    if (size_ > 0) {
      void* address = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
      const int error = errno;
      ::close(fd);
      CHORD_CHECK(address != MAP_FAILED, "cannot map '", path.string(), "': ", std::strerror(error));
      data_ = static_cast<uint8_t*>(address);
      ::madvise(data_, size_, MADV_SEQUENTIAL);
    } else {
      ::close(fd);
    }
  }

  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(data_, size_);
  }

  uint8_t* data() const noexcept { return data_; }
  size_t size() const noexcept { return size_; }
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace chord::io
