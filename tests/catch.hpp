// Catch2 v2 / v3 shim: tests include "catch.hpp" and get the macros and matchers
// of whichever Catch2 tests/CMakeLists.txt found (it defines AIO_CATCH2_V2 or
// AIO_CATCH2_V3). Without either macro the headers on the include path decide.
#pragma once

#if defined(AIO_CATCH2_V3)
#define AIO_CATCH2_USE_V3 1
#elif defined(AIO_CATCH2_V2)
#define AIO_CATCH2_USE_V3 0
#elif __has_include(<catch2/catch_test_macros.hpp>)
#define AIO_CATCH2_USE_V3 1
#else
#define AIO_CATCH2_USE_V3 0
#endif

#if AIO_CATCH2_USE_V3
#include <catch2/catch_approx.hpp>
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_all.hpp>
#else
#include <catch2/catch.hpp>
#endif

// Skips the rest of a test case with a message: Catch2 v3's SKIP; v2 has none, so there it
// is a warning and a return (the case counts as passed, the message says why).
#if AIO_CATCH2_USE_V3
#define AIO_SKIP(message) SKIP(message)
#else
#define AIO_SKIP(message)                                                                          \
    do {                                                                                           \
        WARN("skipped: " << message);                                                              \
        return;                                                                                    \
    } while (false)
#endif
