// aio::detail — std::thread and std::this_thread::get_id, without the weight.
#pragma once

// NOTE: libstdc++ 12's <thread> also brings std::jthread and <stop_token>; std::thread,
// thread::id and this_thread::get_id are in <bits/std_thread.h>, which libstdc++'s own
// <future> and <mutex> use for the same reason.
#include <version> // defines __GLIBCXX__ for libstdc++

#if defined(__GLIBCXX__) && __has_include(<bits/std_thread.h>)
#include <bits/std_thread.h>
#else
#include <thread>
#endif
