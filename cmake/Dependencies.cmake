# All dependencies are Debian packages (see ./run setup). Libraries that only ship
# pkg-config files are imported through pkg-config; their include directories are
# SYSTEM so -Werror does not apply to third-party headers.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

pkg_check_modules(OPENDHT REQUIRED IMPORTED_TARGET opendht)
pkg_check_modules(NICE REQUIRED IMPORTED_TARGET nice)
pkg_check_modules(SRTP2 REQUIRED IMPORTED_TARGET libsrtp2)
pkg_check_modules(OPUS REQUIRED IMPORTED_TARGET opus)
pkg_check_modules(PORTAUDIO REQUIRED IMPORTED_TARGET portaudio-2.0)
pkg_check_modules(SNDFILE REQUIRED IMPORTED_TARGET sndfile)
pkg_check_modules(GNUTLS REQUIRED IMPORTED_TARGET gnutls)
pkg_check_modules(SPEEXDSP REQUIRED IMPORTED_TARGET speexdsp)

# Only the SIP parser benchmark's reference; the bench builds without it.
pkg_check_modules(OSIP2 IMPORTED_TARGET libosip2)
# The NAT testbed's delay program (tests/nat/testbed); without it the testbed tests skip.
pkg_check_modules(NETFILTER_QUEUE IMPORTED_TARGET libnetfilter_queue)

find_package(Protobuf REQUIRED)
find_package(Boost 1.74 REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
if(P2PSIP_TESTS)
  find_package(GTest REQUIRED)
endif()

# Boost.Asio without deprecated interfaces; one io_context per node, no Boost.System library.
add_library(p2psip_asio INTERFACE)
target_link_libraries(p2psip_asio INTERFACE Boost::headers Threads::Threads)
target_compile_definitions(p2psip_asio INTERFACE BOOST_ASIO_NO_DEPRECATED)
# Boost 1.74's Asio uses std::exchange without including <utility> (breaks in C++20 with
# GCC 12); force it first so include order and clang-format cannot break the build.
target_compile_options(p2psip_asio INTERFACE -include utility)

# Helper: one gtest executable per test file, each test registered with ctest.
function(p2psip_add_gtest name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main)
  gtest_discover_tests(${name}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    DISCOVERY_MODE PRE_TEST
    PROPERTIES TIMEOUT 300)
endfunction()
