# The native:// backend (src/backends/native/): the conformance suite on a
# fresh directory, plus its unit tests (tests/unit/test_native_*.c, picked
# up by tests/CMakeLists.txt only when HANZO_WITH_NATIVE is on).
if(HANZO_WITH_NATIVE)
  add_test(NAME conformance.native.reset
    COMMAND ${CMAKE_COMMAND} -E rm -rf ${CMAKE_CURRENT_BINARY_DIR}/conformance-native)
  add_test(NAME conformance.native
    COMMAND conformance native://${CMAKE_CURRENT_BINARY_DIR}/conformance-native)
  set_tests_properties(conformance.native PROPERTIES DEPENDS conformance.native.reset TIMEOUT 900)
endif()
