// chord's test runner (Catch2 v2). Prints the library versions first, as ensmallen's runner does.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <chord/version.hpp>
#include <torch/cuda.h>
#include <torch/version.h>

#include <string>

#include <iostream>

/// CTest's skip status (SKIP_RETURN_CODE): the CUDA tests ([.cuda]) report it, with the reason, on a
/// machine without a CUDA device instead of passing without having run.
constexpr int kSkipped = 77;

int main(int argc, char* argv[]) {
  std::cout << "chord " << CHORD_VERSION_STRING << ", LibTorch " << TORCH_VERSION << "\n";
  for (int i = 1; i < argc; ++i) {
    // A filter that selects the CUDA tests ("[.cuda]", "[cuda]"), not one that excludes them ("~[cuda]").
    const std::string filter = argv[i];
    const bool selects_cuda = filter.find("[.cuda]") != std::string::npos ||
                              (filter.find("[cuda]") != std::string::npos && filter.find("~[cuda]") == std::string::npos);
    if (selects_cuda && !torch::cuda::is_available()) {
      std::cout << "skipped: the CUDA tests need a CUDA device; torch::cuda::is_available() is false on this machine\n";
      return kSkipped;
    }
  }
  return Catch::Session().run(argc, argv);
}
