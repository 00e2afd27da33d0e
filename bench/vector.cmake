# bench/vector.cmake - the vector benchmark (bench/vector_bench.c) and its
# C++ shim over the peers (bench/vector_peers.cpp: hnswlib, Faiss). Meant to
# be included from the top-level CMakeLists.txt (its glob of bench/*.cmake). C++ is enabled here only, and only when a C++
# compiler exists; peers that are not installed are left out (the table then
# shows hanzo-db alone). Debian: apt-get install libhnswlib-dev libfaiss-dev
# libopenblas-dev liblapack-dev.
if(HANZO_WITH_NATIVE)
  set(_vb_dir ${CMAKE_CURRENT_LIST_DIR})
  include(CheckLanguage)
  check_language(CXX)
  find_path(HDB_HNSWLIB_INCLUDE hnswlib/hnswlib.h)
  find_path(HDB_FAISS_INCLUDE faiss/IndexHNSW.h)
  find_library(HDB_FAISS_LIB faiss)
  find_library(HDB_OPENBLAS_LIB openblas)
  find_library(HDB_LAPACK_LIB lapack)

  add_executable(vector_bench ${_vb_dir}/vector_bench.c)
  target_include_directories(vector_bench PRIVATE ${PROJECT_SOURCE_DIR}/src
                             ${PROJECT_SOURCE_DIR}/tests/vector ${_vb_dir})
  target_compile_options(vector_bench PRIVATE ${HDB_WARNINGS})
  target_compile_definitions(vector_bench PRIVATE _GNU_SOURCE)
  target_link_libraries(vector_bench PRIVATE hanzodb_static m)

  set(_vb_peers "")
  set(_vb_faiss OFF)
  if(CMAKE_CXX_COMPILER AND HDB_HNSWLIB_INCLUDE)
    list(APPEND _vb_peers HDB_BENCH_HNSWLIB=1)
  endif()
  if(CMAKE_CXX_COMPILER AND HDB_FAISS_INCLUDE AND HDB_FAISS_LIB AND HDB_OPENBLAS_LIB AND HDB_LAPACK_LIB)
    list(APPEND _vb_peers HDB_BENCH_FAISS=1)
    set(_vb_faiss ON)
  endif()
  if(_vb_peers)
    enable_language(CXX)
    add_library(vector_peers STATIC ${_vb_dir}/vector_peers.cpp)
    target_include_directories(vector_peers PRIVATE ${_vb_dir})
    target_compile_definitions(vector_peers PRIVATE ${_vb_peers})
    # hnswlib picks its SIMD at compile time: build it for this machine.
    include(CheckCXXCompilerFlag)
    check_cxx_compiler_flag(-march=native HDB_CXX_MARCH_NATIVE)
    target_compile_options(vector_peers PRIVATE -O3 -fopenmp
      $<$<BOOL:${HDB_CXX_MARCH_NATIVE}>:-march=native>)
    target_link_libraries(vector_bench PRIVATE vector_peers)
    if(_vb_faiss)
      target_link_libraries(vector_bench PRIVATE ${HDB_FAISS_LIB} ${HDB_OPENBLAS_LIB}
                            ${HDB_LAPACK_LIB} -fopenmp stdc++)
    else()
      target_link_libraries(vector_bench PRIVATE -fopenmp stdc++)
    endif()
  else()
    target_compile_definitions(vector_bench PRIVATE HDB_BENCH_NO_PEERS=1)
  endif()
endif()
