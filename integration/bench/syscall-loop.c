/* Syscall cost inside a container: an open+close loop and a getppid loop.
 * Build: gcc -static -O2 -o syscall-loop syscall-loop.c
 * Usage: syscall-loop [ITERATIONS] [REPEATS] [FILE]   (default 1000000, 1, /etc/passwd)
 * Prints "open_close_ns=X" and "getppid_ns=Y": nanoseconds per operation, the fastest of
 * REPEATS timed loops of ITERATIONS each (the least disturbed by other load on the host). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    long reps = argc > 2 ? atol(argv[2]) : 1;
    const char *file = argc > 3 ? argv[3] : "/etc/passwd";
    if (n <= 0 || reps <= 0) {
        fprintf(stderr, "syscall-loop: iterations and repeats must be positive\n");
        return 2;
    }
    double best_open = 1e30, best_ppid = 1e30;
    long sink = 0;
    for (long r = 0; r < reps; r++) {
        double t0 = now_ns();
        for (long i = 0; i < n; i++) {
            int fd = open(file, O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                perror(file);
                return 1;
            }
            close(fd);
        }
        double t1 = now_ns();
        for (long i = 0; i < n; i++)
            sink += syscall(SYS_getppid); /* the raw syscall: no libc caching */
        double t2 = now_ns();
        if ((t1 - t0) / n < best_open)
            best_open = (t1 - t0) / n;
        if ((t2 - t1) / n < best_ppid)
            best_ppid = (t2 - t1) / n;
    }
    printf("open_close_ns=%.1f\ngetppid_ns=%.1f\n", best_open, best_ppid);
    return sink == -1 ? 1 : 0;
}
