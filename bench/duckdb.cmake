# duckdb:// against the raw DuckDB C API (bench/duckdb_bench.c), built when
# the backend is (HANZO_WITH_DUCKDB). Run: build/duckdb_bench [N [Q [DIM [URL]]]]
if(HANZO_WITH_DUCKDB)
  add_executable(duckdb_bench ${CMAKE_CURRENT_SOURCE_DIR}/bench/duckdb_bench.c)
  target_compile_options(duckdb_bench PRIVATE ${HDB_WARNINGS})
  target_compile_definitions(duckdb_bench PRIVATE _GNU_SOURCE)
  target_link_libraries(duckdb_bench PRIVATE hanzodb_static hdb_duckdb m)
endif()
