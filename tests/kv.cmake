# The LSM key-value store's special harnesses (its cmocka unit tests,
# tests/unit/test_kv_*.c, are globbed with the others).
#
# kv.crash: a child process commits batches with sync=full and is killed
# with SIGKILL at random moments; after each kill the store is reopened
# and must hold exactly the acknowledged batches (plus at most the one in
# flight). 200 kills, bounded to 110 seconds.
#
# kv.readers: one writer process and 3 reader processes attached without
# the lock (reader mode): whole batches only, monotonic reads, acknowledged
# writes visible, while flushes and compactions delete files under the
# readers; a second writer gets HDB_BUSY, then succeeds once the first
# exits; a torn WAL tail is "not yet written" for a reader; gets from 4
# threads through a tiny block cache over lz4 and zstd tables. About 8 s.
if(HANZO_WITH_NATIVE)
  add_executable(kv_crash ${CMAKE_CURRENT_LIST_DIR}/kv/kv_crash.c)
  target_include_directories(kv_crash PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(kv_crash PRIVATE ${HDB_WARNINGS})
  target_compile_definitions(kv_crash PRIVATE _GNU_SOURCE)
  target_link_libraries(kv_crash PRIVATE hanzodb_static)
  add_test(NAME kv.crash COMMAND kv_crash ${CMAKE_CURRENT_BINARY_DIR}/kv-crash 200 110)
  set_tests_properties(kv.crash PROPERTIES TIMEOUT 180)

  add_executable(kv_readers ${CMAKE_CURRENT_LIST_DIR}/kv/kv_readers.c)
  target_include_directories(kv_readers PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(kv_readers PRIVATE ${HDB_WARNINGS})
  target_compile_definitions(kv_readers PRIVATE _GNU_SOURCE)
  target_link_libraries(kv_readers PRIVATE hanzodb_static Threads::Threads)
  add_test(NAME kv.readers COMMAND kv_readers ${CMAKE_CURRENT_BINARY_DIR}/kv-readers 5)
  set_tests_properties(kv.readers PROPERTIES TIMEOUT 60)
endif()
