// Manifests, padding, the feature cache, the speech dataset and the batch samplers.
#include "support.hpp"

#include <chord/audio/io.hpp>
#include <chord/data/speech_dataset.hpp>
#include <chord/data/validation.hpp>
#include <chord/train/samplers.hpp>
#include <chord/train/trainer.hpp>

#include <fstream>
#include <set>

TEST_CASE("manifests read JSONL, resolve relative audio paths and round-trip", "[data][manifest]") {
  const auto dir = chord::test::scratch_dir("manifest");
  {
    std::ofstream out(dir / "m.jsonl");
    out << R"({"audio": "wavs/a.wav", "text": "hello", "speaker": "s1", "duration": 1.5, "phonemes": "h"})" << "\n\n"
        << R"({"audio": "/abs/b.wav", "text": "bye", "language": "en"})" << "\n";
  }
  auto manifest = chord::data::Manifest::read(dir / "m.jsonl");
  REQUIRE(manifest.size() == 2);
  REQUIRE(manifest[0].audio == std::filesystem::absolute(dir) / "wavs/a.wav");
  REQUIRE(manifest[0].speaker == "s1");
  REQUIRE(manifest[0].duration == 1.5);
  REQUIRE(manifest[0].fields["phonemes"] == "h");
  REQUIRE(manifest[1].audio == "/abs/b.wav");
  REQUIRE(manifest[1].language == "en");
  manifest.write(dir / "copy.jsonl");
  auto copy = chord::data::Manifest::read(dir / "copy.jsonl");
  REQUIRE(copy[0].audio == manifest[0].audio);
  REQUIRE(copy[1].text == "bye");

  { std::ofstream(dir / "bad.jsonl") << R"({"audio": "a.wav", "text": "ok"})" << "\n" << R"({"audio": "b.wav"})" << "\n"; }
  REQUIRE_THROWS_WITH(chord::data::Manifest::read(dir / "bad.jsonl"), Catch::Matchers::Contains("bad.jsonl' line 2: missing string \"text\""));
  { std::ofstream(dir / "bad2.jsonl") << "{not json\n"; }
  REQUIRE_THROWS_WITH(chord::data::Manifest::read(dir / "bad2.jsonl"), Catch::Matchers::Contains("line 1: invalid JSON"));
}

TEST_CASE("manifest validation finds every bad item at once, with its line and the problem", "[data][manifest][validation]") {
  const auto dir = chord::test::scratch_dir("manifest_validation");
  std::filesystem::create_directories(dir / "wavs");
  auto tone = [](double seconds, int rate) { return 0.1 * torch::sin(torch::arange(static_cast<int64_t>(seconds * rate)) * 0.05); };
  chord::audio::write_audio(dir / "wavs/good.wav", tone(1.0, 16000), 16000);
  chord::audio::write_audio(dir / "wavs/good2.wav", tone(0.5, 16000), 16000);
  chord::audio::write_audio(dir / "wavs/low.wav", tone(1.0, 8000), 8000);
  chord::audio::write_audio(dir / "wavs/long.wav", tone(3.0, 16000), 16000);
  chord::audio::write_audio(dir / "wavs/empty.wav", torch::zeros({0}), 16000);
  chord::test::write_raw_float_wav(dir / "wavs/nan.wav", {0.1f, NAN, 0.2f}, 16000);
  {
    std::ofstream out(dir / "m.jsonl");
    out << R"({"audio": "wavs/good.wav", "text": "a", "duration": 1.0})" << "\n"
        << R"({"audio": "wavs/missing.wav", "text": "b"})" << "\n"
        << R"({"audio": "wavs/empty.wav", "text": "c"})" << "\n"
        << "\n"
        << R"({"audio": "wavs/nan.wav", "text": "d"})" << "\n"
        << R"({"audio": "wavs/low.wav", "text": "e"})" << "\n"
        << R"({"audio": "wavs/long.wav", "text": "f"})" << "\n"
        << R"({"audio": "wavs/good2.wav", "text": "g", "duration": 2.5})" << "\n"
        << R"({"audio": "wavs/good2.wav", "text": "h"})" << "\n";
  }
  const auto manifest = chord::data::Manifest::read(dir / "m.jsonl");
  REQUIRE(manifest[4].line == 6);  // blank lines count
  chord::data::AudioRequirements needs;
  needs.min_sample_rate = 16000;
  needs.max_seconds = 2.0;
  size_t calls = 0;
  const auto report = chord::data::check_manifest(manifest, needs, [&](size_t done, size_t total) {
    ++calls;
    REQUIRE(total == 8);
    REQUIRE(done == calls);
  });
  REQUIRE(calls == 8);
  REQUIRE(report.problems.size() == 6);
  auto problem = [&](size_t i) { return report.problems[i]; };
  REQUIRE(problem(0).line == 2);
  REQUIRE(problem(0).problem == "the audio file does not exist");
  REQUIRE(problem(1).line == 3);
  REQUIRE(problem(1).problem == "the audio file has no samples");
  REQUIRE(problem(2).line == 5);
  REQUIRE_THAT(problem(2).problem, Catch::Matchers::StartsWith("contains NaN or Inf samples (the first at frame 1"));
  REQUIRE(problem(3).problem == "sampled at 8000 Hz; at least 16000 Hz is needed");
  REQUIRE_THAT(problem(4).problem, Catch::Matchers::StartsWith("lasts 3 s, outside (0, 2] s"));
  REQUIRE(problem(5).problem == "the manifest says 2.5 s but the file lasts 0.5 s");
  REQUIRE(report.good.size() == 2);
  REQUIRE(report.good[0].text == "a");
  REQUIRE(report.good[1].text == "h");
  const auto text = report.describe("m.jsonl");
  REQUIRE_THAT(text, Catch::Matchers::Contains("m.jsonl:2: "));
  REQUIRE_THAT(text, Catch::Matchers::Contains("missing.wav: the audio file does not exist"));
}

TEST_CASE("pad_sequences pads along time and returns the lengths", "[data][collate]") {
  auto padded = chord::data::pad_sequences({torch::ones({2, 3}), torch::full({4, 3}, 2.0)});
  REQUIRE(padded.values.sizes() == torch::IntArrayRef({2, 4, 3}));
  REQUIRE(torch::equal(padded.lengths, torch::tensor({2, 4})));
  REQUIRE(padded.values[0].slice(0, 2).abs().sum().item<double>() == 0.0);
  REQUIRE(padded.values[1].sum().item<double>() == 24.0);
  REQUIRE_THROWS(chord::data::pad_sequences({torch::ones({2, 3}), torch::ones({2, 4})}));
}

TEST_CASE("the feature cache computes once and recovers from a damaged entry", "[data][cache]") {
  const auto dir = chord::test::scratch_dir("feature_cache");
  { std::ofstream(dir / "source.bin") << "pretend audio"; }
  chord::data::FeatureCache cache(dir / "cache", "test-features v1");
  int computed = 0;
  auto compute = [&] {
    ++computed;
    return torch::arange(6, torch::kFloat32).reshape({2, 3});
  };
  auto a = cache.get(dir / "source.bin", compute);
  auto b = cache.get(dir / "source.bin", compute);
  REQUIRE(computed == 1);
  REQUIRE(torch::equal(a, b));
  { std::ofstream(cache.cache_path(dir / "source.bin"), std::ios::trunc) << "garbage"; }
  auto c = cache.get(dir / "source.bin", compute);
  REQUIRE(computed == 2);
  REQUIRE(torch::equal(a, c));
  chord::data::FeatureCache other(dir / "cache", "test-features v2");
  REQUIRE(other.cache_path(dir / "source.bin") != cache.cache_path(dir / "source.bin"));
}

TEST_CASE("the speech dataset resamples, computes log-mels and batches them", "[data][dataset]") {
  const auto dir = chord::test::scratch_dir("speech_dataset");
  std::vector<chord::data::ManifestItem> items;
  for (int i = 0; i < 3; ++i) {
    const int64_t rate = i == 0 ? 16000 : 24000;
    const int64_t n = rate * (i + 1) / 2;
    auto wave = 0.3 * torch::sin(torch::arange(n, torch::kFloat32) * (0.05f * (i + 1)));
    chord::audio::write_audio(dir / ("u" + std::to_string(i) + ".wav"), wave, rate);
    items.push_back({dir / ("u" + std::to_string(i) + ".wav"), "text " + std::to_string(i), "spk", "en", 0.5 * (i + 1), {}});
  }
  chord::data::SpeechDataset dataset(chord::data::Manifest(items), chord::audio::MelSpectrogramOptions::vocos_24k(),
                                     dir / "cache");
  auto sample = dataset.get(0);
  REQUIRE(sample.mel.sizes() == torch::IntArrayRef({12000 / 256 + 1, 100}));  // 0.5 s resampled to 24 kHz
  REQUIRE(sample.text == "text 0");
  auto frames = dataset.frame_lengths();
  REQUIRE(frames[2] == Approx(1.5 * 24000 / 256));
  auto batch = dataset.batch({2, 0});
  REQUIRE(batch.mel.sizes() == torch::IntArrayRef({2, 36000 / 256 + 1, 100}));
  REQUIRE(torch::equal(batch.mel_lengths, torch::tensor({36000 / 256 + 1, 12000 / 256 + 1})));
  REQUIRE(batch.indices == std::vector<int64_t>{2, 0});
  REQUIRE(torch::equal(dataset.get(0).mel, sample.mel));  // from the cache now
}

TEST_CASE("the frame-budget sampler packs sorted items greedily", "[data][sampler]") {
  const std::vector<double> frames{5, 3, 8, 2, 9, 1};
  chord::train::DynamicBatchSampler plain(frames, 10);
  REQUIRE(plain.batches(0) == std::vector<chord::train::Batch>{{5, 3, 1}, {0}, {2}, {4}});
  chord::train::DynamicBatchSampler capped(frames, 10, /*max_samples=*/2);
  REQUIRE(capped.batches(0) == std::vector<chord::train::Batch>{{5, 3}, {1, 0}, {2}, {4}});
  // 30 frames exceed the budget and are dropped: [4, 5] closes when 30 arrives
  chord::train::DynamicBatchSampler too_long({5, 30, 4}, 10);
  REQUIRE(too_long.batches(0) == std::vector<chord::train::Batch>{{2, 0}});
  // [4, 5] closes when 8 arrives; the residual [8] is dropped on request
  chord::train::DynamicBatchSampler dropped({4, 5, 8}, 10, 0, std::nullopt, /*drop_residual=*/true);
  REQUIRE(dropped.batches(0) == std::vector<chord::train::Batch>{{0, 1}});
}

TEST_CASE("the frame-budget sampler matches F5-TTS DynamicBatchSampler for seed 666", "[data][sampler][parity]") {
  auto f = chord::test::fixture_tensors("samplers_f5tts.safetensors");
  auto frames_tensor = f.at("frames");
  std::vector<double> frames(frames_tensor.data_ptr<double>(), frames_tensor.data_ptr<double>() + frames_tensor.numel());
  chord::train::DynamicBatchSampler sampler(frames, 3000, 12, 666);
  for (int epoch = 0; epoch < 3; ++epoch) {
    auto indices = f.at("epoch" + std::to_string(epoch) + "_indices");
    auto sizes = f.at("epoch" + std::to_string(epoch) + "_sizes");
    auto batches = sampler.batches(epoch);
    REQUIRE(static_cast<int64_t>(batches.size()) == sizes.numel());
    int64_t offset = 0;
    for (size_t b = 0; b < batches.size(); ++b) {
      REQUIRE(static_cast<int64_t>(batches[b].size()) == sizes[static_cast<int64_t>(b)].item<int64_t>());
      for (auto index : batches[b]) REQUIRE(index == indices[offset++].item<int64_t>());
    }
  }
}

TEST_CASE("multi-process shards of the F5 batch sampler are accelerate's, rank by rank", "[data][sampler]") {
  // tests/parity/make_distributed_fixtures.py: accelerate's BatchSamplerShard over f5-tts's
  // DynamicBatchSampler for worlds 2 and 3 (rank r takes batches r, r + W, ...; the last n mod W dropped).
  auto f = chord::test::fixture_tensors("distributed_shards.safetensors");
  auto frames_tensor = f.at("frames");
  std::vector<double> frames(frames_tensor.data_ptr<double>(), frames_tensor.data_ptr<double>() + frames_tensor.numel());
  auto sampler = std::make_shared<const chord::train::DynamicBatchSampler>(frames, 3000, 12, 666);
  auto source = chord::train::sampled_batches(sampler, [](const std::vector<int64_t>& indices) { return indices; });
  for (int world : {2, 3}) {
    for (int rank = 0; rank < world; ++rank) {
      const auto shard = chord::train::shard_batches(source, rank, world);
      REQUIRE(shard.per_rank);
      for (int epoch = 0; epoch < 2; ++epoch) {
        const auto key = "w" + std::to_string(world) + "_r" + std::to_string(rank) + "_e" + std::to_string(epoch);
        auto indices = f.at(key + "_indices");
        auto sizes = f.at(key + "_sizes");
        REQUIRE(static_cast<int64_t>(shard.count(epoch)) == sizes.numel());
        int64_t offset = 0;
        for (size_t b = 0; b < shard.count(epoch); ++b) {
          const auto batch = shard.load(epoch, b);
          REQUIRE(static_cast<int64_t>(batch.size()) == sizes[static_cast<int64_t>(b)].item<int64_t>());
          for (auto index : batch) REQUIRE(index == indices[offset++].item<int64_t>());
        }
      }
    }
  }
}

TEST_CASE("the bucket sampler keeps batches inside one bucket and splits replicas", "[data][sampler]") {
  // lengths: bucket (0,10] has 5 items, (10,20] has 3, (20,30] none; 35 falls outside and is dropped
  const std::vector<int64_t> lengths{3, 12, 7, 15, 9, 1, 35, 18, 5};
  chord::train::DistributedBucketSampler sampler(lengths, 2, {0, 10, 20, 30}, 1, 0, /*shuffle=*/false);
  REQUIRE(sampler.buckets().size() == 2);  // the empty (20,30] bucket is removed
  REQUIRE(sampler.boundaries() == std::vector<int64_t>{0, 10, 20});
  // bucket 0 = {0,2,4,5,8} padded by repetition to 6; bucket 1 = {1,3,7} padded to 4
  REQUIRE(sampler.batches(0) == std::vector<chord::train::Batch>{{0, 2}, {4, 5}, {8, 0}, {1, 3}, {7, 1}});
  REQUIRE(sampler.size() == 5);

  chord::train::DistributedBucketSampler r0(lengths, 2, {0, 10, 20}, 2, 0), r1(lengths, 2, {0, 10, 20}, 2, 1);
  auto b0 = r0.batches(3), b1 = r1.batches(3);
  REQUIRE(b0.size() == b1.size());
  REQUIRE(b0.size() == r0.size());
  std::multiset<int64_t> seen;
  for (const auto& batches : {b0, b1}) {
    for (const auto& batch : batches) {
      REQUIRE(batch.size() == 2);
      const bool short_bucket = lengths[batch[0]] <= 10;
      for (auto i : batch) {
        REQUIRE((lengths[i] <= 10) == short_bucket);
        seen.insert(i);
      }
    }
  }
  for (int64_t i : {0, 1, 2, 3, 4, 5, 7, 8}) REQUIRE(seen.count(i) >= 1);
  REQUIRE(seen.count(6) == 0);
  REQUIRE(r0.batches(3) == b0);   // same epoch → same order
  bool reshuffled = false;        // another epoch gives another order
  for (int epoch = 4; epoch < 10; ++epoch) reshuffled = reshuffled || r0.batches(epoch) != b0;
  REQUIRE(reshuffled);
  REQUIRE_THROWS_WITH(chord::train::DistributedBucketSampler({50}, 2, {0, 10}), Catch::Matchers::Contains("no item length"));
}
