# cmake "-DAIO_EXAMPLES=name1=/path/to/exe1|name2=/path/to/exe2" \
#       [-DAIO_EXPECTED_DIR=<dir with <name>.expected or <name>/<name>.expected files>]
#       -P run_examples.cmake
#
# Runs each example in turn, printing "== name ==" before its output. An example
# fails when it exits non-zero or, if <name>.expected exists, when its output
# does not contain a match for each regular expression listed there (one per
# line, matched in order; blank lines and lines starting with # are ignored).
# Runs them all, then fails if any failed.
if(NOT DEFINED AIO_EXAMPLES OR AIO_EXAMPLES STREQUAL "")
    message(FATAL_ERROR "run_examples.cmake: -DAIO_EXAMPLES=name=exe|... is required")
endif()

string(REPLACE "|" ";" examples "${AIO_EXAMPLES}")
set(failed "")

foreach(entry IN LISTS examples)
    if(NOT entry MATCHES "^([^=]+)=(.+)$")
        message(FATAL_ERROR "run_examples.cmake: bad entry '${entry}', expected name=path")
    endif()
    set(name "${CMAKE_MATCH_1}")
    set(exe "${CMAKE_MATCH_2}")

    execute_process(COMMAND "${CMAKE_COMMAND}" -E echo "== ${name} ==")
    # Shows the output as it comes and keeps it (stdout and stderr together) to check it.
    execute_process(COMMAND "${exe}"
        RESULT_VARIABLE result
        OUTPUT_VARIABLE output
        ERROR_VARIABLE output
        ECHO_OUTPUT_VARIABLE
        ECHO_ERROR_VARIABLE)

    set(problem "")
    if(NOT result STREQUAL "0")
        set(problem "exited with ${result}")
    elseif(DEFINED AIO_EXPECTED_DIR AND (EXISTS "${AIO_EXPECTED_DIR}/${name}.expected" OR
                                         EXISTS "${AIO_EXPECTED_DIR}/${name}/${name}.expected"))
        set(expected "${AIO_EXPECTED_DIR}/${name}.expected")
        if(NOT EXISTS "${expected}")
            set(expected "${AIO_EXPECTED_DIR}/${name}/${name}.expected") # a directory example
        endif()
        file(STRINGS "${expected}" patterns)
        set(rest "${output}")
        foreach(pattern IN LISTS patterns)
            if(pattern STREQUAL "" OR pattern MATCHES "^#")
                continue()
            endif()
            string(REGEX MATCH "${pattern}" match "${rest}")
            if(match STREQUAL "")
                set(problem "output does not match '${pattern}' (see ${name}.expected)")
                break()
            endif()
            # Later patterns must match after this one.
            string(FIND "${rest}" "${match}" at)
            string(LENGTH "${match}" length)
            math(EXPR at "${at} + ${length}")
            string(SUBSTRING "${rest}" ${at} -1 rest)
        endforeach()
    endif()

    if(NOT problem STREQUAL "")
        execute_process(COMMAND "${CMAKE_COMMAND}" -E echo "!! ${name}: ${problem}")
        list(APPEND failed "${name}")
    endif()
endforeach()

if(failed)
    list(JOIN failed ", " failed)
    message(FATAL_ERROR "examples failed: ${failed}")
endif()
