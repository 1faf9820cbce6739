// Uses a few chord headers through the installed package: masks, safetensors and mel features.
#include <chord/audio/mel.hpp>
#include <chord/core/mask.hpp>
#include <chord/io/safetensors.hpp>
#include <chord/version.hpp>

#include <iostream>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: consumer <scratch.safetensors>\n";
    return 2;
  }
  auto mask = chord::lens_to_mask(torch::tensor({2, 4}));
  auto mel = chord::audio::MelSpectrogram()(torch::sin(torch::arange(24000) * 0.05));
  chord::io::save_safetensors(argv[1], {{"mask", mask}, {"mel", mel}});
  auto back = chord::io::load_safetensors(argv[1]);
  const bool ok = torch::equal(back.at("mask"), mask) && torch::equal(back.at("mel"), mel) && mel.size(0) == 100;
  std::cout << "chord " << CHORD_VERSION_STRING << (ok ? " consumer OK\n" : " consumer FAILED\n");
  return ok ? 0 : 1;
}
