# Vector engine tests beyond the globbed unit tests: the slow recall test
# (100k x 128, parallel build, persist and reopen), labelled "slow" and
# "vector" so CI can pick it: ctest -L vector, or skip it: ctest -LE slow.
# Included by tests/CMakeLists.txt (every tests/*.cmake is).
if(HANZO_WITH_NATIVE)
  add_executable(test_vec_hnsw_large ${CMAKE_CURRENT_SOURCE_DIR}/vector/test_vec_hnsw_large.c)
  target_include_directories(test_vec_hnsw_large PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(test_vec_hnsw_large PRIVATE ${HDB_WARNINGS})
  target_compile_definitions(test_vec_hnsw_large PRIVATE _GNU_SOURCE)
  target_link_libraries(test_vec_hnsw_large PRIVATE hanzodb_static PkgConfig::CMOCKA)
  add_test(NAME vector.hnsw_large COMMAND test_vec_hnsw_large)
  set_tests_properties(vector.hnsw_large PROPERTIES LABELS "slow;vector" TIMEOUT 900)
  # The specialised HNSW loops per SIMD level and dimension against the
  # exact scan (bit-identical distances), and the visited-tag wrap.
  add_executable(test_vec_hnsw_paths ${CMAKE_CURRENT_SOURCE_DIR}/vector/test_vec_hnsw_paths.c)
  target_include_directories(test_vec_hnsw_paths PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(test_vec_hnsw_paths PRIVATE ${HDB_WARNINGS})
  target_compile_definitions(test_vec_hnsw_paths PRIVATE _GNU_SOURCE)
  target_link_libraries(test_vec_hnsw_paths PRIVATE hanzodb_static PkgConfig::CMOCKA m)
  add_test(NAME vector.hnsw_paths COMMAND test_vec_hnsw_paths)
  set_tests_properties(vector.hnsw_paths PROPERTIES LABELS "vector")
  # Dimension 65,536 (HDB_MAX_VECTOR_DIM) through the public API on a
  # native:// table: HNSW and IVF-PQ, recall, reopen, NaN/dimension checks.
  add_executable(test_vec_dim64k ${CMAKE_CURRENT_SOURCE_DIR}/vector/test_vec_dim64k.c)
  target_include_directories(test_vec_dim64k PRIVATE ${PROJECT_SOURCE_DIR}/include)
  target_compile_options(test_vec_dim64k PRIVATE ${HDB_WARNINGS})
  target_compile_definitions(test_vec_dim64k PRIVATE _GNU_SOURCE)
  target_link_libraries(test_vec_dim64k PRIVATE hanzodb_static PkgConfig::CMOCKA m)
  add_test(NAME vector.dim64k COMMAND test_vec_dim64k)
  # "slow": about 20-30 s here (writing and fsyncing 60 MB of 256 KiB rows).
  set_tests_properties(vector.dim64k PROPERTIES LABELS "slow;vector" TIMEOUT 900)
  # The unit tests of this module also carry the "vector" label.
  foreach(t test_vec_kernels test_vec_flat test_vec_hnsw)
    if(TEST unit.${t})
      set_tests_properties(unit.${t} PROPERTIES LABELS "vector")
    endif()
  endforeach()
endif()
