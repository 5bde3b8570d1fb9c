// An independent load generator for line protocols on a Unix socket: C, blocking sockets, one
// thread per connection, so that what it measures is the server and the kernel, not a runtime.
//
// Each connection sends `depth` request lines, reads `depth` reply lines, and repeats for the
// duration; a request's latency is from the write of its batch to the read of its reply. Requests
// come from a file, one per line, taken in turn across all connections (so a file of distinct
// tokens verifies each once; a file of one line repeats it).
//
//   loadgen --socket PATH --requests FILE [--connections N] [--depth D] [--duration SECONDS]
//           [--expect TEXT] [--once]
//
// --expect: a reply must contain TEXT (e.g. "ok":true) or it counts as an error.
// --once:   stop when every request line has been sent once (cold verify), not at the duration.
// Prints one JSON object: ops, seconds, ops_per_second, errors, p50_us, p90_us, p99_us, max_us.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

// Latencies in a histogram of 1 µs buckets up to 100 ms, and one bucket for everything slower.
#define BUCKETS 100001

struct requests {
    char **lines;
    size_t *lengths;
    size_t count;
};

static struct requests requests;
static const char *socket_path;
static const char *expect;
static int depth = 1;
static double duration = 5;
static int once;
static atomic_size_t next_request;
static atomic_int stop;

struct worker {
    pthread_t thread;
    uint64_t ops;
    uint64_t errors;
    uint64_t *histogram;
    uint64_t max_ns;
    int failed;
};

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void load_requests(const char *path) {
    FILE *file = fopen(path, "r");
    if (!file) { perror(path); exit(2); }
    size_t capacity = 1024;
    requests.lines = malloc(capacity * sizeof(char *));
    requests.lengths = malloc(capacity * sizeof(size_t));
    char *line = NULL;
    size_t size = 0;
    ssize_t length;
    while ((length = getline(&line, &size, file)) > 0) {
        if (line[length - 1] != '\n') { line = realloc(line, (size_t)length + 2); line[length++] = '\n'; line[length] = 0; }
        if (length == 1) continue;
        if (requests.count == capacity) {
            capacity *= 2;
            requests.lines = realloc(requests.lines, capacity * sizeof(char *));
            requests.lengths = realloc(requests.lengths, capacity * sizeof(size_t));
        }
        requests.lines[requests.count] = strndup(line, (size_t)length);
        requests.lengths[requests.count] = (size_t)length;
        requests.count++;
    }
    free(line);
    fclose(file);
    if (requests.count == 0) { fprintf(stderr, "%s holds no request\n", path); exit(2); }
}

static int connect_socket(void) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    strncpy(address.sun_path, socket_path, sizeof(address.sun_path) - 1);
    if (connect(fd, (struct sockaddr *)&address, sizeof(address)) != 0) { close(fd); return -1; }
    return fd;
}

static int write_all(int fd, const char *bytes, size_t count) {
    while (count > 0) {
        ssize_t written = write(fd, bytes, count);
        if (written < 0) { if (errno == EINTR) continue; return -1; }
        bytes += written;
        count -= (size_t)written;
    }
    return 0;
}

static void *run(void *argument) {
    struct worker *worker = argument;
    int fd = connect_socket();
    if (fd < 0) { worker->failed = 1; return NULL; }
    size_t out_capacity = 1 << 16;
    char *out = malloc(out_capacity);
    size_t in_capacity = 1 << 20;
    char *in = malloc(in_capacity);
    size_t in_used = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        size_t out_used = 0;
        int batch = 0;
        for (; batch < depth; batch++) {
            size_t index = atomic_fetch_add_explicit(&next_request, 1, memory_order_relaxed);
            if (once && index >= requests.count) break;
            index %= requests.count;
            size_t length = requests.lengths[index];
            if (out_used + length > out_capacity) { out_capacity = (out_used + length) * 2; out = realloc(out, out_capacity); }
            memcpy(out + out_used, requests.lines[index], length);
            out_used += length;
        }
        if (batch == 0) break;
        uint64_t sent = now_ns();
        if (write_all(fd, out, out_used) != 0) { worker->failed = 1; break; }
        int replies = 0;
        while (replies < batch) {
            char *newline = memchr(in, '\n', in_used);
            if (!newline) {
                if (in_used == in_capacity) { in_capacity *= 2; in = realloc(in, in_capacity); }
                ssize_t got = read(fd, in + in_used, in_capacity - in_used);
                if (got < 0 && errno == EINTR) continue;
                if (got <= 0) { worker->failed = 1; goto done; }
                in_used += (size_t)got;
                continue;
            }
            uint64_t latency = now_ns() - sent;
            size_t line_length = (size_t)(newline - in) + 1;
            if (expect && !memmem(in, line_length, expect, strlen(expect))) worker->errors++;
            uint64_t microseconds = latency / 1000;
            worker->histogram[microseconds < BUCKETS - 1 ? microseconds : BUCKETS - 1]++;
            if (latency > worker->max_ns) worker->max_ns = latency;
            worker->ops++;
            replies++;
            memmove(in, in + line_length, in_used - line_length);
            in_used -= line_length;
        }
    }
done:
    close(fd);
    free(out);
    free(in);
    return NULL;
}

static double percentile(const uint64_t *histogram, uint64_t total, double fraction) {
    uint64_t target = (uint64_t)(fraction * (double)total);
    if (target >= total) target = total - 1;
    uint64_t seen = 0;
    for (size_t bucket = 0; bucket < BUCKETS; bucket++) {
        seen += histogram[bucket];
        if (seen > target) return (double)bucket + 0.5;
    }
    return (double)(BUCKETS - 1);
}

int main(int argc, char **argv) {
    int connections = 1;
    const char *request_file = NULL;
    for (int index = 1; index < argc; index++) {
        const char *option = argv[index];
        const char *value = index + 1 < argc ? argv[index + 1] : NULL;
        if (!strcmp(option, "--once")) { once = 1; continue; }
        if (!value) { fprintf(stderr, "%s needs a value\n", option); return 2; }
        index++;
        if (!strcmp(option, "--socket")) socket_path = value;
        else if (!strcmp(option, "--requests")) request_file = value;
        else if (!strcmp(option, "--connections")) connections = atoi(value);
        else if (!strcmp(option, "--depth")) depth = atoi(value);
        else if (!strcmp(option, "--duration")) duration = atof(value);
        else if (!strcmp(option, "--expect")) expect = value;
        else { fprintf(stderr, "unknown option %s\n", option); return 2; }
    }
    if (!socket_path || !request_file || connections < 1 || depth < 1 || duration <= 0) {
        fprintf(stderr, "usage: loadgen --socket PATH --requests FILE [--connections N] [--depth D] [--duration S] [--expect TEXT] [--once]\n");
        return 2;
    }
    load_requests(request_file);
    struct worker *workers = calloc((size_t)connections, sizeof(struct worker));
    uint64_t started = now_ns();
    for (int index = 0; index < connections; index++) {
        workers[index].histogram = calloc(BUCKETS, sizeof(uint64_t));
        pthread_create(&workers[index].thread, NULL, run, &workers[index]);
    }
    if (!once) {
        struct timespec pause = {.tv_sec = (time_t)duration, .tv_nsec = (long)((duration - (double)(time_t)duration) * 1e9)};
        while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {}
        atomic_store(&stop, 1);
    }
    uint64_t *histogram = calloc(BUCKETS, sizeof(uint64_t));
    uint64_t ops = 0, errors = 0, max_ns = 0;
    int failed = 0;
    for (int index = 0; index < connections; index++) {
        pthread_join(workers[index].thread, NULL);
        ops += workers[index].ops;
        errors += workers[index].errors;
        failed += workers[index].failed;
        if (workers[index].max_ns > max_ns) max_ns = workers[index].max_ns;
        for (size_t bucket = 0; bucket < BUCKETS; bucket++) histogram[bucket] += workers[index].histogram[bucket];
    }
    double seconds = (double)(now_ns() - started) / 1e9;
    if (ops == 0) { fprintf(stderr, "no request was answered (%d connections failed)\n", failed); return 1; }
    printf("{\"ops\": %llu, \"seconds\": %.3f, \"ops_per_second\": %.1f, \"errors\": %llu, \"failed_connections\": %d, "
           "\"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, \"max_us\": %.1f}\n",
           (unsigned long long)ops, seconds, (double)ops / seconds, (unsigned long long)errors, failed,
           percentile(histogram, ops, 0.50), percentile(histogram, ops, 0.90), percentile(histogram, ops, 0.99),
           (double)max_ns / 1000.0);
    return errors || failed ? 1 : 0;
}
