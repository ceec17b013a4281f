// aio::detail — what aio uses of <algorithm> (min, max, copy, swap and the heap functions),
// without the weight.
#pragma once

// NOTE: libstdc++ 12's <algorithm> in C++20 mode also brings the ranges algorithms
// (<bits/ranges_algo.h>) and <bits/stl_algo.h>, 8,000 lines aio never uses; min, max, copy and
// swap are in <bits/stl_algobase.h>, the heap functions in <bits/stl_heap.h>, which libstdc++'s
// own <queue> and <vector> use for the same reason.
#include <version> // defines __GLIBCXX__ for libstdc++

#if defined(__GLIBCXX__) && __has_include(<bits/stl_algobase.h>) && __has_include(<bits/stl_heap.h>)
#include <bits/stl_algobase.h>
#include <bits/stl_heap.h>
#else
#include <algorithm>
#endif
