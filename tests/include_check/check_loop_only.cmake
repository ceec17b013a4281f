# Run by CTest: lists the headers <aio/event_loop.hpp> pulls in (the compiler's -M output) and
# fails if any executor, combinator or stream header is among them.
#   cmake -DCXX=<compiler> -DSOURCE=<loop_only.cpp> -DINCLUDES=<dir;dir> -P check_loop_only.cmake
set(args -std=c++20 -M)
foreach(dir IN LISTS INCLUDES)
    list(APPEND args "-I${dir}")
endforeach()
execute_process(COMMAND "${CXX}" ${args} "${SOURCE}" OUTPUT_VARIABLE deps ERROR_VARIABLE errors RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "compiling ${SOURCE} failed:\n${errors}")
endif()
set(forbidden executor.hpp thread_pool.hpp to_thread.hpp threadsafe.hpp gather.hpp wait.hpp wait_for.hpp
    as_completed.hpp shield.hpp task_group.hpp queue.hpp lock.hpp semaphore.hpp condition.hpp barrier.hpp
    event.hpp streams.hpp server.hpp socket.hpp datagram.hpp dns.hpp subprocess.hpp)
set(found "")
foreach(header IN LISTS forbidden)
    if(deps MATCHES "include/aio/${header}")
        list(APPEND found "${header}")
    endif()
endforeach()
if(found)
    message(FATAL_ERROR "<aio/event_loop.hpp> pulls in ${found}: a header that only needs the loop must not")
endif()
string(REGEX MATCHALL "include/aio/[a-z_/]+\\.hpp" aio_headers "${deps}")
list(REMOVE_DUPLICATES aio_headers)
list(LENGTH aio_headers count)
message(STATUS "<aio/event_loop.hpp> pulls in ${count} aio headers, none of them executors, combinators or streams")
