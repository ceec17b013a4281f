// aio — asyncio for C++20. This umbrella header brings in every public header.
#pragma once

#include <aio/as_completed.hpp>
#include <aio/barrier.hpp>
#include <aio/condition.hpp>
#include <aio/config.hpp>
#include <aio/errors.hpp>
#include <aio/event.hpp>
#include <aio/event_loop.hpp>
#include <aio/executor.hpp>
#include <aio/format.hpp>
#include <aio/gather.hpp>
#include <aio/handle.hpp>
#include <aio/io.hpp>
#include <aio/lock.hpp>
#include <aio/queue.hpp>
#include <aio/result.hpp>
#include <aio/run.hpp>
#include <aio/semaphore.hpp>
#include <aio/shield.hpp>
#include <aio/sleep.hpp>
#include <aio/task.hpp>
#include <aio/task_group.hpp>
#include <aio/threadsafe.hpp>
#include <aio/to_thread.hpp>
#include <aio/wait.hpp>
#include <aio/wait_for.hpp>
