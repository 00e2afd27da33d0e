# The LSM key-value store's special harnesses (its cmocka unit tests,
# tests/unit/test_kv_*.c, are globbed with the others).
#
# kv.crash: a child process commits batches with sync=full and is killed
# with SIGKILL at random moments; after each kill the store is reopened
# and must hold exactly the acknowledged batches (plus at most the one in
# flight). 200 kills, bounded to 110 seconds.
if(HANZO_WITH_NATIVE)
  add_executable(kv_crash ${CMAKE_CURRENT_LIST_DIR}/kv/kv_crash.c)
  target_include_directories(kv_crash PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(kv_crash PRIVATE ${HDB_WARNINGS})
  target_compile_definitions(kv_crash PRIVATE _GNU_SOURCE)
  target_link_libraries(kv_crash PRIVATE hanzodb_static)
  add_test(NAME kv.crash COMMAND kv_crash ${CMAKE_CURRENT_BINARY_DIR}/kv-crash 200 110)
  set_tests_properties(kv.crash PROPERTIES TIMEOUT 180)
endif()
