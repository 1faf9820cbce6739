"""Makes the reference side of chord's English front-end check (chord/text/arpabet.hpp) from
fishaudio/Bert-VITS2 8f7fbd8 `text/english.py`: the phones and tones its `g2p` gives each word of chord's
demo corpus vocabulary (examples/corpus/espeak_speech.hpp, `make_sentence`) that CMUdict knows.

    ~/.cache/chord/reference-torch-2.11.0/bin/python tests/parity/make_bert_vits2_frontend_fixtures.py /tmp/bv2

`text/english.py` cannot be imported offline (it loads g2p_en, nltk data and the DeBERTa tokenizer at
import time), so the functions of its CMUdict path, `read_dict`, `refine_ph`, `refine_syllables` and
`post_replace_ph`, are read from its source and executed alone (with the checkout's `text/symbols.py`),
against the checkout's own `text/cmudict.rep`. For an in-dict word, `g2p` returns exactly
`[post_replace_ph(p) for p in phones]` of `refine_syllables(eng_dict[WORD])` (post_replace_ph turns the
lower-cased "v" into the English "V" of the symbol table). Words CMUdict lacks would go through g2p_en;
they are listed under "missing" and not compared.

Writes tests/fixtures/bert_vits2_frontend_cmudict.json:
  {"source": ..., "words": {word: {"phones": [...], "tones": [...]}}, "missing": [...]}
"""
import ast
import json
import pathlib
import re
import sys


def reference_functions(checkout: pathlib.Path):
    source = (checkout / "text" / "english.py").read_text()
    tree = ast.parse(source)
    wanted = {"read_dict", "refine_ph", "refine_syllables", "post_replace_ph"}
    nodes = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in wanted]
    assert {node.name for node in nodes} == wanted, "text/english.py no longer defines " + str(wanted)
    symbols = {}
    exec(compile((checkout / "text" / "symbols.py").read_text(), "text/symbols.py", "exec"), symbols)
    namespace = {"re": re, "CMU_DICT_PATH": str(checkout / "text" / "cmudict.rep"), "symbols": symbols["symbols"]}
    exec(compile(ast.Module(body=nodes, type_ignores=[]), "text/english.py", "exec"), namespace)
    return namespace


def corpus_vocabulary(repo: pathlib.Path):
    header = (repo / "examples" / "corpus" / "espeak_speech.hpp").read_text()
    start = header.index("inline std::string make_sentence")
    body = header[start : header.index("\n}\n", start)]
    words = set()
    for phrase in re.findall(r'"([^"]*)"', body):
        for word in re.findall(r"[A-Za-z']+", phrase):
            words.add(word.lower())
    # Words of the C++ test's hand-checked sentences.
    words.update(["hello", "world", "quick", "brown", "fox", "butter", "button", "church", "judge", "singing",
                  "fire", "more", "bribery", "ladder", "cotton"])
    return sorted(words)


def main():
    checkout = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/bv2")
    repo = pathlib.Path(__file__).resolve().parents[2]
    ref = reference_functions(checkout)
    eng_dict = ref["read_dict"]()
    words, missing = {}, []
    for word in corpus_vocabulary(repo):
        if word.upper() not in eng_dict:
            missing.append(word)
            continue
        phones, tones = ref["refine_syllables"](eng_dict[word.upper()])
        words[word] = {"phones": [ref["post_replace_ph"](p) for p in phones], "tones": tones}
    out = {
        "source": "fishaudio/Bert-VITS2 8f7fbd8 text/english.py refine_syllables(read_dict()[WORD])",
        "words": words,
        "missing": missing,
    }
    path = repo / "tests" / "fixtures" / "bert_vits2_frontend_cmudict.json"
    path.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"wrote {path}: {len(words)} words, {len(missing)} not in CMUdict: {missing}")


if __name__ == "__main__":
    main()
