# IVF-PQ tests beyond the globbed unit test: the slow recall test
# (100k x 128, persist and reopen), labelled "slow" and "vector" so it runs
# once in the ordinary build (ctest -LE slow skips it, e.g. under the
# sanitizers). Included by tests/CMakeLists.txt (every tests/*.cmake is).
if(HANZO_WITH_NATIVE)
  add_executable(test_vec_ivfpq_large ${CMAKE_CURRENT_SOURCE_DIR}/vector/test_vec_ivfpq_large.c)
  target_include_directories(test_vec_ivfpq_large PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(test_vec_ivfpq_large PRIVATE ${HDB_WARNINGS})
  target_compile_definitions(test_vec_ivfpq_large PRIVATE _GNU_SOURCE)
  target_link_libraries(test_vec_ivfpq_large PRIVATE hanzodb_static PkgConfig::CMOCKA)
  add_test(NAME vector.ivfpq_large COMMAND test_vec_ivfpq_large)
  set_tests_properties(vector.ivfpq_large PROPERTIES LABELS "slow;vector" TIMEOUT 900)
  if(TEST unit.test_vec_ivfpq)
    set_tests_properties(unit.test_vec_ivfpq PROPERTIES LABELS "vector")
  endif()
endif()
