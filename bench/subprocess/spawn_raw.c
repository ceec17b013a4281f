/* The reference of bench/subprocess/run_spawn.sh: posix_spawn + waitpid, no event loop.
 *   spawn_raw spawn N K   N children of `true`, at most K running; prints children_per_s=<x> */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

extern char** environ;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
    if (argc != 4 || strcmp(argv[1], "spawn") != 0) {
        fprintf(stderr, "usage: %s spawn N K\n", argv[0]);
        return 2;
    }
    const int n = atoi(argv[2]), k = atoi(argv[3]);
    char* child_argv[] = {"true", NULL};
    const double t0 = now();
    int started = 0, running = 0;
    while (started < n || running > 0) {
        while (started < n && running < k) {
            pid_t pid;
            if (posix_spawnp(&pid, "true", NULL, NULL, child_argv, environ) != 0)
                return 1;
            ++started;
            ++running;
        }
        int status;
        if (waitpid(-1, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            return 1;
        --running;
    }
    printf("children_per_s=%.0f\n", n / (now() - t0));
    return 0;
}
