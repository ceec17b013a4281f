// fetch_pages.cpp — fetching pages concurrently, with a timeout per page (aio::wait_for,
// gathered with aio::gather) and then all-or-nothing (aio::TaskGroup).
//
// The "network" is simulated: fetching a page is an aio::sleep of the page's latency, and a
// URL containing "broken" fails like an HTTP 500. The program runs on the test clock
// (virtual_time) so that the times it prints are exact; without it, it prints the same lines
// in real time (about 0.35 s).
//
// Output:
//     == gather: every page, each with a 250 ms timeout ==
//       [ 80 ms] fetched /index.html (1100 bytes)
//       [120 ms] fetched /about.html (1100 bytes)
//       [200 ms] fetched /news.html (1000 bytes)
//       [250 ms] /huge.iso cancelled
//       [250 ms] /huge.iso timed out after 250 ms
//     results in argument order:
//       /news.html: 1000 bytes
//       /huge.iso: timed out
//       /index.html: 1100 bytes
//       /about.html: 1100 bytes
//     4 pages in 250 ms (one after the other: 1300 ms)
//     == TaskGroup: all pages or none ==
//       [ 80 ms] fetched /index.html (1100 bytes)
//       [100 ms] /broken.html failed: HTTP 500 for /broken.html
//       [100 ms] /news.html cancelled
//       [100 ms] /about.html cancelled
//     join() raised an ExceptionGroup with 1 error: HTTP 500 for /broken.html
//
// wait_for cancels the slow download and waits until it has finished cancelling ("cancelled"
// comes before "timed out"); the TaskGroup's first failure cancels the other downloads (in
// no particular order) and join() reports it.

#include <aio/aio.hpp>

#include <fmt/core.h>

#include <chrono>
#include <cstddef>
#include <exception>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

struct Page {
    std::string url;
    std::size_t bytes;
};

struct Link {
    std::string url;
    std::chrono::milliseconds latency;
};

aio::Clock::time_point start;

long long now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(aio::get_running_loop().time() - start).count();
}

// "Downloads" a page: as long as its latency; a broken URL fails.
aio::Task<Page> fetch(Link link) {
    try {
        co_await aio::sleep(link.latency);
    } catch (const aio::CancelledError&) {
        fmt::print("  [{:3} ms] {} cancelled\n", now_ms(), link.url);
        throw;
    }
    if (link.url.find("broken") != std::string::npos) {
        fmt::print("  [{:3} ms] {} failed: HTTP 500 for {}\n", now_ms(), link.url, link.url);
        throw std::runtime_error("HTTP 500 for " + link.url);
    }
    Page page{link.url, link.url.size() * 100};
    fmt::print("  [{:3} ms] fetched {} ({} bytes)\n", now_ms(), page.url, page.bytes);
    co_return page;
}

// A page, or nothing if it takes longer than `timeout` (the fetch is then cancelled).
aio::Task<std::optional<Page>> fetch_with_timeout(Link link, aio::Clock::duration timeout) {
    try {
        co_return co_await aio::wait_for(fetch(link), timeout);
    } catch (const aio::TimeoutError&) {
        fmt::print("  [{:3} ms] {} timed out after {} ms\n", now_ms(), link.url,
                   std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count());
    }
    co_return std::nullopt;
}

aio::Task<> with_gather(std::vector<Link> links) {
    fmt::print("== gather: every page, each with a 250 ms timeout ==\n");
    start = aio::get_running_loop().time();
    std::vector<aio::Task<std::optional<Page>>> fetches;
    for (const Link& link : links) fetches.push_back(fetch_with_timeout(link, 250ms));
    std::vector<std::optional<Page>> pages = co_await aio::gather(std::move(fetches));

    fmt::print("results in argument order:\n");
    std::chrono::milliseconds sequential{0};
    for (std::size_t i = 0; i < links.size(); ++i) {
        sequential += links[i].latency;
        if (pages[i]) fmt::print("  {}: {} bytes\n", links[i].url, pages[i]->bytes);
        else fmt::print("  {}: timed out\n", links[i].url);
    }
    fmt::print("{} pages in {} ms (one after the other: {} ms)\n", links.size(), now_ms(), sequential.count());
}

aio::Task<> with_task_group(std::vector<Link> links) {
    fmt::print("== TaskGroup: all pages or none ==\n");
    start = aio::get_running_loop().time();
    aio::TaskGroup group;
    std::vector<aio::Task<Page>> tasks;
    for (const Link& link : links) tasks.push_back(group.create_task(fetch(link)));
    try {
        co_await group.join(); // the first failure cancels the other fetches
        fmt::print("all {} pages fetched\n", tasks.size());
    } catch (const aio::ExceptionGroup& errors) {
        std::string first;
        try {
            std::rethrow_exception(errors.exceptions().front());
        } catch (const std::exception& e) {
            first = e.what();
        }
        fmt::print("join() raised an ExceptionGroup with {} error{}: {}\n", errors.exceptions().size(),
                   errors.exceptions().size() == 1 ? "" : "s", first);
    }
}

std::vector<Link> links(std::initializer_list<std::pair<const char*, int>> list) {
    std::vector<Link> out;
    for (auto [url, ms] : list) out.push_back(Link{url, std::chrono::milliseconds(ms)});
    return out;
}

aio::Task<> main_task() {
    // (Built outside the co_await expressions: g++ 12 miscompiles braced lists of strings there.)
    std::vector<Link> mixed = links({{"/news.html", 200}, {"/huge.iso", 900}, {"/index.html", 80}, {"/about.html", 120}});
    std::vector<Link> one_broken =
        links({{"/index.html", 80}, {"/broken.html", 100}, {"/about.html", 120}, {"/news.html", 200}});
    co_await with_gather(std::move(mixed));
    co_await with_task_group(std::move(one_broken));
}

} // namespace

int main() {
    aio::RunOptions options;
    options.virtual_time = true; // exact times in the output; remove to run on the real clock
    aio::run(main_task(), options);
}
