# ma_pkg.m4: pkg-config checks that name the Debian package to install.
#
# MA_REQUIRE_PKG(VARIABLE-PREFIX, MODULE [>= VERSION], DEBIAN-PACKAGE)
# Sets VARIABLE-PREFIX_CFLAGS and VARIABLE-PREFIX_LIBS, or stops configure
# with "apt-get install DEBIAN-PACKAGE". The minimum version is the one the
# code needs (configure.ac says which call needs it).
AC_DEFUN([MA_REQUIRE_PKG], [
  PKG_CHECK_MODULES([$1], [$2], [],
    [AC_MSG_ERROR([pkg-config module '$2' not found: install or upgrade the Debian package $3 (apt-get install $3)])])
])

# AX_PTHREAD_SIMPLE: POSIX threads through the compiler driver (glibc).
AC_DEFUN([AX_PTHREAD_SIMPLE], [
  PTHREAD_CFLAGS="-pthread"
  PTHREAD_LIBS="-pthread"
  AC_SUBST([PTHREAD_CFLAGS])
  AC_SUBST([PTHREAD_LIBS])
])
