// aio::detail — std::chrono, without the weight.
#pragma once

// NOTE: libstdc++ 12's <chrono> includes <sstream> in C++20 mode (for chrono::parse and
// formatting), which is a quarter of a hello world's compile time. Everything aio and its
// users need from it here — durations, time points, steady_clock, std::chrono_literals — is
// in <bits/chrono.h>, which libstdc++'s own <thread> and <mutex> use for the same reason.
#include <version> // defines __GLIBCXX__ for libstdc++

#if defined(__GLIBCXX__) && __has_include(<bits/chrono.h>)
#include <bits/chrono.h>
#else
#include <chrono>
#endif
