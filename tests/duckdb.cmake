# duckdb:// tests (included by tests/CMakeLists.txt): the conformance suite
# against a database file and against :memory:, the backend's own tests
# (tests/duckdb/test_duck_*.c, through the public API), and the fetch
# script's cache. Only when the backend is built (HANZO_WITH_DUCKDB).
# Executables find libduckdb.so through the build tree's RUNPATH, which CMake
# sets from the imported hdb_duckdb target: no LD_LIBRARY_PATH needed.
if(HANZO_WITH_DUCKDB)
  if(TARGET conformance)
    add_test(NAME conformance.duckdb
      COMMAND conformance duckdb://${CMAKE_CURRENT_BINARY_DIR}/conformance.duckdb)
    add_test(NAME conformance.duckdb_memory COMMAND conformance duckdb://:memory:)
  endif()

  file(GLOB HDB_DUCK_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/duckdb/test_duck_*.c)
  foreach(src ${HDB_DUCK_TESTS})
    get_filename_component(name ${src} NAME_WE)
    add_executable(${name} ${src})
    target_compile_options(${name} PRIVATE ${HDB_WARNINGS})
    target_compile_definitions(${name} PRIVATE _GNU_SOURCE
      HDB_DUCK_TEST_DIR="${CMAKE_CURRENT_BINARY_DIR}/duckdb-work")
    target_link_libraries(${name} PRIVATE hanzodb_static PkgConfig::CMOCKA)
    add_test(NAME duckdb.${name} COMMAND ${name})
  endforeach()

  add_test(NAME duckdb.fetch_script
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/duckdb/test_fetch_script.sh
      ${PROJECT_SOURCE_DIR} ${HANZO_DUCKDB_DIR} ${CMAKE_CURRENT_BINARY_DIR}/duckdb-fetch-work)
endif()
