# bench/postgres.cmake - the postgresql:// benchmark (bench/pg_bench.c):
# hanzo-db against raw libpq doing the same work on one server. Run it
# against a throwaway cluster with bench/pg_bench.sh.
if(HANZO_WITH_POSTGRES)
  add_executable(pg_bench ${PROJECT_SOURCE_DIR}/bench/pg_bench.c)
  target_compile_options(pg_bench PRIVATE ${HDB_WARNINGS})
  target_compile_definitions(pg_bench PRIVATE _GNU_SOURCE)
  target_link_libraries(pg_bench PRIVATE hanzodb_static PkgConfig::LIBPQ m)
endif()
