// Runs a libFuzzer target function once over every file of its corpus, without libFuzzer:
// a regression test for inputs the fuzzers found (and for the seeds) that every build runs.
//   fuzz_replay PATH...   (files, or directories whose regular files are all fed)
// A path that does not exist is an error; an optional path may be prefixed with '?'.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace fs = std::filesystem;

int main(int argc, char** argv) {
    std::vector<fs::path> inputs;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        const bool optional = !arg.empty() && arg[0] == '?';
        fs::path p = optional ? arg.substr(1) : arg;
        std::error_code ec;
        if (fs::is_directory(p, ec)) {
            for (const auto& e : fs::directory_iterator(p, ec))
                if (e.is_regular_file()) inputs.push_back(e.path());
        } else if (fs::is_regular_file(p, ec)) {
            inputs.push_back(p);
        } else if (!optional) {
            std::fprintf(stderr, "fuzz_replay: no such file or directory: %s\n", p.c_str());
            return 1;
        }
    }
    std::sort(inputs.begin(), inputs.end());
    if (inputs.empty()) {
        std::fprintf(stderr, "fuzz_replay: no inputs\n");
        return 1;
    }
    for (const auto& p : inputs) {
        std::ifstream f(p, std::ios::binary);
        std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()), data.size());
    }
    std::printf("fuzz_replay: %zu inputs ok\n", inputs.size());
    return 0;
}
