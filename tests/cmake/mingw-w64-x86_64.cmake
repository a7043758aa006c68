# tests/cmake/mingw-w64-x86_64.cmake - CMake toolchain file: build for 64-bit
# Windows with MinGW-w64's GCC (Debian: gcc-mingw-w64-x86-64), the compiler of
# Rust's x86_64-pc-windows-gnu target that mmkit.dll is built for.
#
#   cmake -S tests/cmake -B build/cmake-win \
#         -DCMAKE_TOOLCHAIN_FILE=$PWD/tests/cmake/mingw-w64-x86_64.cmake \
#         -DCMAKE_PREFIX_PATH=/abs/windows/prefix [-DMMKIT_USE_STATIC_LIBS=ON]
#   cmake --build build/cmake-win && wine build/cmake-win/consumer.exe
#
# The prefix holds bin/mmkit.dll, lib/libmmkit.dll.a, lib/libmmkit.a,
# include/mmkit.h and lib/cmake/mmkit/. Libraries and headers are searched only
# in MinGW's own root and in the prefixes given, never in the host's /usr.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(MINGW_TRIPLET x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${MINGW_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${MINGW_TRIPLET}-g++)
set(CMAKE_RC_COMPILER ${MINGW_TRIPLET}-windres)

# The target's root: MinGW's headers and libraries. The prefixes in
# CMAKE_PREFIX_PATH are searched as they are (a search path already inside a
# root is not moved under it), so they are roots too.
list(APPEND CMAKE_FIND_ROOT_PATH /usr/${MINGW_TRIPLET} ${CMAKE_PREFIX_PATH})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Programs run under wine where it is installed (try_run, tests, the crosscompiling emulator).
find_program(MINGW_WINE NAMES wine64 wine)
if(MINGW_WINE)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${MINGW_WINE})
endif()
