// Must not compile: condition signals are types, so a misspelt one is an error, not an empty lookup.
#include <chord/policies/signals.hpp>

torch::Tensor dropped_text(const chord::ConditionDrop& drop) { return drop.rows<chord::signal::Txt>(); }
