#pragma once
// Replaces the global operator new/delete of a test program to count allocations while
// g_counting is set (to show a steady state allocates nothing). Include it in exactly one
// source file of the test program.
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

// GCC flags malloc/free inside a replaced operator new/delete once they are inlined.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<size_t> g_allocations{0};
}  // namespace
void counted_allocation();
__attribute__((noinline)) void counted_allocation() {
    ++g_allocations;
    asm volatile("");
}
void* operator new(std::size_t n) {
    if (g_counting) counted_allocation();
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}
