# kiln-runtime-tests: the GoogleTest cases of the C runtime
# (test/unit/Runtime*Test.cpp), a separate executable that links only the
# runtime, zlib and GoogleTest. Included from test/unit/CMakeLists.txt, after
# find_package(GTest) and include(GoogleTest) there.
add_executable(kiln-runtime-tests
  ${PROJECT_SOURCE_DIR}/test/unit/RuntimeCheckpointTest.cpp
  ${PROJECT_SOURCE_DIR}/test/unit/RuntimeCudaTest.cpp
  ${PROJECT_SOURCE_DIR}/test/unit/RuntimeReaderTest.cpp
  ${PROJECT_SOURCE_DIR}/test/unit/RuntimeTensorTest.cpp
)
target_link_libraries(kiln-runtime-tests PRIVATE kiln_runtime ZLIB::ZLIB GTest::gtest_main)
gtest_discover_tests(kiln-runtime-tests DISCOVERY_TIMEOUT 60)
