# cmake -DAIO_BUILD_DIR=<build> -DAIO_PREFIX=<prefix> [-DAIO_CONFIG=<cfg>]
#       [-DAIO_INCLUDEDIR=include] [-DAIO_CMAKEDIR=share/cmake/aio] -P install.cmake
#
# Installs aio from a build tree into a fresh prefix (the setup step of the
# package.find_package test): the prefix is removed first so that no header
# left over from an earlier run can hide a missing install rule.
foreach(var IN ITEMS AIO_BUILD_DIR AIO_PREFIX)
    if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
        message(FATAL_ERROR "install.cmake: -D${var}=... is required")
    endif()
endforeach()

file(REMOVE_RECURSE "${AIO_PREFIX}")

set(config_args "")
if(DEFINED AIO_CONFIG AND NOT "${AIO_CONFIG}" STREQUAL "")
    set(config_args --config "${AIO_CONFIG}")
endif()

execute_process(
    COMMAND "${CMAKE_COMMAND}" --install "${AIO_BUILD_DIR}" --prefix "${AIO_PREFIX}" ${config_args}
    RESULT_VARIABLE result)
if(NOT result EQUAL 0)
    message(FATAL_ERROR "cmake --install ${AIO_BUILD_DIR} --prefix ${AIO_PREFIX} failed: ${result}")
endif()

# The pieces a find_package(aio) user relies on (paths relative to the prefix
# unless the project was configured with absolute install directories).
if(NOT DEFINED AIO_INCLUDEDIR)
    set(AIO_INCLUDEDIR include)
endif()
if(NOT DEFINED AIO_CMAKEDIR)
    set(AIO_CMAKEDIR share/cmake/aio)
endif()
foreach(file IN ITEMS
        "${AIO_INCLUDEDIR}/aio/aio.hpp"
        "${AIO_INCLUDEDIR}/aio/config.hpp"
        "${AIO_CMAKEDIR}/aioConfig.cmake"
        "${AIO_CMAKEDIR}/aioConfigVersion.cmake"
        "${AIO_CMAKEDIR}/aioTargets.cmake")
    if(NOT IS_ABSOLUTE "${file}")
        set(file "${AIO_PREFIX}/${file}")
    endif()
    if(NOT EXISTS "${file}")
        message(FATAL_ERROR "install.cmake: ${file} was not installed")
    endif()
endforeach()
message(STATUS "aio installed into ${AIO_PREFIX}")
