# Warnings and sanitizers for every Vexil target.
add_compile_options(-Wall -Wextra -Wshadow -Wstrict-prototypes
                    -Wmissing-prototypes -Wno-missing-field-initializers
                    -Wformat=2 -Wvla)
# Truncating into fixed buffers (error paths, messages) is intended:
# snprintf bounds it. GCC only: clang has no such warning.
if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
  add_compile_options(-Wno-format-truncation)
endif()
add_compile_definitions(_GNU_SOURCE)
if(VX_WERROR)
  add_compile_options(-Werror)
endif()

set(_vx_san "")
if(VX_ASAN)
  list(APPEND _vx_san address)
endif()
if(VX_UBSAN)
  list(APPEND _vx_san undefined)
endif()
if(VX_TSAN)
  list(APPEND _vx_san thread)
endif()
if(VX_FUZZ)
  list(APPEND _vx_san fuzzer-no-link)
endif()
if(_vx_san)
  list(JOIN _vx_san "," _vx_san_list)
  add_compile_options(-fsanitize=${_vx_san_list} -fno-omit-frame-pointer
                      -fno-sanitize-recover=all)
  if(VX_ASAN OR VX_UBSAN OR VX_TSAN)
    string(REPLACE "fuzzer-no-link" "" _vx_link_san "${_vx_san_list}")
    string(REGEX REPLACE ",+$" "" _vx_link_san "${_vx_link_san}")
    string(REGEX REPLACE "^,+" "" _vx_link_san "${_vx_link_san}")
    if(_vx_link_san)
      add_link_options(-fsanitize=${_vx_link_san})
    endif()
  endif()
endif()

# vx_add_test(NAME SOURCES... [LIBS ...]): a cmocka test registered with ctest.
function(vx_add_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} PkgConfig::CMOCKA)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src
                                             ${PROJECT_SOURCE_DIR}/tests)
  add_test(NAME ${name} COMMAND ${name})
endfunction()
