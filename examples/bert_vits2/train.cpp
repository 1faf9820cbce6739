// chord-vits-train: Bert-VITS2 training (chord/apps/vits_trainer.hpp; docs/programs.md has the flags).
#include <chord/apps/vits_trainer.hpp>

int main(int argc, char** argv) { return chord::apps::run_vits_trainer(argc, argv, "chord-vits-train"); }
