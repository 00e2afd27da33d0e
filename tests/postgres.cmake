# tests/postgres.cmake - the postgresql:// backend's tests (included by
# tests/CMakeLists.txt). Each test runs through tests/postgres/with-postgres.sh,
# which starts a throwaway cluster (scripts/pg-throwaway.sh: PostgreSQL's
# server binaries from the postgresql package) on a free port in
# 55432-55499 and stops it afterwards, so plain `ctest` needs nothing else.
#
# The conformance suite runs twice: without pgvector (?pgvector=off: bytea
# vectors, exact search in the client) and with it (?pgvector=on: vector
# columns, hnsw / ivfflat indexes). Tests that need pgvector (the second
# run and test_pg_pgvector) go through `with-postgres.sh --pgvector`, which
# exits 77 with the reason when the server lacks the extension
# (scripts/fetch-pgvector.sh installs it): ctest reports them skipped.
if(HANZO_WITH_POSTGRES)
  set(HDB_PG_WRAPPER ${CMAKE_CURRENT_SOURCE_DIR}/postgres/with-postgres.sh)
  if(TARGET conformance)
    add_test(NAME conformance.postgresql
             COMMAND bash ${HDB_PG_WRAPPER} $<TARGET_FILE:conformance> @URL@?pgvector=off)
    set_tests_properties(conformance.postgresql PROPERTIES RESOURCE_LOCK hanzo_postgres TIMEOUT 600)
    add_test(NAME conformance.postgresql_pgvector
             COMMAND bash ${HDB_PG_WRAPPER} --pgvector $<TARGET_FILE:conformance> @URL@?pgvector=on)
    set_tests_properties(conformance.postgresql_pgvector PROPERTIES RESOURCE_LOCK hanzo_postgres
                         TIMEOUT 600 SKIP_RETURN_CODE 77)
  endif()
  file(GLOB HDB_PG_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/postgres/test_pg_*.c)
  foreach(src ${HDB_PG_TESTS})
    get_filename_component(name ${src} NAME_WE)
    add_executable(${name} ${src})
    target_compile_options(${name} PRIVATE ${HDB_WARNINGS})
    target_compile_definitions(${name} PRIVATE _GNU_SOURCE)
    target_link_libraries(${name} PRIVATE hanzodb_static PkgConfig::CMOCKA Threads::Threads)
    set(wrap_opts "")
    if(name STREQUAL "test_pg_pgvector")
      # Looks at the server's catalog itself (libpq), besides the API.
      target_link_libraries(${name} PRIVATE PkgConfig::LIBPQ m)
      set(wrap_opts "--pgvector")
    endif()
    add_test(NAME postgres.${name} COMMAND bash ${HDB_PG_WRAPPER} ${wrap_opts} $<TARGET_FILE:${name}> @URL@)
    set_tests_properties(postgres.${name} PROPERTIES RESOURCE_LOCK hanzo_postgres TIMEOUT 600
                         SKIP_RETURN_CODE 77)
  endforeach()
endif()
