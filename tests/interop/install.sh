#!/usr/bin/env bash
# The installed library as a stranger uses it: `cmake --install` into a temporary prefix,
# then examples/echo_server.c and echo_client.c built against the installed files only
# (through pkg-config, and through CMake's find_package), linked to the installed
# libhandoff.so, and run: a message goes through the echo and comes back;
# examples/custom_cc.c (a plug-in congestion controller) built the same way
# registers its controller. Also: the
# installed SONAME, the handoff command, and `man -l` on the installed handoff(1).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_tools cmake pkg-config cc man readelf
BUILD=${HO_BUILD:-$HO_SRC/build}
P=$T/prefix
if timeout 120 cmake --install "$BUILD" --prefix "$P" >"$T/install.log" 2>&1; then
    pass "cmake --install into a temporary prefix"
else
    fail "cmake --install failed"
    show "$T/install.log"
    finish
fi
LIBDIR=$(dirname "$(find "$P" -name 'libhandoff.so' | head -n 1)")
for f in "$LIBDIR/libhandoff.a" "$P/include/handoff/quic.h" "$P/bin/handoff" "$LIBDIR/pkgconfig/handoff.pc" \
    "$LIBDIR/cmake/handoff/handoffConfig.cmake" "$P/share/man/man1/handoff.1"; do
    if [ -e "$f" ]; then pass "installed ${f#"$P"/}"; else fail "not installed: ${f#"$P"/}"; fi
done
soname=$(readelf -d "$LIBDIR/libhandoff.so" 2>/dev/null | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
if [ "$soname" = "libhandoff.so.0" ] && [ -e "$LIBDIR/$soname" ]; then
    pass "libhandoff.so has SONAME $soname, installed with its version links"
else
    fail "libhandoff.so SONAME: '$soname'"
fi
if man -l "$P/share/man/man1/handoff.1" 2>"$T/man.err" | grep -q "handoff serve"; then
    pass "man -l renders handoff(1)"
else
    fail "man -l handoff.1 did not render"
    show "$T/man.err"
fi
"$P/bin/handoff" --help >"$T/help.out" 2>&1
check "installed handoff --help" "$T/help.out" "handoff serve"

# The sanitizer build's objects need their runtime in whatever links them.
SAN=""
grep -q '^HO_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt" 2>/dev/null && SAN="-fsanitize=address,undefined"
export PKG_CONFIG_PATH=$LIBDIR/pkgconfig
if cflags=$(pkg-config --cflags handoff 2>"$T/pc.err") && libs=$(pkg-config --libs handoff 2>>"$T/pc.err"); then
    pass "pkg-config --cflags --libs handoff: $cflags $libs"
else
    fail "pkg-config --cflags --libs handoff failed"
    show "$T/pc.err"
fi

# run_echo TAG DIR: DIR/echo_server and DIR/echo_client, linked to the installed .so, echo a message.
run_echo() {
    local tag=$1 dir=$2 msg="installed echo via $1"
    if ! LD_LIBRARY_PATH="$LIBDIR" ldd "$dir/echo_server" | grep -q "$LIBDIR/libhandoff.so.0"; then
        fail "$tag: echo_server is not linked to the installed libhandoff.so"
        LD_LIBRARY_PATH="$LIBDIR" ldd "$dir/echo_server" | sed 's/^/    | /'
        return
    fi
    gen_ec_cert
    start_echo "$T/$tag.srv.log" env LD_LIBRARY_PATH="$LIBDIR" "$dir/echo_server" 0 "$T/ec.crt" "$T/ec.key"
    local srv=$ECHO_PID port=$EPORT
    if [ -z "$port" ]; then
        fail "$tag: echo_server did not start"
        show "$T/$tag.srv.log"
        stop_bg "$srv"
        return
    fi
    LD_LIBRARY_PATH="$LIBDIR" timeout 30 "$dir/echo_client" --cafile "$T/ec.crt" 127.0.0.1 "$port" "$msg" \
        >"$T/$tag.out" 2>"$T/$tag.err"
    if [ "$(cat "$T/$tag.out")" = "$msg" ]; then
        pass "$tag: echo through the installed library"
    else
        fail "$tag: echo failed"
        show "$T/$tag.err" "$T/$tag.srv.log"
    fi
    stop_bg "$srv"
}

# 1. pkg-config
mkdir -p "$T/pc"
ok=1
for ex in echo_server echo_client custom_cc; do
    # shellcheck disable=SC2086 # word splitting of the flags is intended
    cc $SAN -o "$T/pc/$ex" "$HO_SRC/examples/$ex.c" $cflags $libs >"$T/pc/$ex.log" 2>&1 ||
        { ok=0; fail "pkg-config: building $ex failed"; show "$T/pc/$ex.log"; }
done
[ "$ok" -eq 1 ] && pass "pkg-config: examples built against the installed headers and library" && run_echo pkg-config "$T/pc"
# custom_cc: a congestion controller of its own, registered through the
# installed handoff/quic_cc.h and libhandoff.so.
if [ -x "$T/pc/custom_cc" ] && LD_LIBRARY_PATH="$LIBDIR" timeout 30 "$T/pc/custom_cc" >"$T/pc/custom_cc.out" 2>&1 &&
    grep -q 'registered "aimd-example"' "$T/pc/custom_cc.out"; then
    pass "pkg-config: custom_cc registered its controller through the installed library"
else
    fail "pkg-config: custom_cc did not register its controller"
    show "$T/pc/custom_cc.out"
fi

# 2. find_package(handoff)
mkdir -p "$T/cm-src"
cp "$HO_SRC/examples/echo_server.c" "$HO_SRC/examples/echo_client.c" "$T/cm-src/"
cat >"$T/cm-src/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.20)
project(uses_handoff C)
find_package(handoff 0.1 REQUIRED)
foreach(name echo_server echo_client)
  add_executable(${name} ${name}.c)
  target_link_libraries(${name} PRIVATE handoff::handoff)
endforeach()
CM
if timeout 120 cmake -S "$T/cm-src" -B "$T/cm" -DCMAKE_PREFIX_PATH="$P" -DCMAKE_C_FLAGS="$SAN" \
    >"$T/cm.log" 2>&1 && timeout 300 cmake --build "$T/cm" >>"$T/cm.log" 2>&1; then
    pass "find_package(handoff): examples built"
    run_echo find_package "$T/cm"
else
    fail "find_package(handoff): configure or build failed"
    show "$T/cm.log"
fi
finish
