# The sqlite:// backend: the conformance suite on a database file and on
# sqlite://:memory:. Its unit tests (tests/unit/test_sql_*.c,
# test_sqlite_*.c) are globbed by tests/CMakeLists.txt, which builds them
# only with the backend.
if(HANZO_WITH_SQLITE)
  add_test(NAME conformance.sqlite
    COMMAND conformance sqlite://${CMAKE_CURRENT_BINARY_DIR}/conformance.sqlite)
  add_test(NAME conformance.sqlite_memory COMMAND conformance sqlite://:memory:)
endif()
