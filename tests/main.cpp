// chord's test runner (Catch2 v2). Prints the library versions first, as ensmallen's runner does.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <chord/version.hpp>
#include <torch/version.h>

#include <iostream>

int main(int argc, char* argv[]) {
  std::cout << "chord " << CHORD_VERSION_STRING << ", LibTorch " << TORCH_VERSION << "\n";
  return Catch::Session().run(argc, argv);
}
