# bench/ivfpq.cmake - the IVF-PQ benchmark (bench/ivfpq_bench.c) and its C++
# shim over Faiss IndexIVFPQ (bench/ivfpq_faiss.cpp). Included from the
# top-level CMakeLists.txt (its glob of bench/*.cmake). C++ is enabled here
# only when a C++ compiler and Faiss (libfaiss-dev, libopenblas-dev,
# liblapack-dev) are found; otherwise the benchmark shows hanzo-db alone.
if(HANZO_WITH_NATIVE)
  set(_ivb_dir ${CMAKE_CURRENT_LIST_DIR})
  include(CheckLanguage)
  check_language(CXX)
  find_path(HDB_FAISS_IVFPQ_INCLUDE faiss/IndexIVFPQ.h)
  find_library(HDB_FAISS_LIB faiss)
  find_library(HDB_OPENBLAS_LIB openblas)
  find_library(HDB_LAPACK_LIB lapack)

  add_executable(ivfpq_bench ${_ivb_dir}/ivfpq_bench.c)
  target_include_directories(ivfpq_bench PRIVATE ${PROJECT_SOURCE_DIR}/src
                             ${PROJECT_SOURCE_DIR}/tests/vector ${_ivb_dir})
  target_compile_options(ivfpq_bench PRIVATE ${HDB_WARNINGS})
  target_compile_definitions(ivfpq_bench PRIVATE _GNU_SOURCE)
  target_link_libraries(ivfpq_bench PRIVATE hanzodb_static m)
  if(CMAKE_CXX_COMPILER AND HDB_FAISS_IVFPQ_INCLUDE AND HDB_FAISS_LIB AND HDB_OPENBLAS_LIB
     AND HDB_LAPACK_LIB)
    enable_language(CXX)
    add_library(ivfpq_faiss STATIC ${_ivb_dir}/ivfpq_faiss.cpp)
    target_include_directories(ivfpq_faiss PRIVATE ${_ivb_dir})
    target_compile_options(ivfpq_faiss PRIVATE -O3 -fopenmp)
    target_link_libraries(ivfpq_bench PRIVATE ivfpq_faiss ${HDB_FAISS_LIB} ${HDB_OPENBLAS_LIB}
                          ${HDB_LAPACK_LIB} -fopenmp stdc++)
  else()
    target_compile_definitions(ivfpq_bench PRIVATE HDB_BENCH_NO_FAISS=1)
  endif()
endif()
