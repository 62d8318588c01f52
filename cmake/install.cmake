# What `cmake --install` puts where (docs/install.md):
#   bin/coolfusion, bin/coolfusion-sandbox      the CLI and the grammar sandbox beside it
#   include/coolfusion/*.h                      the public headers (every one of them)
#   lib/libcoolfusion.a (or .so with -DBUILD_SHARED_LIBS=ON)
#                                               one library: coolfusion's layers (base,
#                                               backend, align, fusion) and the parts of
#                                               llama.cpp they use (llama, ggml and its
#                                               backends), so a user links one thing
#   lib/cmake/coolfusion/                       find_package(coolfusion): coolfusion::coolfusion
#   lib/pkgconfig/coolfusion.pc                 pkg-config --libs coolfusion (--static for the .a)
#   share/doc/coolfusion/LICENSE.llama.cpp      llama.cpp's license (its code is in the library)
# llama.cpp's own install rules are not used (its directory is EXCLUDE_FROM_ALL): nothing of
# llama.h is public here, and its static libraries are inside ours.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# The installed library looks for the sandbox in the installed bin/ (after
# $COOLFUSION_SANDBOX and the running program's own directory): a path fixed when it is
# compiled, from CMAKE_INSTALL_PREFIX. `cmake --install --prefix` elsewhere moves the files,
# not that path.
set(COOLFUSION_SANDBOX_INSTALL_PATH "${CMAKE_INSTALL_FULL_BINDIR}/coolfusion-sandbox")

# coolfusion_link_closure(OUT_PARTS OUT_EXTERNAL target): the static libraries built here that
# `target` needs, itself included (OUT_PARTS), and everything else on their link lines:
# imported targets and plain library names (OUT_EXTERNAL).
function(coolfusion_link_closure out_parts out_external target)
  set(parts "")
  set(external "")
  set(todo ${target})
  while(todo)
    list(POP_FRONT todo t)
    if(t IN_LIST parts)
      continue()
    endif()
    list(APPEND parts ${t})
    get_target_property(libs ${t} LINK_LIBRARIES)
    foreach(lib IN LISTS libs)
      # "::@..." marks where a link was added from another directory (CMP0079); flags skipped
      if(NOT lib OR lib MATCHES "^(-|::@)")
        continue()
      endif()
      if(TARGET ${lib})
        get_target_property(imported ${lib} IMPORTED)
        get_target_property(aliased ${lib} ALIASED_TARGET)
        if(aliased)
          set(lib ${aliased})
        endif()
        get_target_property(type ${lib} TYPE)
        if(NOT imported AND type MATCHES "^(STATIC|OBJECT)_LIBRARY$")
          list(APPEND todo ${lib})
          continue()
        elseif(NOT imported AND NOT type STREQUAL "INTERFACE_LIBRARY")
          message(FATAL_ERROR "cmake/install.cmake: ${t} links ${lib} (${type}), which cannot go into the installed library")
        endif()
      endif()
      list(APPEND external ${lib})
    endforeach()
  endwhile()
  list(REMOVE_DUPLICATES external)
  set(${out_parts} ${parts} PARENT_SCOPE)
  set(${out_external} ${external} PARENT_SCOPE)
endfunction()

coolfusion_link_closure(_parts _external coolfusion)

# What a user's link needs besides the library, as CMake (find_dependency + a target or
# name) and as pkg-config (Requires.private / Libs.private). A static libcoolfusion needs
# all of it; a shared one has it on its own link line already.
set(_deps_cmake "")      # find_dependency(...) lines of coolfusion-config.cmake
set(_deps_link "")       # what coolfusion::coolfusion links
set(_pc_requires "")
set(_pc_libs "")
foreach(lib IN LISTS _external)
  if(lib MATCHES "^ICU::(uc|i18n|data)$")
    list(APPEND _deps_cmake "find_dependency(ICU COMPONENTS uc i18n)")
    list(APPEND _deps_link ${lib})
    list(APPEND _pc_requires icu-${CMAKE_MATCH_1})
  elseif(lib MATCHES "^OpenMP::OpenMP_(C|CXX)$")
    # C++ is enough (a user's project need not enable C): one runtime for both.
    find_package(OpenMP REQUIRED COMPONENTS CXX)  # ggml's was found in its directory only
    list(APPEND _deps_cmake "find_dependency(OpenMP COMPONENTS CXX)")
    list(APPEND _deps_link OpenMP::OpenMP_CXX)
    foreach(name IN LISTS OpenMP_CXX_LIB_NAMES)
      list(APPEND _pc_libs -l${name})
    endforeach()
  elseif(lib STREQUAL "Threads::Threads")
    find_package(Threads REQUIRED)
    list(APPEND _deps_cmake "set(THREADS_PREFER_PTHREAD_FLAG ON)" "find_dependency(Threads)")
    list(APPEND _deps_link Threads::Threads)
    list(APPEND _pc_libs -pthread)
  elseif(NOT TARGET ${lib} AND lib MATCHES "^[A-Za-z0-9_+.-]+$")
    list(APPEND _deps_link ${lib})  # a system library by name: m, dl, rt
    list(APPEND _pc_libs -l${lib})
  else()
    message(WARNING "cmake/install.cmake: the installed library needs ${lib}, which it does "
                    "not know how to find for its users: a static link against it may fail")
  endif()
endforeach()
list(REMOVE_DUPLICATES _deps_cmake)
list(REMOVE_DUPLICATES _deps_link)
list(REMOVE_DUPLICATES _pc_requires)
list(REMOVE_DUPLICATES _pc_libs)

# The installed library: the objects of every part, the sandbox's path compiled again.
set(_objects "")
foreach(t IN LISTS _parts)
  list(APPEND _objects "$<FILTER:$<TARGET_OBJECTS:${t}>,EXCLUDE,/grammar_sandbox_path\\.cc\\.o$>")
endforeach()
# BUILD_SHARED_LIBS (top CMakeLists.txt) picks static or shared.
add_library(coolfusion_package ${_objects} ${PROJECT_SOURCE_DIR}/src/backend/grammar_sandbox_path.cc)
add_library(coolfusion::coolfusion ALIAS coolfusion_package)
target_compile_definitions(coolfusion_package PRIVATE
                           COOLFUSION_SANDBOX_PATH="${COOLFUSION_SANDBOX_INSTALL_PATH}")
target_include_directories(coolfusion_package
  PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
  PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_compile_features(coolfusion_package PUBLIC cxx_std_20)
target_link_libraries(coolfusion_package PRIVATE ${_deps_link})
coolfusion_warnings(coolfusion_package)
set_target_properties(coolfusion_package PROPERTIES
  OUTPUT_NAME coolfusion
  EXPORT_NAME coolfusion
  ARCHIVE_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib
  LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib
  # 0.x: each minor version may change the ABI
  VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
# Position-independent either way: the static library too can go into a shared object
# (the Python extension, python/, links it; so may a user's plugin). Debian's default -fpie
# objects cannot. No speed difference measured in the executables (docs/python.md).
set_target_properties(${_parts} coolfusion_package PROPERTIES POSITION_INDEPENDENT_CODE ON)
if(BUILD_SHARED_LIBS)
  # Only coolfusion's own symbols are exported: llama.cpp's and ggml's stay inside, so a
  # program may use another llama.cpp beside this one. Every dependency is on the link line.
  set(_map ${PROJECT_SOURCE_DIR}/cmake/libcoolfusion.map)
  target_link_options(coolfusion_package PRIVATE LINKER:--version-script=${_map} LINKER:--no-undefined)
  set_property(TARGET coolfusion_package APPEND PROPERTY LINK_DEPENDS ${_map})
endif()

install(TARGETS coolfusion-cli coolfusion-sandbox RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/coolfusion DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")
install(TARGETS coolfusion_package EXPORT coolfusion-targets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${COOLFUSION_LLAMA_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME LICENSE.llama.cpp)

set(_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/coolfusion)
install(EXPORT coolfusion-targets NAMESPACE coolfusion:: DESTINATION ${_cmake_dir})
if(BUILD_SHARED_LIBS)
  set(COOLFUSION_FIND_DEPENDENCIES "")
else()
  list(JOIN _deps_cmake "\n" COOLFUSION_FIND_DEPENDENCIES)
endif()
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/coolfusion-config.cmake.in
                              ${CMAKE_BINARY_DIR}/coolfusion-config.cmake
                              INSTALL_DESTINATION ${_cmake_dir})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/coolfusion-config-version.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/coolfusion-config.cmake
              ${CMAKE_BINARY_DIR}/coolfusion-config-version.cmake
        DESTINATION ${_cmake_dir})

# Relocatable: the prefix is found from where the .pc file is (pkg-config's ${pcfiledir}).
file(RELATIVE_PATH COOLFUSION_PC_PREFIX_FROM_PCDIR ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig
     ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" COOLFUSION_PC_PREFIX_FROM_PCDIR "${COOLFUSION_PC_PREFIX_FROM_PCDIR}")
foreach(d LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${d}}")
    set(COOLFUSION_PC_${d} "${CMAKE_INSTALL_${d}}")
  else()
    set(COOLFUSION_PC_${d} "\${prefix}/${CMAKE_INSTALL_${d}}")
  endif()
endforeach()
list(JOIN _pc_requires " " COOLFUSION_PC_REQUIRES_PRIVATE)
list(JOIN _pc_libs " " COOLFUSION_PC_LIBS_PRIVATE)
configure_file(${PROJECT_SOURCE_DIR}/cmake/coolfusion.pc.in ${CMAKE_BINARY_DIR}/coolfusion.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/coolfusion.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
