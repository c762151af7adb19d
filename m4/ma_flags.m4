# ma_flags.m4: warning and sanitizer flags (fuzz targets: tests/fuzz/run.sh).

# MA_WARNINGS: -Wall -Wextra and a few more that catch real bugs; -Werror
# only with --enable-werror (CI and scripts/test pass it), so a newer
# compiler's new warning does not stop a user's build.
AC_DEFUN([MA_WARNINGS], [
  AC_ARG_ENABLE([werror],
    [AS_HELP_STRING([--enable-werror], [treat compiler warnings as errors (CI)])],
    [], [enable_werror=no])
  MA_WARN_CFLAGS="-Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith -Wno-format-nonliteral"
  AS_IF([test "x$enable_werror" = xyes], [MA_WARN_CFLAGS="$MA_WARN_CFLAGS -Werror"])
  AC_SUBST([MA_WARN_CFLAGS])
])

# MA_SANITIZERS: --enable-sanitizers builds everything with ASan + UBSan.
AC_DEFUN([MA_SANITIZERS], [
  AC_ARG_ENABLE([sanitizers],
    [AS_HELP_STRING([--enable-sanitizers], [build with AddressSanitizer and UndefinedBehaviorSanitizer])],
    [], [enable_sanitizers=no])
  MA_SAN_CFLAGS=""
  AS_IF([test "x$enable_sanitizers" = xyes], [
    MA_SAN_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"
  ])
  AC_SUBST([MA_SAN_CFLAGS])
])

