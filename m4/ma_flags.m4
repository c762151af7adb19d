# ma_flags.m4: warning, sanitizer and fuzzing flags.

# MA_WARNINGS: -Wall -Wextra -Werror and a few more that catch real bugs.
AC_DEFUN([MA_WARNINGS], [
  MA_WARN_CFLAGS="-Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith -Wno-format-nonliteral"
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

# MA_FUZZ: --enable-fuzz builds the libFuzzer targets (needs CC=clang).
AC_DEFUN([MA_FUZZ], [
  AC_ARG_ENABLE([fuzz],
    [AS_HELP_STRING([--enable-fuzz], [build libFuzzer targets under tests/fuzz (CC=clang)])],
    [], [enable_fuzz=no])
  AM_CONDITIONAL([ENABLE_FUZZ], [test "x$enable_fuzz" = xyes])
])
