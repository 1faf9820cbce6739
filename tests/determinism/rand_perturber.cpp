// Preloaded into a corpus generator by the determinism tests (LD_PRELOAD): before main() runs, it
// does what an unrelated library's start-up might do to the C library's process-wide random state,
// seeding it from the process id and drawing a varying number of values. A generator whose output
// depends on rand() (espeak-ng 1.51's breath noise does) produces different bytes under it.
#include <cstdlib>
#include <unistd.h>

namespace {
[[gnu::constructor]] void disturb_c_library_random_state() {
  const auto pid = static_cast<unsigned>(::getpid());
  std::srand(pid);
  for (unsigned i = 0; i < 1 + pid % 7; ++i) static_cast<void>(std::rand());
}
}  // namespace
