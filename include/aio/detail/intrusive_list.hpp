// aio::detail — the two operations of the intrusive doubly linked lists aio keeps (the loop's
// tasks and resources, a server's connections): the node carries its own prev / next pointers,
// named by member pointers, so linking never allocates.
#pragma once

namespace aio::detail {

/// Links `node` at the front of the list whose first node is `head`.
template <auto Prev, auto Next, class Node, class Head>
void link_front(Head*& head, Node& node) noexcept {
    node.*Prev = nullptr;
    node.*Next = static_cast<Node*>(head);
    if (head)
        static_cast<Node*>(head)->*Prev = &node;
    head = &node;
}

/// Unlinks `node` from the list whose first node is `head`.
template <auto Prev, auto Next, class Node, class Head>
void unlink(Head*& head, Node& node) noexcept {
    if (node.*Prev)
        node.*Prev->*Next = node.*Next;
    else if (head == &node)
        head = node.*Next;
    if (node.*Next)
        node.*Next->*Prev = node.*Prev;
    node.*Prev = node.*Next = nullptr;
}

} // namespace aio::detail
