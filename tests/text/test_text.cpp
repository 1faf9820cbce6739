// UTF-8 splitting, vocab and byte tokenizers, the espeak-ng phonemizer.
#include "support.hpp"

#include <chord/io/json_checks.hpp>
#include <chord/text/phonemizer.hpp>
#include <chord/text/tokenizer.hpp>
#include <chord/text/unigram_tokenizer.hpp>

#include <fstream>

#include <malloc.h>

TEST_CASE("UTF-8 text splits into code points like a Python str", "[text]") {
  auto chars = chord::text::utf8_characters("h\xC3\xA9llo \xE4\xB8\x96\xF0\x9F\x8E\xB5");  // "héllo 世🎵"
  REQUIRE(chars.size() == 8);
  REQUIRE(chars[1] == "\xC3\xA9");
  REQUIRE(chars[6] == "\xE4\xB8\x96");
  REQUIRE(chars[7] == "\xF0\x9F\x8E\xB5");
  REQUIRE_THROWS_WITH(chord::text::utf8_characters("ab\xC3"), Catch::Matchers::Contains("invalid UTF-8 at byte 2"));
  REQUIRE_THROWS_WITH(chord::text::utf8_characters("a\xE4\x41\x41"), Catch::Matchers::Contains("invalid UTF-8 at byte 2"));
}

TEST_CASE("a vocab file maps characters to line indices, unknown to 0, padding to -1", "[text][tokenizer]") {
  const auto dir = chord::test::scratch_dir("vocab");
  {
    std::ofstream out(dir / "vocab.txt", std::ios::binary);
    out << " \na\nb\n\xC3\xA9\nni3\n";
  }
  auto vocab = chord::text::VocabTokenizer::from_file(dir / "vocab.txt");
  REQUIRE(vocab.size() == 5);
  REQUIRE(vocab.encode("ab \xC3\xA9?") == std::vector<int64_t>{1, 2, 0, 3, 0});
  REQUIRE(vocab.encode_tokens({"ni3", "a", "zz"}) == std::vector<int64_t>{4, 1, 0});
  auto batch = vocab.encode_batch({"ab", "b"});
  REQUIRE(torch::equal(batch, torch::tensor({{1, 2}, {2, -1}})));
  REQUIRE(vocab.token(3) == "\xC3\xA9");
  // Characters outside the vocabulary are named (once each, in order) so programs can warn about them.
  REQUIRE(vocab.unknown({"a", "7", "\xE4\xBD\xA0", " ", "7", "b"}) == std::vector<std::string>{"7", "\xE4\xBD\xA0"});

  vocab.save(dir / "copy.txt");
  REQUIRE(chord::text::VocabTokenizer::from_file(dir / "copy.txt").encode("ba") == std::vector<int64_t>{2, 1});

  {
    std::ofstream out(dir / "bad.txt", std::ios::binary);
    out << "a\n \n";
  }
  REQUIRE_THROWS_WITH(chord::text::VocabTokenizer::from_file(dir / "bad.txt"),
                      Catch::Matchers::Contains("bad.txt': the space token must be id 0"));
  REQUIRE_THROWS_WITH(chord::text::VocabTokenizer::from_file(dir / "missing.txt"),
                      Catch::Matchers::Contains("cannot open vocab file"));

  auto built = chord::text::VocabTokenizer::from_texts({"ba c", "ab"});
  REQUIRE(built.size() == 4);
  REQUIRE(built.token(0) == " ");
  REQUIRE(built.encode("abc") == std::vector<int64_t>{1, 2, 3});
}

TEST_CASE("the byte tokenizer emits UTF-8 bytes", "[text][tokenizer]") {
  chord::text::ByteTokenizer bytes;
  REQUIRE(bytes.size() == 256);
  REQUIRE(bytes.encode("a\xC3\xA9") == std::vector<int64_t>{97, 195, 169});
  REQUIRE(torch::equal(bytes.encode_batch({"ab", "c"}), torch::tensor({{97, 98}, {99, -1}})));
}

TEST_CASE("espeak-ng phonemizes English to IPA", "[text][phonemizer]") {
  chord::text::EspeakPhonemizer en("en-us");
  REQUIRE(en.phonemize("Hello world, this is chord.") == "h\xC9\x99l\xCB\x88o\xCA\x8A w\xCB\x88\xC9\x9C\xCB\x90ld \xC3\xB0\xC9\xAAs \xC9\xAAz k\xCB\x88\xC9\x94\xCB\x90\xC9\xB9""d");
  REQUIRE(en.phonemize("") == "");
  REQUIRE_THROWS_WITH(chord::text::EspeakPhonemizer("xx-not-a-voice"), Catch::Matchers::Contains("no voice"));
}

TEST_CASE("phonemizers of different voices take turns, and espeak-ng's heap stays flat", "[text][phonemizer]") {
  chord::text::EspeakPhonemizer american("en-us");
  chord::text::EspeakPhonemizer british("en");  // espeak-ng 1.51: "en" is British English (gmw/en)
  const auto american_water = american.phonemize("water");
  const auto british_water = british.phonemize("water");
  REQUIRE(american_water != british_water);  // the flap and the r-coloured vowel: the voice really changed
  REQUIRE(american.phonemize("water") == american_water);
  REQUIRE(british.phonemize("water") == british_water);

  // espeak-ng 1.51 loses ~1.3 kB per espeak_SetVoiceByName from about the 170th call on; the phonemizer
  // selects its voice only when another one is current. 1000 calls would leave 1.1 MB behind if it
  // reselected every time (LeakSanitizer reports it in asan_text; the heap figure catches it elsewhere).
  const auto heap_in_use = [] { return mallinfo2().uordblks; };
  for (int i = 0; i < 50; ++i) (void)american.phonemize("the lanterns");  // espeak's own caches settle
  const size_t before = heap_in_use();
  for (int i = 0; i < 1000; ++i) REQUIRE(american.phonemize("the lanterns") == american.phonemize("the lanterns"));
  const size_t after = heap_in_use();
  CHECK(after <= before + 64 * 1024);
}

TEST_CASE("JSON numbers from users' files convert to integers only when they fit exactly", "[text][json]") {
  // Found by fuzzing: nlohmann's get<long>() of 8.7e49 is undefined behaviour (a float-to-integer cast).
  using chord::io::json_holds;
  CHECK(json_holds<int64_t>(nlohmann::json(5)));
  CHECK(json_holds<int64_t>(nlohmann::json(16.0)));
  CHECK_FALSE(json_holds<int64_t>(nlohmann::json(8.77778e49)));
  CHECK_FALSE(json_holds<int64_t>(nlohmann::json(2.5)));
  CHECK_FALSE(json_holds<int64_t>(nlohmann::json(9.3e18)));  // above 2^63
  CHECK_FALSE(json_holds<int32_t>(nlohmann::json(int64_t{1} << 40)));
  CHECK(json_holds<uint64_t>(nlohmann::json(~uint64_t{0})));
  CHECK_FALSE(json_holds<int64_t>(nlohmann::json(~uint64_t{0})));
  CHECK_FALSE(json_holds<uint8_t>(nlohmann::json(-1)));
  CHECK(json_holds<std::vector<int64_t>>(nlohmann::json::parse("[1, 2, 3]")));
  CHECK_FALSE(json_holds<std::vector<int64_t>>(nlohmann::json::parse("[1, 1e300]")));
  CHECK_FALSE(json_holds<bool>(nlohmann::json(1)));
  CHECK(json_holds<double>(nlohmann::json(3)));
}

TEST_CASE("a tokenizer.json whose added token id is not an integer is refused by name", "[text][tokenizer]") {
  const auto path = chord::test::scratch_dir("unigram_bad_id") / "tokenizer.json";
  std::ofstream(path) << R"({"model": {"type": "Unigram", "unk_id": 2, "vocab": [["<pad>", 0.0], ["</s>", 0.0], ["<unk>", 0.0]]},
                            "added_tokens": [{"id": 8.77778e49, "content": "<extra_id_0>"}]})";
  CHECK_THROWS_WITH(chord::text::UnigramTokenizer::from_file(path),
                    Catch::Matchers::Contains("an added token's id is not a non-negative integer"));
}
