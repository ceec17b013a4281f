# cmake -DAIO_PREFIX=<prefix> -DAIO_PKGCONFIG_DIR=share/pkgconfig -DAIO_CXX=<compiler>
#       -DAIO_SOURCE=<tests/consumer/main.cpp> -DAIO_WORK_DIR=<dir> -P pkg_config.cmake
#
# Builds tests/consumer/main.cpp as a user without CMake would: the compiler, -std=c++20 and
# what `pkg-config --cflags --libs aio` prints for the aio installed in <prefix> (the
# package.install test put it there), then runs it. Exits 77 (skipped) without pkg-config.
foreach(var IN ITEMS AIO_PREFIX AIO_PKGCONFIG_DIR AIO_CXX AIO_SOURCE AIO_WORK_DIR)
    if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
        message(FATAL_ERROR "pkg_config.cmake: -D${var}=... is required")
    endif()
endforeach()

find_program(PKG_CONFIG NAMES pkg-config pkgconf)
if(NOT PKG_CONFIG)
    message("pkg-config is not installed (Debian: apt-get install pkg-config): skipped")
    cmake_language(EXIT 77)
endif()

set(ENV{PKG_CONFIG_PATH} "${AIO_PREFIX}/${AIO_PKGCONFIG_DIR}")
execute_process(COMMAND "${PKG_CONFIG}" --cflags --libs aio
                OUTPUT_VARIABLE flags OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE result)
if(NOT result EQUAL 0)
    message(FATAL_ERROR "pkg-config --cflags --libs aio failed (PKG_CONFIG_PATH=$ENV{PKG_CONFIG_PATH})")
endif()
message("pkg-config --cflags --libs aio: ${flags}")
separate_arguments(flags UNIX_COMMAND "${flags}")

file(MAKE_DIRECTORY "${AIO_WORK_DIR}")
set(program "${AIO_WORK_DIR}/consumer_pkg_config")
execute_process(COMMAND "${AIO_CXX}" -std=c++20 "-DAIO_CONSUMER_MODE=\"pkg-config\""
                        "${AIO_SOURCE}" ${flags} -o "${program}"
                RESULT_VARIABLE result)
if(NOT result EQUAL 0)
    message(FATAL_ERROR "compiling with pkg-config's flags failed")
endif()
execute_process(COMMAND "${program}" OUTPUT_VARIABLE output RESULT_VARIABLE result)
message("${output}")
if(NOT result EQUAL 0 OR NOT output MATCHES "via pkg-config: answer = 42")
    message(FATAL_ERROR "the program built with pkg-config's flags failed (${result})")
endif()
