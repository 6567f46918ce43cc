#pragma once
// Counts allocations while g_counting is set (to show a steady state allocates nothing).
// Include it in exactly one source file of the test program.
#include <atomic>
#include <cstddef>

#include "../common/replace_new.hpp"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<size_t> g_allocations{0};
}  // namespace
__attribute__((noinline)) void on_allocation() noexcept {
    if (g_counting) ++g_allocations;
    asm volatile("");
}
