# sqlite:// against raw libsqlite3 (bench/sqlite_bench.c), built when the
# backend is (HANZO_WITH_SQLITE). Run: build/sqlite_bench [N [Q [DIM [DIR]]]]
# (defaults 100000 1000 384 /tmp). The raw side registers the backend's own
# distance function, hence the internal include path.
if(HANZO_WITH_SQLITE)
  add_executable(sqlite_bench ${CMAKE_CURRENT_SOURCE_DIR}/bench/sqlite_bench.c)
  target_include_directories(sqlite_bench PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_compile_options(sqlite_bench PRIVATE ${HDB_WARNINGS})
  target_compile_definitions(sqlite_bench PRIVATE _GNU_SOURCE)
  target_link_libraries(sqlite_bench PRIVATE hanzodb_static m)
endif()
