#pragma once
/// @file
/// The guidance rules around SAGA-SR, in one include (one header per policy):
///  - `CrossAttentionDropout` (`cross_attention_dropout.hpp`) — stable-audio-tools' token dropout and CFG;
///  - `LatentDropout<Inner>`, `RolloffDropout<Inner>` (`extra_dropout.hpp`) — the seed's steps 3 and 2;
///  - `IndependentDropout` (`independent_dropout.hpp`) — the official rule, three branches.

#include "chord/policies/guidance/cross_attention_dropout.hpp"
#include "chord/policies/guidance/extra_dropout.hpp"
#include "chord/policies/guidance/independent_dropout.hpp"
