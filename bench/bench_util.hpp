// Shared helpers for the aio benchmarks: clocks, medians, argument parsing and
// the result table (aligned text for the terminal, plus a markdown row for the
// README).
//
// Each benchmark program registers one "series" per implementation (aio, the
// hand-written floor, Boost.Asio). A series is a function that does the whole
// workload once and returns nanoseconds per operation. The runner does one
// untimed warm-up run of every series, then R timed rounds; inside a round the
// series run one after another (aio, hand-written, Asio), so slow drift of the
// machine (frequency, other people's builds) hits every column alike. The
// median of the R values is what the table shows.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace bench {

// ---------------------------------------------------------------- clocks ----

inline std::int64_t clock_ns(clockid_t id) {
    timespec ts{};
    ::clock_gettime(id, &ts);
    return std::int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
// Wall time, monotonic.
inline std::int64_t wall_ns() { return clock_ns(CLOCK_MONOTONIC); }
// CPU time consumed by the calling thread (user + system), excluding time spent
// blocked in epoll_wait / nanosleep.
inline std::int64_t thread_cpu_ns() { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }

// Keeps the compiler from deleting a computation whose result is unused.
template <class T>
inline void do_not_optimize(T const& value) {
    asm volatile("" : : "r,m"(value) : "memory");
}

// ------------------------------------------------------------ statistics ----

inline double median(std::vector<double> v) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    std::size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

// ------------------------------------------------------------- arguments ----

struct Options {
    int reps = 7;
    bool quiet = false;     // only the markdown row
};

inline void usage(const char* prog) {
    std::printf("usage: %s [--reps N] [--quiet]\n"
                "  --reps N   timed repetitions per implementation (default 7); the median is shown\n"
                "  --quiet    print only the markdown table row\n",
                prog);
}

inline Options parse_args(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if ((a == "--reps" || a == "-r") && i + 1 < argc) {
            o.reps = std::atoi(argv[++i]);
        } else if (a.rfind("--reps=", 0) == 0) {
            o.reps = std::atoi(a.c_str() + 7);
        } else if (a == "--quiet" || a == "-q") {
            o.quiet = true;
        } else if (a == "--help" || a == "-h") {
            usage(argv[0]);
            std::exit(0);
        } else {
            std::fprintf(stderr, "unknown argument: %s\n", a.c_str());
            usage(argv[0]);
            std::exit(2);
        }
    }
    if (o.reps < 1) {
        std::fprintf(stderr, "--reps must be >= 1\n");
        std::exit(2);
    }
    return o;
}

// ----------------------------------------------------------------- runner ----

inline constexpr const char* kAio = "aio";
inline constexpr const char* kHand = "hand-written";
inline constexpr const char* kAsio = "Asio";

struct Series {
    std::string name;
    std::function<double()> run;   // does the workload once, returns ns per op
    std::string missing;           // non-empty: not built (reason)
    std::vector<double> samples;
    double med() const { return median(samples); }
    bool available() const { return missing.empty(); }
};

// What the acceptance list asks of aio, checked against the medians.
struct Target {
    std::string text;     // e.g. "aio <= 2x hand-written"
    bool checkable;       // false when a needed column is missing
    bool met;
    std::string detail;   // e.g. "1.43x"
};

class Runner {
public:
    Runner(std::string key, std::string title, std::string unit)
        : key_(std::move(key)), title_(std::move(title)), unit_(std::move(unit)) {}

    void add(std::string name, std::function<double()> fn) {
        series_.push_back({std::move(name), std::move(fn), {}, {}});
    }
    void add_missing(std::string name, std::string why) {
        series_.push_back({std::move(name), {}, std::move(why), {}});
    }

    // Median ns/op of a series, or nullopt if it was not built.
    std::optional<double> med(const std::string& name) const {
        for (auto& s : series_)
            if (s.name == name && s.available() && !s.samples.empty()) return s.med();
        return std::nullopt;
    }

    void run(const Options& o) {
        if (!o.quiet) {
            std::printf("== %s ==\n", title_.c_str());
            std::printf("   %s; median of %d reps (after 1 warm-up), build: %s\n", unit_.c_str(),
                        o.reps, build_info().c_str());
            std::fflush(stdout);
        }
        for (auto& s : series_)
            if (s.available()) do_not_optimize(s.run());   // warm-up: page in, grow pools
        for (int r = 0; r < o.reps; ++r)
            for (auto& s : series_)
                if (s.available()) s.samples.push_back(s.run());
    }

    // Prints the aligned table, the targets and the markdown row.
    // Returns 0 if every checkable target was met, 1 otherwise.
    int report(const Options& o, const std::vector<Target>& targets,
               const std::string& target_summary) const {
        auto hand = med(kHand);
        auto asio = med(kAsio);
        if (!o.quiet) {
            std::printf("   %-14s %11s %11s %11s %15s %10s\n", "implementation", "median", "min", "max",
                        "x hand-written", "x Asio");
            for (auto& s : series_) {
                if (!s.available()) {
                    std::printf("   %-14s %11s   (%s)\n", s.name.c_str(), "n/a", s.missing.c_str());
                    continue;
                }
                double m = s.med();
                auto [mn, mx] = std::minmax_element(s.samples.begin(), s.samples.end());
                std::printf("   %-14s %11.2f %11.2f %11.2f %15s %10s\n", s.name.c_str(), m, *mn, *mx,
                            ratio(m, hand).c_str(), ratio(m, asio).c_str());
            }
            std::printf("   (ns/op; 'x hand-written' = this / hand-written, 'x Asio' = this / Asio: lower is faster)\n");
            for (auto& t : targets) {
                std::printf("   target: %-44s %s%s%s\n", t.text.c_str(),
                            !t.checkable ? "n/a" : t.met ? "MET" : "MISSED",
                            t.detail.empty() ? "" : "  ", t.detail.c_str());
            }
            std::printf("   markdown:\n");
            print_markdown_header();
        }
        print_markdown_row(targets, target_summary);
        std::fflush(stdout);
        bool ok = true;
        for (auto& t : targets) ok = ok && (!t.checkable || t.met);
        return ok ? 0 : 1;
    }

    static void print_markdown_header() {
        std::printf("| benchmark | aio ns/op | hand-written ns/op | Asio ns/op | aio / hand-written | Asio / aio | target | met |\n");
        std::printf("| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |\n");
    }

    static std::string build_info() {
        std::string s;
#if defined(__clang__)
        s += "clang++ " __clang_version__;
#elif defined(__GNUC__)
        s += "g++ " __VERSION__;
#endif
#if defined(__OPTIMIZE__)
        s += ", optimized";
#else
        s += ", NOT OPTIMIZED (numbers are meaningless; use the bench preset)";
#endif
#if !defined(NDEBUG)
        s += ", assertions on";
#endif
        return s;
    }

private:
    static std::string ratio(double v, std::optional<double> ref) {
        if (!ref || *ref <= 0) return "n/a";
        char b[32];
        std::snprintf(b, sizeof b, "%.2fx", v / *ref);
        return b;
    }
    static std::string num(std::optional<double> v) {
        if (!v) return "n/a";
        char b[32];
        std::snprintf(b, sizeof b, *v < 100 ? "%.1f" : "%.0f", *v);
        return b;
    }

    void print_markdown_row(const std::vector<Target>& targets, const std::string& target_summary) const {
        auto a = med(kAio), h = med(kHand), s = med(kAsio);
        std::string aio_hand = (a && h) ? ratio(*a, h) : "n/a";
        std::string asio_aio = (a && s) ? ratio(*s, a) : "n/a";
        bool any = false, ok = true;
        for (auto& t : targets)
            if (t.checkable) { any = true; ok = ok && t.met; }
        std::printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", title_.c_str(), num(a).c_str(),
                    num(h).c_str(), num(s).c_str(), aio_hand.c_str(), asio_aio.c_str(),
                    target_summary.c_str(), !any ? "n/a" : ok ? "yes" : "**no**");
    }

    std::string key_, title_, unit_;
    std::vector<Series> series_;
};

// Helpers to build targets.
inline Target target_ratio_at_most(const std::string& text, std::optional<double> num,
                                   std::optional<double> den, double limit) {
    if (!num || !den) return {text, false, false, ""};
    double r = *num / *den;
    char b[64];
    std::snprintf(b, sizeof b, "%.2fx (limit %.2fx)", r, limit);
    return {text, true, r <= limit, b};
}
inline Target target_ratio_at_least(const std::string& text, std::optional<double> num,
                                    std::optional<double> den, double limit) {
    if (!num || !den) return {text, false, false, ""};
    double r = *num / *den;
    char b[64];
    std::snprintf(b, sizeof b, "%.1fx (need >= %.1fx)", r, limit);
    return {text, true, r >= limit, b};
}
inline Target target_abs_at_most(const std::string& text, std::optional<double> v, double limit) {
    if (!v) return {text, false, false, ""};
    char b[64];
    std::snprintf(b, sizeof b, "%.1f ns (limit %.0f ns)", *v, limit);
    return {text, true, *v <= limit, b};
}

}  // namespace bench
