# engine/table's heavier harnesses (tests/table/): the crash test kills a
# committing child process at random moments (>= 200 kills, bounded to
# about two minutes) and checks that every acknowledged commit is visible
# and no partial commit is. Included by tests/CMakeLists.txt.
if(HANZO_WITH_NATIVE)
  add_executable(table_crash ${CMAKE_CURRENT_SOURCE_DIR}/table/table_crash.c)
  target_include_directories(table_crash PRIVATE ${PROJECT_SOURCE_DIR}/src
    ${CMAKE_CURRENT_SOURCE_DIR}/table)
  target_compile_options(table_crash PRIVATE ${HDB_WARNINGS})
  target_compile_definitions(table_crash PRIVATE _GNU_SOURCE)
  target_link_libraries(table_crash PRIVATE hanzodb_static)
  add_test(NAME table.crash COMMAND table_crash ${CMAKE_CURRENT_BINARY_DIR}/table-crash 200 110)
  set_tests_properties(table.crash PROPERTIES TIMEOUT 300)
endif()
