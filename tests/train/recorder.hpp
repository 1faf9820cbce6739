#pragma once
// An observer that keeps everything a trainer reports, for the training tests.
#include <chord/train/trainer.hpp>

#include <string>
#include <vector>

namespace chord::test {

struct Recorder : chord::train::TrainingObserver {
  std::vector<chord::train::StepReport> steps;
  std::vector<std::string> warnings, infos, errors;
  void on_step(const chord::train::StepReport& r) override { steps.push_back(r); }
  void on_message(chord::train::MessageLevel level, const std::string& text) override {
    (level == chord::train::MessageLevel::warning ? warnings : level == chord::train::MessageLevel::error ? errors : infos).push_back(text);
  }
};

}  // namespace chord::test
