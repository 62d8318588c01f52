# Resolves llama.cpp for coolfusion, in this order:
#   1. COOLFUSION_LLAMA_SOURCE_DIR=<dir>: an existing llama.cpp source tree with the patches
#      in patches/llama.cpp applied (coolfusion needs patch 0002's RPC failure API);
#   2. third_party/llama.cpp, fetched pinned, hash-checked and patched by scripts/fetch_llama.sh.
# An installed (stock) llama.cpp is not supported: it lacks the patched RPC client.
# Only libllama and ggml are built: no examples, tools, tests, server or common.
set(COOLFUSION_LLAMA_SOURCE_DIR "" CACHE PATH "an existing, patched llama.cpp source tree")

set(_llama_dir "${COOLFUSION_LLAMA_SOURCE_DIR}")
if(NOT _llama_dir)
  set(_llama_dir "${PROJECT_SOURCE_DIR}/third_party/llama.cpp")
endif()
if(NOT EXISTS "${_llama_dir}/include/llama.h")
  message(FATAL_ERROR "llama.cpp not found in ${_llama_dir}: run scripts/fetch_llama.sh, "
                      "or pass -DCOOLFUSION_LLAMA_SOURCE_DIR=<dir> (a patched tree)")
endif()
set(COOLFUSION_LLAMA_DIR "${_llama_dir}" CACHE INTERNAL "")

set(LLAMA_BUILD_COMMON OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_TESTS OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_TOOLS OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_EXAMPLES OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_SERVER OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_APP OFF CACHE BOOL "" FORCE)
set(LLAMA_OPENSSL OFF CACHE BOOL "" FORCE)
set(LLAMA_CURL OFF CACHE BOOL "" FORCE)
set(LLAMA_ALL_WARNINGS OFF CACHE BOOL "" FORCE)
# llama.cpp's libraries are static, linked into coolfusion's (and into libcoolfusion.so with
# -DBUILD_SHARED_LIBS=ON, which this directory-scoped OFF leaves for cmake/install.cmake).
set(_coolfusion_shared "${BUILD_SHARED_LIBS}")
set(BUILD_SHARED_LIBS OFF)
# Portable by default so a ccache filled on one machine serves CI; -DGGML_NATIVE=ON for speed.
set(GGML_NATIVE OFF CACHE BOOL "")
set(GGML_AVX2 ON CACHE BOOL "")
set(GGML_FMA ON CACHE BOOL "")
set(GGML_F16C ON CACHE BOOL "")
# ggml's RPC backend: a model's layers can run on `rpc-server` workers (-m A.gguf@rpc=HOST:PORT).
set(GGML_RPC ON CACHE BOOL "" FORCE)
add_subdirectory("${_llama_dir}" "${CMAKE_BINARY_DIR}/llama.cpp" EXCLUDE_FROM_ALL)
set(BUILD_SHARED_LIBS "${_coolfusion_shared}")
# llama.cpp's RPC worker, from the same pinned source (build/bin/rpc-server).
if(EXISTS "${_llama_dir}/tools/rpc/rpc-server.cpp")
  add_executable(rpc-server "${_llama_dir}/tools/rpc/rpc-server.cpp")
  target_link_libraries(rpc-server PRIVATE ggml)
  set_target_properties(rpc-server PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
endif()
