// chord-vits-infer: Bert-VITS2 inference on cleaned phones (chord/apps/vits_infer.hpp; docs/programs.md has the flags).
#include <chord/apps/vits_infer.hpp>

int main(int argc, char** argv) { return chord::apps::run_vits_infer(argc, argv, "chord-vits-infer"); }
