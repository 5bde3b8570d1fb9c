// The floor for a line protocol on a Unix socket: a C server that answers each request line with
// the same line, one blocking thread per connection, replies to one read in one write. What it
// costs per request is what the socket and the kernel cost; `make bench-compare` sets authd's
// single-request latency beside it.
//
//   echo_server PATH
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void *serve(void *argument) {
    int fd = (int)(long)argument;
    size_t capacity = 1 << 16;
    char *buffer = malloc(capacity);
    size_t used = 0;
    for (;;) {
        if (used == capacity) { capacity *= 2; buffer = realloc(buffer, capacity); }
        ssize_t got = read(fd, buffer + used, capacity - used);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        used += (size_t)got;
        // Every complete line goes back at once; a partial one waits for the rest.
        char *last = memrchr(buffer, '\n', used);
        if (!last) continue;
        size_t complete = (size_t)(last - buffer) + 1;
        size_t sent = 0;
        while (sent < complete) {
            ssize_t written = write(fd, buffer + sent, complete - sent);
            if (written < 0 && errno == EINTR) continue;
            if (written < 0) goto done;
            sent += (size_t)written;
        }
        memmove(buffer, buffer + complete, used - complete);
        used -= complete;
    }
done:
    close(fd);
    free(buffer);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: echo_server PATH\n"); return 2; }
    int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    strncpy(address.sun_path, argv[1], sizeof(address.sun_path) - 1);
    unlink(argv[1]);
    if (bind(listener, (struct sockaddr *)&address, sizeof(address)) != 0 || listen(listener, 256) != 0) {
        perror(argv[1]);
        return 1;
    }
    for (;;) {
        int connection = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (connection < 0) { if (errno == EINTR) continue; perror("accept"); return 1; }
        pthread_t thread;
        pthread_create(&thread, NULL, serve, (void *)(long)connection);
        pthread_detach(thread);
    }
}
