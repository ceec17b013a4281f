// aio::detail — deferred<T>(x): `x`, as an expression that depends on the template parameter
// T. Inside a `template <class = void>` function, a call whose arguments do not depend on a
// template parameter is checked, and the templates it names are instantiated, where the
// function is defined — in every unit that includes the header, whether it calls the function
// or not. Passing one argument through deferred<T> moves that work to the units that use it
// (aio.hpp's compile time is a budget: see bench/compile_time.sh).
#pragma once

namespace aio::detail {

template <class, class U>
constexpr U& deferred(U& value) noexcept {
    return value;
}

} // namespace aio::detail

namespace aio::detail {

template <class, class T>
struct deferred_type {
    using type = T;
};
/// T, as a type that depends on the template parameter D: a coroutine template returning
/// Task<deferred_t<D, X>> gets its promise type instantiated only where it is used, and a
/// std::vector<deferred_t<D, X>> its members.
template <class D, class T>
using deferred_t = typename deferred_type<D, T>::type;

} // namespace aio::detail
