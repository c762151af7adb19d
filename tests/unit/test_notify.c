/* test_notify.c: srv_notify (src/server/notify.c) sends what systemd's
 * Type=notify unit waits for, to a path or an abstract socket, and does
 * nothing outside systemd. */
#include "server/notify.h"
#include "unit.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* A datagram socket bound to name (a path, or "@..." for an abstract one). */
static int listener(const char *name)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    CU_ASSERT_FATAL(fd >= 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t len = strlen(name);
    memcpy(sa.sun_path, name, len);
    if (name[0] == '@')
        sa.sun_path[0] = '\0';
    else
        unlink(name);
    CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sa,
                         (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) == 0);
    return fd;
}

static void expect(int fd, const char *want)
{
    char buf[128];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    CU_ASSERT_FATAL(n >= 0);
    buf[n] = '\0';
    ASSERT_STR(buf, want);
}

static void test_path_socket(void)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/ma-notify-%d.sock", (int)getpid());
    int fd = listener(path);
    setenv("NOTIFY_SOCKET", path, 1);
    CU_ASSERT_EQUAL(srv_notify("READY=1"), 1);
    expect(fd, "READY=1");
    CU_ASSERT_EQUAL(srv_notify("STOPPING=1"), 1);
    expect(fd, "STOPPING=1");
    close(fd);
    unlink(path);
}

static void test_abstract_socket(void)
{
    char name[64];
    snprintf(name, sizeof(name), "@ma-notify-%d", (int)getpid());
    int fd = listener(name);
    setenv("NOTIFY_SOCKET", name, 1);
    CU_ASSERT_EQUAL(srv_notify("RELOADING=1"), 1);
    expect(fd, "RELOADING=1");
    close(fd);
}

static void test_outside_systemd(void)
{
    unsetenv("NOTIFY_SOCKET");
    CU_ASSERT_EQUAL(srv_notify("READY=1"), 0);
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    CU_ASSERT_EQUAL(srv_notify("READY=1"), -1);
    setenv("NOTIFY_SOCKET", "/tmp/ma-notify-nobody-listens.sock", 1);
    CU_ASSERT_EQUAL(srv_notify("READY=1"), -1);
    unsetenv("NOTIFY_SOCKET");
}

static const unit_test_t tests[] = {
    { "a path socket gets each state", test_path_socket },
    { "an abstract socket (@name)", test_abstract_socket },
    { "not under systemd: nothing sent", test_outside_systemd },
};

UNIT_MAIN("notify", tests)
