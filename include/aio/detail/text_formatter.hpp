// aio::detail — the base of aio's fmt formatters: no format spec, the text as is.
#pragma once

#include <aio/detail/algorithm.hpp>

#include <fmt/core.h>

#include <string_view>

namespace aio::detail {

/// Formats the text a describe function returns; takes no format spec.
struct TextFormatter {
    constexpr auto parse(fmt::format_parse_context& ctx) { return ctx.begin(); }
    template <class Context>
    auto write(std::string_view text, Context& ctx) const {
        // NOTE: not fmt::format_to(ctx.out(), ...): with Debian's g++-built libfmt 9, clang++
        // mangles the vformat_to it calls differently and the link fails.
        return std::copy(text.begin(), text.end(), ctx.out());
    }
};

} // namespace aio::detail
