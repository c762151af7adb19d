/* hello.c: the ceiling for the benchmarks: the smallest libfcgi program that
 * answers {"status":"UP"}. tests/load/lib.sh builds it, runs WORKERS copies
 * on one socket behind the same nginx as the pool, and every benchmark
 * reports its figures as a ratio of this one's, measured in the same run.
 *   usage: hello SOCKET_PATH PROCESSES */
#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: hello SOCKET_PATH PROCESSES\n");
        return 2;
    }
    int n = atoi(argv[2]);
    if (FCGX_Init() != 0)
        return 1;
    int fd = FCGX_OpenSocket(argv[1], 1024);
    if (fd < 0) {
        perror("FCGX_OpenSocket");
        return 1;
    }
    chmod(argv[1], 0666);
    for (int i = 0; i < n; i++) {
        if (fork() == 0) {
            FCGX_Request req;
            FCGX_InitRequest(&req, fd, 0);
            static const char resp[] = "Status: 200 OK\r\n"
                                       "Content-Type: application/json; charset=utf-8\r\n"
                                       "Content-Length: 15\r\n\r\n"
                                       "{\"status\":\"UP\"}";
            while (FCGX_Accept_r(&req) >= 0) {
                FCGX_PutStr(resp, sizeof(resp) - 1, req.out);
                FCGX_Finish_r(&req);
            }
            _exit(0);
        }
    }
    /* The parent waits; SIGTERM to it stops the children (same group). */
    signal(SIGTERM, SIG_IGN);
    while (wait(NULL) > 0)
        ;
    return 0;
}
