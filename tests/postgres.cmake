# tests/postgres.cmake - the postgresql:// backend's tests (included by
# tests/CMakeLists.txt). Each test runs through tests/postgres/with-postgres.sh,
# which starts a throwaway cluster (scripts/pg-throwaway.sh: PostgreSQL's
# server binaries from the postgresql package) on a free port in
# 55432-55499 and stops it afterwards, so plain `ctest` needs nothing else.
if(HANZO_WITH_POSTGRES)
  set(HDB_PG_WRAPPER ${CMAKE_CURRENT_SOURCE_DIR}/postgres/with-postgres.sh)
  if(TARGET conformance)
    add_test(NAME conformance.postgresql
             COMMAND bash ${HDB_PG_WRAPPER} $<TARGET_FILE:conformance> @URL@)
    set_tests_properties(conformance.postgresql PROPERTIES RESOURCE_LOCK hanzo_postgres TIMEOUT 600)
  endif()
  file(GLOB HDB_PG_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/postgres/test_pg_*.c)
  foreach(src ${HDB_PG_TESTS})
    get_filename_component(name ${src} NAME_WE)
    add_executable(${name} ${src})
    target_compile_options(${name} PRIVATE ${HDB_WARNINGS})
    target_compile_definitions(${name} PRIVATE _GNU_SOURCE)
    target_link_libraries(${name} PRIVATE hanzodb_static PkgConfig::CMOCKA Threads::Threads)
    add_test(NAME postgres.${name} COMMAND bash ${HDB_PG_WRAPPER} $<TARGET_FILE:${name}> @URL@)
    set_tests_properties(postgres.${name} PROPERTIES RESOURCE_LOCK hanzo_postgres TIMEOUT 600)
  endforeach()
endif()
