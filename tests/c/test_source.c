/*
 * vframe_source as a C program uses it: a video opened once, many extractions, each
 * byte-identical to a fresh vframe_extract_opts call; memory copied at open; bad
 * arguments; several threads sharing one source (it is internally locked). Run by
 * `make test-c`, natively and under valgrind.
 *
 * usage: test_source FIXTURES_DIR
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vframe.h"

static int failures;
static const char *fixtures;

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);   \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
            __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);               \
        }                                                                     \
    } while (0)

#define CHECK_STATUS(got, want, err)                                          \
    CHECK((got) == (want), "status %s (%u), want %s; message: %s",            \
          vframe_status_str(got), (unsigned)(got), vframe_status_str(want), (err))

static char *fixture(const char *name) {
    static _Thread_local char path[1024];
    snprintf(path, sizeof path, "%s/%s", fixtures, name);
    return path;
}

static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot read %s: %s\n", path, strerror(errno));
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = malloc(n > 0 ? (size_t)n : 1);
    if (!data || fread(data, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    *len = (size_t)n;
    return data;
}

static int same_image(const vframe_image *a, const vframe_image *b) {
    return a->len == b->len && a->width == b->width && a->height == b->height && a->len > 0 &&
           memcmp(a->data, b->data, a->len) == 0;
}

static int is_empty(const vframe_image *im) {
    return im->data == NULL && im->len == 0 && im->width == 0 && im->height == 0;
}

/* Offsets in an order that makes a source decode on, seek back and repeat (kept within the
 * first seconds of the one-GOP fixture, so that valgrind's run stays short). */
static const char *const SPECS[] = {
    "vframe/png/offset/2",   "vframe/png/offset/2.01", "vframe/jpg/offset/1.2/w/160",
    "vframe/png/offset/0",   "vframe/jpg/offset/1.21/h/90/rotate/90", "vframe/png/offset/2",
    "vframe/png/offset/0.567", "vframe/png/offset/2.5",
};
enum { NSPECS = sizeof SPECS / sizeof SPECS[0] };

/* The images fresh calls give for SPECS on `name`. */
static void fresh_images(const char *name, vframe_image out[NSPECS]) {
    vframe_options opts = vframe_options_default();
    for (int i = 0; i < NSPECS; i++) {
        char err[256];
        vframe_status st = vframe_extract_opts(fixture(name), SPECS[i], &opts, &out[i], err, sizeof err);
        CHECK_STATUS(st, VFRAME_STATUS_OK, err);
    }
}

static void free_images(vframe_image images[NSPECS]) {
    for (int i = 0; i < NSPECS; i++) vframe_image_free(&images[i]);
}

/* Every spec through one source, in order, equals the fresh call's image. */
static void expect_source_matches(vframe_source *source, const vframe_image want[NSPECS], const char *what) {
    for (int i = 0; i < NSPECS; i++) {
        vframe_image im;
        char err[256] = "untouched";
        vframe_status st = vframe_source_extract(source, SPECS[i], &im, err, sizeof err);
        CHECK_STATUS(st, VFRAME_STATUS_OK, err);
        CHECK(err[0] == '\0', "a success leaves an empty message, got '%s'", err);
        CHECK(same_image(&im, &want[i]), "%s %s: the source's image differs from a fresh call's", what, SPECS[i]);
        vframe_image_free(&im);
    }
}

static void test_file_source(void) {
    vframe_image want[NSPECS];
    fresh_images("bframes_gop250.mp4", want);
    vframe_source *source = (vframe_source *)1;
    char err[256];
    vframe_status st = vframe_source_open(fixture("bframes_gop250.mp4"), NULL, &source, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_OK, err);
    CHECK(source != NULL, "a source");
    expect_source_matches(source, want, "file");
    /* A bad spec fails alone; the source goes on. */
    vframe_image im = {(uint8_t *)1, 1, 1, 1};
    st = vframe_source_extract(source, "vframe/jpg/offset/nope", &im, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_INVALID_SPEC, err);
    CHECK(strstr(err, "nope") != NULL, "the message names the bad part: %s", err);
    CHECK(is_empty(&im), "a failure leaves the image empty");
    expect_source_matches(source, want, "file after a failure");
    vframe_source_close(source);
    free_images(want);
}

static void test_memory_source(void) {
    vframe_image want[NSPECS];
    fresh_images("bframes_gop250.mp4", want);
    size_t len;
    unsigned char *data = read_file(fixture("bframes_gop250.mp4"), &len);
    vframe_source *source = NULL;
    char err[256];
    vframe_options opts = vframe_options_default();
    vframe_status st = vframe_source_open_memory(data, len, &opts, &source, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_OK, err);
    /* The bytes were copied: scribble over them and free them before extracting. */
    memset(data, 0xAB, len);
    free(data);
    expect_source_matches(source, want, "memory");
    vframe_source_close(source);
    free_images(want);
}

static void test_bad_arguments(void) {
    char err[256];
    vframe_source *source = (vframe_source *)1;
    vframe_status st = vframe_source_open(fixture("audio_only.m4a"), NULL, &source, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_NO_VIDEO_STREAM, err);
    CHECK(source == NULL, "a failed open leaves *out NULL");
    st = vframe_source_open_memory((const uint8_t *)"not a video", 11, NULL, &source, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_CANNOT_OPEN, err);
    CHECK(source == NULL, "a failed open leaves *out NULL");
    st = vframe_source_open(NULL, NULL, &source, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_INVALID_ARGUMENT, err);
    st = vframe_source_open(fixture("tiny_h264.mp4"), NULL, NULL, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_INVALID_ARGUMENT, err);
    st = vframe_source_open_memory(NULL, 5, NULL, &source, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_INVALID_ARGUMENT, err);
    vframe_options opts = vframe_options_default();
    opts.threads = 100000;
    st = vframe_source_open(fixture("tiny_h264.mp4"), &opts, &source, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_INVALID_ARGUMENT, err);

    vframe_image im;
    st = vframe_source_extract(NULL, "vframe/jpg/offset/0", &im, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_INVALID_ARGUMENT, err);
    CHECK(is_empty(&im), "a failure leaves the image empty");
    st = vframe_source_open(fixture("tiny_h264.mp4"), NULL, &source, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_OK, err);
    st = vframe_source_extract(source, NULL, &im, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_INVALID_ARGUMENT, err);
    st = vframe_source_extract(source, "vframe/jpg/offset/0", NULL, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_INVALID_ARGUMENT, err);
    st = vframe_source_extract(source, "vframe/jpg/offset/0.5", &im, NULL, 0);
    CHECK_STATUS(st, VFRAME_STATUS_OK, "(no buffer)");
    vframe_image_free(&im);
    vframe_source_close(source);
    vframe_source_close(NULL);
}

/* ---- several threads sharing one source ---- */

struct shared {
    vframe_source *source;
    const vframe_image *want; /* NSPECS fresh images */
    int first;                /* where in SPECS this thread starts */
};

static void *extract_from_shared(void *arg) {
    const struct shared *s = arg;
    for (int k = 0; k < NSPECS / 2; k++) {
        int i = (s->first + k) % NSPECS;
        vframe_image im;
        char err[256];
        vframe_status st = vframe_source_extract(s->source, SPECS[i], &im, err, sizeof err);
        CHECK_STATUS(st, VFRAME_STATUS_OK, err);
        CHECK(same_image(&im, &s->want[i]), "thread %d %s: differs from a fresh call's", s->first, SPECS[i]);
        vframe_image_free(&im);
    }
    return NULL;
}

static void test_threads_share_a_source(void) {
    enum { THREADS = 4 };
    vframe_image want[NSPECS];
    fresh_images("bframes_gop250.mp4", want);
    vframe_source *source = NULL;
    char err[256];
    vframe_status st = vframe_source_open(fixture("bframes_gop250.mp4"), NULL, &source, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_OK, err);
    pthread_t t[THREADS];
    struct shared s[THREADS];
    for (int i = 0; i < THREADS; i++) {
        s[i] = (struct shared){source, want, i * 3};
        pthread_create(&t[i], NULL, extract_from_shared, &s[i]);
    }
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    vframe_source_close(source);
    free_images(want);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FIXTURES_DIR\n", argv[0]);
        return 2;
    }
    fixtures = argv[1];
    struct {
        const char *name;
        void (*run)(void);
    } tests[] = {
        {"source from a file", test_file_source},
        {"source from memory", test_memory_source},
        {"bad arguments", test_bad_arguments},
        {"threads share a source", test_threads_share_a_source},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        int before = failures;
        tests[i].run();
        printf("%s: %s\n", failures == before ? "ok  " : "FAIL", tests[i].name);
    }
    printf("%s: %d failure(s)\n", failures ? "FAILED" : "passed", failures);
    return failures ? 1 : 0;
}
