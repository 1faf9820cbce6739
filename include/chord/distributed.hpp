#pragma once
/// @file
/// Multi-process training (not part of `chord/chord.hpp`: programs that use it include this header).
/// Launch any chord trainer with `torchrun --nproc-per-node=N --no-python <program> ...`; see
/// docs/distributed.md.

#include "chord/distributed/launch.hpp"
#include "chord/distributed/process_group.hpp"
