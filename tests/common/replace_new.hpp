#pragma once
// Replaces the global operator new/delete of a test program so that it can watch its own
// allocations (to show a steady state allocates nothing). Every operator new calls
// on_allocation(), which the test program defines with its own rule (count while a flag is
// set, only on some thread...). Include it in exactly one source file of the program.
#include <cstddef>
#include <cstdlib>
#include <new>

// GCC flags malloc/free inside a replaced operator new/delete once they are inlined; they
// do match here.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void on_allocation() noexcept;  // defined by the test program; must not allocate

void* operator new(std::size_t n) {
    on_allocation();
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}
