# weir_add_module(NAME <module> DEPS <modules...> LIBS <external targets...>)
#
# Declares src/<module>/ as the static library weir_<module>. Its sources are the .cc files of
# that folder; its include root is src/, so code includes "memory/segment.h". Only the modules
# named in DEPS are linked, which is how the layer DAG of the architecture is enforced: a module
# that includes a header of a module it does not depend on fails to link.
function(weir_add_module)
  cmake_parse_arguments(ARG "" "NAME" "DEPS;LIBS" ${ARGN})
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/${ARG_NAME}/*.cc)
  # A module with no .cc yet (templates only) is an INTERFACE library with the same deps.
  if(sources)
    add_library(weir_${ARG_NAME} STATIC ${sources})
    set(scope PUBLIC)
  else()
    add_library(weir_${ARG_NAME} INTERFACE)
    set(scope INTERFACE)
  endif()
  target_include_directories(weir_${ARG_NAME} ${scope} ${CMAKE_SOURCE_DIR}/src)
  foreach(dep IN LISTS ARG_DEPS)
    target_link_libraries(weir_${ARG_NAME} ${scope} weir_${dep})
  endforeach()
  if(ARG_LIBS)
    target_link_libraries(weir_${ARG_NAME} ${scope} ${ARG_LIBS})
  endif()
endfunction()

# weir_add_test_suite(<module> [LIBS ...]): tests/<module>/*_test.cc -> weir_<module>_test.
function(weir_add_test_suite module)
  cmake_parse_arguments(ARG "" "" "LIBS" ${ARGN})
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/${module}/*_test.cc)
  if(NOT sources)
    return()
  endif()
  add_executable(weir_${module}_test ${sources})
  target_include_directories(weir_${module}_test PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  target_link_libraries(weir_${module}_test PRIVATE weir_${module} ${ARG_LIBS} GTest::gtest GTest::gmock GTest::gtest_main)
  gtest_discover_tests(weir_${module}_test DISCOVERY_TIMEOUT 60 PROPERTIES LABELS ${module})
endfunction()

# weir_add_bench_suite(<module> [LIBS ...]): bench/<module>/*_bench.cc -> weir_<module>_bench.
function(weir_add_bench_suite module)
  cmake_parse_arguments(ARG "" "" "LIBS" ${ARGN})
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/bench/${module}/*_bench.cc)
  if(NOT sources)
    return()
  endif()
  add_executable(weir_${module}_bench ${sources})
  target_link_libraries(weir_${module}_bench PRIVATE weir_${module} ${ARG_LIBS} benchmark::benchmark benchmark::benchmark_main)
  set_target_properties(weir_${module}_bench PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
endfunction()
