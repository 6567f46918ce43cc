#pragma once

#include <sys/random.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>

namespace p2psip::media::detail {

// Fills `out` from the kernel CSPRNG (getrandom(2)); false if it is unavailable.
inline bool random_bytes(std::span<uint8_t> out) noexcept {
    size_t done = 0;
    while (done < out.size()) {
        const ssize_t n = ::getrandom(out.data() + done, out.size() - done, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        done += static_cast<size_t>(n);
    }
    return true;
}

}  // namespace p2psip::media::detail
