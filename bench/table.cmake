# engine/table (bench/table_bench.c): embedding inserts, a filtered full
# scan against SQLite in the same run, opening a table with 1,000 versions,
# inserts into an HNSW-indexed native:// table (tail, and with optimize).
# Run: build/table_bench [-n N] [-b BATCH] [-m SCAN_ROWS] [-v VERSIONS] [-d DIR]
#        [-x HNSW_ROWS] [-D DIMS] [-O OPTIMIZE_EVERY] [-s SECTIONS]
if(HANZO_WITH_NATIVE)
  pkg_check_modules(TBLBENCH_SQLITE3 IMPORTED_TARGET sqlite3)
  if(TBLBENCH_SQLITE3_FOUND)
    add_executable(table_bench ${CMAKE_CURRENT_SOURCE_DIR}/bench/table_bench.c)
    target_include_directories(table_bench PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
    target_compile_options(table_bench PRIVATE ${HDB_WARNINGS})
    target_compile_definitions(table_bench PRIVATE _GNU_SOURCE)
    target_link_libraries(table_bench PRIVATE hanzodb_static PkgConfig::TBLBENCH_SQLITE3)
  endif()
endif()
