// aio::detail — std::function and the std:: function objects, without the weight.
#pragma once

// NOTE: libstdc++ 12's <functional> also brings the C++17 searchers and with them
// <unordered_map> and <vector>; std::function and std::less alone are in these two headers,
// which libstdc++'s own <future> uses for the same reason.
#include <version> // defines __GLIBCXX__ for libstdc++

#if defined(__GLIBCXX__) && __has_include(<bits/std_function.h>) && __has_include(<bits/stl_function.h>)
#include <bits/stl_function.h>
#include <bits/std_function.h>
#else
#include <functional>
#endif
