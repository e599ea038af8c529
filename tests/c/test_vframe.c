/*
 * The C ABI as a C program uses it: every function of include/vframe.h on real videos
 * (scripts/fixtures.sh) and on bad input, from several threads. Run by `make test-c`,
 * natively (real concurrency) and under valgrind (leaks, invalid reads and writes).
 *
 * usage: test_vframe FIXTURES_DIR [MEDIA_DIR]
 */
#define _POSIX_C_SOURCE 200809L /* fileno, dup2, fork */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

#include "vframe.h"

static int failures;
static const char *fixtures;
static const char *media;

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

/* The path of a fixture, in one of a few per-thread buffers. */
static char *fixture(const char *name) {
    static _Thread_local char paths[16][1024];
    static _Thread_local int next;
    char *p = paths[next++ % 16];
    snprintf(p, sizeof paths[0], "%s/%s", fixtures, name);
    return p;
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

static int is_jpeg(const vframe_image *im) {
    return im->data && im->len > 4 && im->data[0] == 0xFF && im->data[1] == 0xD8 && im->data[2] == 0xFF &&
           im->data[im->len - 2] == 0xFF && im->data[im->len - 1] == 0xD9;
}

static int is_png(const vframe_image *im) {
    static const unsigned char magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    return im->data && im->len > 8 && memcmp(im->data, magic, 8) == 0;
}

static int is_empty(const vframe_image *im) {
    return im->data == NULL && im->len == 0 && im->width == 0 && im->height == 0;
}

/* A JPEG or PNG's pixel size as its own header says (SOF0 or IHDR), to check width/height. */
static void encoded_size(const vframe_image *im, unsigned *w, unsigned *h) {
    *w = *h = 0;
    if (is_png(im) && im->len >= 24) {
        *w = (unsigned)im->data[16] << 24 | im->data[17] << 16 | im->data[18] << 8 | im->data[19];
        *h = (unsigned)im->data[20] << 24 | im->data[21] << 16 | im->data[22] << 8 | im->data[23];
        return;
    }
    for (size_t i = 2; i + 9 < im->len;) {
        if (im->data[i] != 0xFF) return;
        unsigned char marker = im->data[i + 1];
        size_t seglen = (size_t)im->data[i + 2] << 8 | im->data[i + 3];
        if (marker == 0xC0 || marker == 0xC1 || marker == 0xC2) {
            *h = im->data[i + 5] << 8 | im->data[i + 6];
            *w = im->data[i + 7] << 8 | im->data[i + 8];
            return;
        }
        i += 2 + seglen;
    }
}

/* Extracts `spec` from a fixture and checks a valid image of the expected kind and size. */
static void expect_image(const char *name, const char *spec, int png, unsigned w, unsigned h) {
    vframe_image im;
    char err[256] = "untouched";
    vframe_status st = vframe_extract(fixture(name), spec, &im, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_OK, err);
    CHECK(err[0] == '\0', "a success leaves an empty message, got '%s'", err);
    CHECK(png ? is_png(&im) : is_jpeg(&im), "%s %s: not a %s file", name, spec, png ? "PNG" : "JPEG");
    CHECK(im.width == w && im.height == h, "%s %s: %ux%u, want %ux%u", name, spec, im.width, im.height, w, h);
    unsigned ew, eh;
    encoded_size(&im, &ew, &eh);
    CHECK(ew == w && eh == h, "%s %s: the file says %ux%u, want %ux%u", name, spec, ew, eh, w, h);
    vframe_image_free(&im);
    CHECK(is_empty(&im), "vframe_image_free empties the image");
}

/* Extracts and checks a failure with `want` whose message contains `needle`. */
static void expect_failure(const char *path, const char *spec, vframe_status want, const char *needle) {
    vframe_image im = {(uint8_t *)1, 1, 1, 1}; /* garbage: the call must empty it */
    char err[512] = "";
    vframe_status st = vframe_extract(path, spec, &im, err, sizeof err);
    CHECK_STATUS(st, want, err);
    CHECK(is_empty(&im), "a failure leaves the image empty");
    CHECK(strlen(err) > 0, "a failure has a message");
    CHECK(!needle || strstr(err, needle), "message '%s' should mention '%s'", err, needle);
}

static void test_version_and_statuses(void) {
    char macros[64];
    snprintf(macros, sizeof macros, "%d.%d.%d", VFRAME_VERSION_MAJOR, VFRAME_VERSION_MINOR, VFRAME_VERSION_PATCH);
    CHECK(strncmp(VFRAME_VERSION, macros, strlen(macros)) == 0, "VFRAME_VERSION %s vs macros %s", VFRAME_VERSION,
          macros);
    CHECK(strcmp(vframe_version(), VFRAME_VERSION) == 0, "library %s, header %s", vframe_version(), VFRAME_VERSION);

    CHECK(VFRAME_STATUS_OK == 0 && VFRAME_STATUS_INVALID_SPEC == 1 && VFRAME_STATUS_CANCELLED == 10 &&
              VFRAME_STATUS_INTERNAL == 11 && VFRAME_STATUS_BUSY == 12,
          "status values are part of the ABI");
    for (unsigned s = VFRAME_STATUS_OK; s <= VFRAME_STATUS_BUSY; s++) {
        const char *text = vframe_status_str((vframe_status)s);
        CHECK(text && *text && strcmp(text, "unknown status") != 0, "status %u has a description", s);
        for (unsigned t = 0; t < s; t++)
            CHECK(strcmp(text, vframe_status_str((vframe_status)t)) != 0, "statuses %u and %u differ", s, t);
    }
    CHECK(strcmp(vframe_status_str(VFRAME_STATUS_INVALID_SPEC), "invalid spec") == 0, "invalid spec text");
    CHECK(strcmp(vframe_status_str(VFRAME_STATUS_BUSY), "busy") == 0, "busy text");
    CHECK(strcmp(vframe_status_str((vframe_status)13), "unknown status") == 0, "13 is no status");
    CHECK(strcmp(vframe_status_str((vframe_status)0xFFFFFFFFu), "unknown status") == 0, "~0 is no status");
}

static void test_options_default(void) {
    vframe_options o = vframe_options_default();
    CHECK(o.timeout_ms == 60000, "timeout_ms %u", o.timeout_ms);
    CHECK(o.threads == 0, "threads %u", o.threads);
    CHECK(o.max_decoded_frames == 120000, "max_decoded_frames %llu", (unsigned long long)o.max_decoded_frames);
    CHECK(o.max_input_pixels == 16384ull * 16384ull, "max_input_pixels %llu",
          (unsigned long long)o.max_input_pixels);
}

static void test_extract_files(void) {
    expect_image("tiny_h264.mp4", "vframe/jpg/offset/0.5", 0, 64, 48);
    expect_image("tiny_h264.mp4", "vframe/png/offset/0.3/w/32", 1, 32, 24);
    expect_image("gop25_25fps.mp4", "vframe/jpg/offset/1/w/160", 0, 160, 120);
    expect_image("gop25_25fps.mp4", "?vframe/jpeg/offset/2.5/w/100/h/100", 0, 100, 100);
    expect_image("rotate90.mp4", "vframe/png/offset/1/rotate/auto", 1, 240, 320);
    expect_image("gop25_25fps.mp4", "vframe/jpg/offset/1/rotate/270/h/80", 0, 60, 80);
    /* Past the end: the last frame, not an error (SPEC §2). */
    expect_image("tiny_h264.mp4", "vframe/jpg/offset/3600", 0, 64, 48);
}

static void test_bad_input(void) {
    const char *tiny = fixture("tiny_h264.mp4");
    expect_failure(tiny, "vframe/gif/offset/1", VFRAME_STATUS_INVALID_SPEC, "gif");
    expect_failure(tiny, "vframe/jpg/offset/-1", VFRAME_STATUS_INVALID_SPEC, NULL);
    expect_failure(tiny, "vframe/jpg/offset/1/w/5000", VFRAME_STATUS_INVALID_SPEC, NULL);
    expect_failure(tiny, "", VFRAME_STATUS_INVALID_SPEC, NULL);
    expect_failure(tiny, "vframe/jpg/offset/1\xff\xfe", VFRAME_STATUS_INVALID_SPEC, "UTF-8");
    expect_failure("/nonexistent/vframe-test.mp4", "vframe/jpg/offset/1", VFRAME_STATUS_CANNOT_OPEN,
                   "/nonexistent/vframe-test.mp4");
    expect_failure(fixtures, "vframe/jpg/offset/1", VFRAME_STATUS_CANNOT_OPEN, "directory");
    expect_failure("", "vframe/jpg/offset/1", VFRAME_STATUS_INVALID_ARGUMENT, "empty");
    expect_failure(fixture("audio_only.m4a"), "vframe/jpg/offset/1", VFRAME_STATUS_NO_VIDEO_STREAM, NULL);
    /* The spec is checked before the input is opened. */
    expect_failure("/nonexistent/vframe-test.mp4", "vframe/bmp/offset/1", VFRAME_STATUS_INVALID_SPEC, "bmp");

    char playlist[1024];
    struct stat sb;
    snprintf(playlist, sizeof playlist, "%s/hls/sd-hls.m3u8", media ? media : "");
    if (media && stat(playlist, &sb) == 0) {
        expect_failure(playlist, "vframe/jpg/offset/1", VFRAME_STATUS_UNSUPPORTED_INPUT, "hls");
        size_t len;
        unsigned char *bytes = read_file(playlist, &len);
        vframe_image im;
        char err[256];
        vframe_status st = vframe_extract_memory(bytes, len, "vframe/jpg/offset/1", &im, err, sizeof err);
        CHECK_STATUS(st, VFRAME_STATUS_UNSUPPORTED_INPUT, err);
        CHECK(is_empty(&im), "a refused playlist gives no image");
        free(bytes);
    } else {
        /* Absent media skips locally, and fails in CI, where the folder must be there. */
        const char *ci = getenv("CI");
        CHECK(!(ci && strcmp(ci, "true") == 0), "CI=true and no HLS playlist at %s (the shared media folder)",
              playlist);
        printf("skip: no HLS playlist at %s (set VFRAME_MEDIA to the shared media folder)\n", playlist);
    }
}

static void test_null_arguments_and_messages(void) {
    vframe_image im;
    char err[256];
    const char *tiny = fixture("tiny_h264.mp4");
    vframe_status st;

    st = vframe_extract(NULL, "vframe/jpg/offset/1", &im, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_INVALID_ARGUMENT, err);
    CHECK(strstr(err, "input_path"), "names the NULL argument: %s", err);
    st = vframe_extract(tiny, NULL, &im, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_INVALID_ARGUMENT, err);
    CHECK(strstr(err, "spec"), "names the NULL argument: %s", err);
    st = vframe_extract(tiny, "vframe/jpg/offset/1", NULL, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_INVALID_ARGUMENT, err);
    CHECK(strstr(err, "out"), "names the NULL argument: %s", err);

    /* No message buffer: the status alone. A tiny one: truncated, NUL-terminated. */
    st = vframe_extract(tiny, "vframe/gif/offset/1", &im, NULL, 0);
    CHECK_STATUS(st, VFRAME_STATUS_INVALID_SPEC, "(no buffer)");
    memset(err, 'x', sizeof err);
    st = vframe_extract(tiny, "vframe/gif/offset/1", &im, err, 8);
    CHECK_STATUS(st, VFRAME_STATUS_INVALID_SPEC, err);
    CHECK(strlen(err) == 7 && err[8] == 'x', "truncated to 7 bytes and a NUL, untouched after: '%.8s'", err);
    memset(err, 'x', sizeof err);
    st = vframe_extract(tiny, "vframe/gif/offset/1", &im, err, 1);
    CHECK(err[0] == '\0' && err[1] == 'x', "a one-byte buffer gets only the NUL");

    /* Memory: NULL with a length is refused; NULL with 0 is just empty input. */
    st = vframe_extract_memory(NULL, 10, "vframe/jpg/offset/1", &im, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_INVALID_ARGUMENT, err);
    CHECK(strstr(err, "data"), "names the NULL argument: %s", err);
    st = vframe_extract_memory(NULL, 0, "vframe/jpg/offset/1", &im, err, sizeof err);
    CHECK(st != VFRAME_STATUS_OK && st != VFRAME_STATUS_INTERNAL && *err, "empty input: %s: %s",
          vframe_status_str(st), err);

    vframe_image_free(NULL);
}

static void test_memory(void) {
    size_t len;
    unsigned char *bytes = read_file(fixture("gop25_25fps.mp4"), &len);
    vframe_image from_memory, from_path;
    char err[256];
    const char *spec = "vframe/jpg/offset/2/w/120";

    vframe_status st = vframe_extract_memory(bytes, len, spec, &from_memory, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_OK, err);
    st = vframe_extract(fixture("gop25_25fps.mp4"), spec, &from_path, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_OK, err);
    CHECK(from_memory.len == from_path.len && from_memory.len > 0 &&
              memcmp(from_memory.data, from_path.data, from_path.len) == 0,
          "the same bytes from memory and from the file");
    vframe_image_free(&from_memory);
    vframe_image_free(&from_path);

    /* Truncated to its first quarter: an error or an earlier frame, never a crash. */
    st = vframe_extract_memory(bytes, len / 4, spec, &from_memory, err, sizeof err);
    CHECK(st != VFRAME_STATUS_INTERNAL, "truncated input: %s", err);
    vframe_image_free(&from_memory);
    free(bytes);

    /* Random bytes (a fixed seed, so a failure reproduces). */
    unsigned char noise[4096];
    unsigned state = 12345;
    for (size_t i = 0; i < sizeof noise; i++) {
        state = state * 1103515245u + 12345u;
        noise[i] = (unsigned char)(state >> 16);
    }
    st = vframe_extract_memory(noise, sizeof noise, spec, &from_memory, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_CANNOT_OPEN, err);
    CHECK(is_empty(&from_memory), "no image from noise");

    /* Options apply to memory input too. */
    vframe_options o = vframe_options_default();
    o.max_input_pixels = 64 * 48 - 1;
    bytes = read_file(fixture("tiny_h264.mp4"), &len);
    st = vframe_extract_memory_opts(bytes, len, spec, &o, &from_memory, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_LIMIT_EXCEEDED, err);
    st = vframe_extract_memory_opts(bytes, len, spec, NULL, &from_memory, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_OK, err);
    vframe_image_free(&from_memory);
    free(bytes);
}

static void test_options(void) {
    vframe_image im;
    char err[256];
    vframe_options o = vframe_options_default();
    const char *tiny = fixture("tiny_h264.mp4");
    vframe_status st;

    st = vframe_extract_opts(tiny, "vframe/jpg/offset/0.5", NULL, &im, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_OK, err);
    vframe_image_free(&im);

    /* Zeroed: no time limit, default limits. */
    vframe_options zeroed;
    memset(&zeroed, 0, sizeof zeroed);
    st = vframe_extract_opts(tiny, "vframe/jpg/offset/0.5", &zeroed, &im, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_OK, err);
    vframe_image_free(&im);

    o.max_input_pixels = 64 * 48;
    st = vframe_extract_opts(tiny, "vframe/jpg/offset/0.5", &o, &im, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_OK, err);
    vframe_image_free(&im);
    o.max_input_pixels = 64 * 48 - 1;
    st = vframe_extract_opts(tiny, "vframe/jpg/offset/0.5", &o, &im, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_LIMIT_EXCEEDED, err);
    CHECK(is_empty(&im), "no image past a limit");

    /* The frame at 8 s (keyframes at 0 and 8.33 s) needs far more than 20 frames decoded. */
    o = vframe_options_default();
    o.max_decoded_frames = 20;
    o.threads = 1;
    st = vframe_extract_opts(fixture("bframes_gop250.mp4"), "vframe/jpg/offset/8", &o, &im, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_LIMIT_EXCEEDED, err);

    o = vframe_options_default();
    o.threads = 5000;
    st = vframe_extract_opts(tiny, "vframe/jpg/offset/0.5", &o, &im, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_INVALID_ARGUMENT, err);
    CHECK(strstr(err, "threads"), "names the option: %s", err);
}

/* ---- many threads calling the synchronous API at once ---- */

static void *extract_repeatedly(void *arg) {
    int rounds = *(int *)arg;
    const char *specs[] = {"vframe/jpg/offset/0.2", "vframe/png/offset/0.7/w/16", "vframe/jpg/offset/0.9/h/30"};
    for (int i = 0; i < rounds; i++) {
        vframe_image im;
        char err[256];
        const char *spec = specs[i % 3];
        vframe_status st = vframe_extract(fixture("tiny_h264.mp4"), spec, &im, err, sizeof err);
        CHECK_STATUS(st, VFRAME_STATUS_OK, err);
        CHECK(i % 3 == 1 ? is_png(&im) : is_jpeg(&im), "thread result %s", spec);
        vframe_image_free(&im);
        /* A failing call on the same thread gets its own message, not a neighbour's. */
        st = vframe_extract(fixture("tiny_h264.mp4"), "vframe/jpg/offset/x", &im, err, sizeof err);
        CHECK_STATUS(st, VFRAME_STATUS_INVALID_SPEC, err);
        CHECK(strstr(err, "'x'"), "own message: %s", err);
    }
    return NULL;
}

static void test_threads(void) {
    enum { THREADS = 4 };
    pthread_t t[THREADS];
    int rounds = 6;
    for (int i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, extract_repeatedly, &rounds);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
}

/* ---- the asynchronous API ---- */

struct expectation {
    vframe_status status;   /* what done must report */
    int png;                /* on success: PNG rather than JPEG */
    atomic_int calls;       /* how many times done ran */
    pthread_mutex_t *gate;  /* if set, done holds its worker until the test unlocks it */
};

static void on_done(vframe_status status, vframe_image *image, const char *err, void *user) {
    struct expectation *e = user;
    if (e->gate) {
        pthread_mutex_lock(e->gate);
        pthread_mutex_unlock(e->gate);
    }
    CHECK(err != NULL, "done always gets a message");
    CHECK_STATUS(status, e->status, err ? err : "(null)");
    if (status == VFRAME_STATUS_OK) {
        CHECK(err && err[0] == '\0', "success has an empty message: %s", err);
        CHECK(e->png ? is_png(image) : is_jpeg(image), "done's image is a %s", e->png ? "PNG" : "JPEG");
    } else {
        CHECK(err && *err, "failure has a message");
        CHECK(is_empty(image), "failure has an empty image");
    }
    vframe_image_free(image);
    vframe_image_free(image);
    atomic_fetch_add(&e->calls, 1);
}

/* done for jobs whose outcome may be either (cancelled while running, or finished first). */
static void on_done_ok_or_cancelled(vframe_status status, vframe_image *image, const char *err, void *user) {
    struct expectation *e = user;
    CHECK(status == VFRAME_STATUS_OK || status == VFRAME_STATUS_CANCELLED, "%s: %s", vframe_status_str(status), err);
    if (status == VFRAME_STATUS_CANCELLED) CHECK(is_empty(image), "a cancelled job has no image");
    vframe_image_free(image);
    atomic_fetch_add(&e->calls, 1);
}

struct submitter {
    vframe_pool *pool;
    int rounds;
    struct expectation ok_jpg, ok_png, missing, no_video, from_memory, borrowed;
    unsigned char *bytes;
    size_t len;
};

/* release for a borrowed buffer of its own: frees it (valgrind sees any later read). */
static atomic_int released_buffers;
static void free_buffer(void *buffer) {
    free(buffer);
    atomic_fetch_add(&released_buffers, 1);
}

/* A submit that waits for room as long as it takes (the pool is much smaller than what the
   threads submit), through vframe_submit_job. */
static vframe_status submit_waiting(vframe_pool *pool, vframe_job job, char *err, size_t err_len) {
    job.size = sizeof job;
    job.wait_ms = -1;
    return vframe_submit_job(pool, &job, NULL, err, err_len);
}

static void *submit_repeatedly(void *arg) {
    struct submitter *s = arg;
    char err[256];
    vframe_status st;
    for (int i = 0; i < s->rounds; i++) {
        uint64_t id = 0;
        vframe_job job = {.size = sizeof job, .input_path = fixture("tiny_h264.mp4"), .spec = "vframe/jpg/offset/0.4",
                          .done = on_done, .user = &s->ok_jpg, .wait_ms = -1};
        st = vframe_submit_job(s->pool, &job, &id, err, sizeof err);
        CHECK_STATUS(st, VFRAME_STATUS_OK, err);
        CHECK(id > 0, "a job id");
        st = submit_waiting(s->pool,
                            (vframe_job){.input_path = fixture("tiny_h264.mp4"), .spec = "vframe/png/offset/0.6/w/20",
                                         .done = on_done, .user = &s->ok_png},
                            err, sizeof err);
        CHECK_STATUS(st, VFRAME_STATUS_OK, err);
        st = submit_waiting(s->pool,
                            (vframe_job){.input_path = "/nonexistent/vframe.mp4", .spec = "vframe/jpg/offset/1",
                                         .done = on_done, .user = &s->missing},
                            err, sizeof err);
        CHECK_STATUS(st, VFRAME_STATUS_OK, err);
        st = submit_waiting(s->pool,
                            (vframe_job){.input_path = fixture("audio_only.m4a"), .spec = "vframe/jpg/offset/1",
                                         .done = on_done, .user = &s->no_video},
                            err, sizeof err);
        CHECK_STATUS(st, VFRAME_STATUS_OK, err);
        /* Copied (no release): a private buffer released right after submit. */
        unsigned char *copy = malloc(s->len);
        memcpy(copy, s->bytes, s->len);
        st = submit_waiting(s->pool,
                            (vframe_job){.data = copy, .len = s->len, .spec = "vframe/jpg/offset/0.1", .done = on_done,
                                         .user = &s->from_memory},
                            err, sizeof err);
        CHECK_STATUS(st, VFRAME_STATUS_OK, err);
        memset(copy, 0, s->len);
        free(copy);
        /* Borrowed: a private buffer the library frees through release when it is done. */
        unsigned char *lent = malloc(s->len);
        memcpy(lent, s->bytes, s->len);
        st = submit_waiting(s->pool,
                            (vframe_job){.data = lent, .len = s->len, .release = free_buffer, .release_user = lent,
                                         .spec = "vframe/jpg/offset/0.1", .done = on_done, .user = &s->borrowed},
                            err, sizeof err);
        CHECK_STATUS(st, VFRAME_STATUS_OK, err);
    }
    return NULL;
}

static void test_pool_from_threads(void) {
    enum { THREADS = 4, KINDS = 6 };
    vframe_pool *pool = vframe_pool_new_with(2, 2); /* 4 places for 4 x 4 x 6 jobs: submits wait */
    CHECK(pool != NULL, "a pool");
    struct submitter s[THREADS];
    pthread_t t[THREADS];
    size_t len;
    unsigned char *bytes = read_file(fixture("tiny_h264.mp4"), &len);
    atomic_store(&released_buffers, 0);
    for (int i = 0; i < THREADS; i++) {
        memset(&s[i], 0, sizeof s[i]);
        s[i].pool = pool;
        s[i].rounds = 4;
        s[i].ok_jpg.status = VFRAME_STATUS_OK;
        s[i].ok_png.status = VFRAME_STATUS_OK;
        s[i].ok_png.png = 1;
        s[i].missing.status = VFRAME_STATUS_CANNOT_OPEN;
        s[i].no_video.status = VFRAME_STATUS_NO_VIDEO_STREAM;
        s[i].from_memory.status = VFRAME_STATUS_OK;
        s[i].borrowed.status = VFRAME_STATUS_OK;
        s[i].bytes = bytes;
        s[i].len = len;
        pthread_create(&t[i], NULL, submit_repeatedly, &s[i]);
    }
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    vframe_pool_wait(pool);
    for (int i = 0; i < THREADS; i++) {
        struct expectation *all[KINDS] = {&s[i].ok_jpg,       &s[i].ok_png, &s[i].missing, &s[i].no_video,
                                          &s[i].from_memory, &s[i].borrowed};
        for (int k = 0; k < KINDS; k++)
            CHECK(atomic_load(&all[k]->calls) == s[i].rounds, "thread %d kind %d: %d calls of done, want %d", i, k,
                  atomic_load(&all[k]->calls), s[i].rounds);
    }
    CHECK(atomic_load(&released_buffers) == THREADS * 4, "%d borrowed buffers released, want %d",
          atomic_load(&released_buffers), THREADS * 4);
    vframe_pool_wait(pool); /* nothing left: returns at once */
    vframe_pool_free(pool);
    free(bytes);
}

/* A borrowed buffer's bookkeeping, given to a job as both release_user and user. */
struct lent {
    vframe_status want; /* what done must report */
    atomic_int released; /* release calls */
    atomic_int done;     /* done calls */
};

static void count_release(void *user) {
    struct lent *l = user;
    CHECK(atomic_load(&l->done) == 0, "release comes before done");
    atomic_fetch_add(&l->released, 1);
}

static void on_done_lent(vframe_status status, vframe_image *image, const char *err, void *user) {
    struct lent *l = user;
    CHECK(atomic_load(&l->released) == 1, "the buffer was released once before done (%d)", atomic_load(&l->released));
    CHECK_STATUS(status, l->want, err);
    if (status == VFRAME_STATUS_OK) CHECK(is_jpeg(image), "a JPEG from borrowed bytes");
    vframe_image_free(image);
    atomic_fetch_add(&l->done, 1);
}

static void test_submit_errors(void) {
    vframe_pool *pool = vframe_pool_new(1);
    struct expectation never = {.status = VFRAME_STATUS_OK};
    char err[256];
    uint64_t id = 77;
    const char *tiny = fixture("tiny_h264.mp4");
    vframe_status st;

    st = vframe_submit(pool, tiny, "vframe/jpg/offset/abc", NULL, on_done, &never, &id, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_INVALID_SPEC, err);
    CHECK(strstr(err, "abc"), "names the bad part: %s", err);
    CHECK(id == 77, "no id for a refused job");
    st = vframe_submit(NULL, tiny, "vframe/jpg/offset/1", NULL, on_done, &never, NULL, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_INVALID_ARGUMENT, err);
    CHECK(strstr(err, "pool"), "names the NULL argument: %s", err);
    st = vframe_submit(pool, NULL, "vframe/jpg/offset/1", NULL, on_done, &never, NULL, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_INVALID_ARGUMENT, err);
    st = vframe_submit(pool, tiny, "vframe/jpg/offset/1", NULL, NULL, &never, NULL, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_INVALID_ARGUMENT, err);
    CHECK(strstr(err, "done"), "names the NULL argument: %s", err);
    vframe_options o = vframe_options_default();
    o.threads = 100000;
    st = vframe_submit(pool, tiny, "vframe/jpg/offset/1", &o, on_done, &never, NULL, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_INVALID_ARGUMENT, err);
    st = vframe_submit_memory(pool, NULL, 5, "vframe/jpg/offset/1", NULL, on_done, &never, NULL, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_INVALID_ARGUMENT, err);
    st = vframe_submit_memory(pool, (const uint8_t *)"abc", 3, "vframe/tiff/offset/1", NULL, on_done, &never, NULL,
                              err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_INVALID_SPEC, err);

    CHECK(vframe_cancel(pool, 0) == VFRAME_STATUS_INVALID_ARGUMENT, "job 0 never exists");
    CHECK(vframe_cancel(pool, 12345) == VFRAME_STATUS_INVALID_ARGUMENT, "an id never given out");
    CHECK(vframe_cancel(NULL, 1) == VFRAME_STATUS_INVALID_ARGUMENT, "no pool");
    vframe_pool_wait(pool);
    vframe_pool_free(pool);
    CHECK(atomic_load(&never.calls) == 0, "done is never called for a refused job");

    CHECK(vframe_pool_new(5000) == NULL, "too many threads");
    vframe_pool_wait(NULL);
    vframe_pool_free(NULL);
    pool = vframe_pool_new(0); /* one per CPU */
    CHECK(pool != NULL, "a default pool");
    vframe_pool_wait(pool);
    vframe_pool_free(pool);
}

static void test_cancel(void) {
    /* One worker, held inside the first job's done until the next two are cancelled: they
       are certainly still queued, so they must report CANCELLED. */
    vframe_pool *pool = vframe_pool_new(1);
    pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
    struct expectation first = {.status = VFRAME_STATUS_OK, .gate = &gate};
    struct expectation cancelled = {.status = VFRAME_STATUS_CANCELLED};
    char err[256];
    uint64_t first_id = 0, second = 0, third = 0;
    const char *tiny = fixture("tiny_h264.mp4");
    size_t len;
    unsigned char *bytes = read_file(tiny, &len);

    pthread_mutex_lock(&gate);
    CHECK_STATUS(vframe_submit(pool, tiny, "vframe/jpg/offset/0.5", NULL, on_done, &first, &first_id, err,
                               sizeof err),
                 VFRAME_STATUS_OK, err);
    CHECK_STATUS(vframe_submit(pool, tiny, "vframe/jpg/offset/0.5", NULL, on_done, &cancelled, &second, err,
                               sizeof err),
                 VFRAME_STATUS_OK, err);
    CHECK_STATUS(vframe_submit_memory(pool, bytes, len, "vframe/jpg/offset/0.5", NULL, on_done, &cancelled, &third,
                                      err, sizeof err),
                 VFRAME_STATUS_OK, err);
    /* A borrowed buffer: a cancelled job still gives it back, once, before its done. */
    struct lent lent = {.want = VFRAME_STATUS_CANCELLED};
    vframe_job borrowing = {.size = sizeof borrowing, .data = bytes, .len = len, .release = count_release,
                            .release_user = &lent, .spec = "vframe/jpg/offset/0.5", .done = on_done_lent,
                            .user = &lent};
    uint64_t fourth = 0;
    CHECK_STATUS(vframe_submit_job(pool, &borrowing, &fourth, err, sizeof err), VFRAME_STATUS_OK, err);
    CHECK(first_id < second && second < third && third < fourth, "ids increase: %llu %llu %llu %llu",
          (unsigned long long)first_id, (unsigned long long)second, (unsigned long long)third,
          (unsigned long long)fourth);
    CHECK(vframe_cancel(pool, second) == VFRAME_STATUS_OK, "cancel a queued job");
    CHECK(vframe_cancel(pool, third) == VFRAME_STATUS_OK, "cancel a queued job");
    CHECK(vframe_cancel(pool, third) == VFRAME_STATUS_OK, "cancelling twice is harmless");
    CHECK(vframe_cancel(pool, fourth) == VFRAME_STATUS_OK, "cancel a queued job");
    pthread_mutex_unlock(&gate);
    vframe_pool_wait(pool);
    free(bytes);
    CHECK(atomic_load(&first.calls) == 1, "first done once");
    CHECK(atomic_load(&cancelled.calls) == 2, "cancelled jobs still call done: %d", atomic_load(&cancelled.calls));
    CHECK(atomic_load(&lent.released) == 1 && atomic_load(&lent.done) == 1, "borrowed: %d releases, %d done calls",
          atomic_load(&lent.released), atomic_load(&lent.done));
    CHECK(vframe_cancel(pool, first_id) == VFRAME_STATUS_OK, "cancelling a finished job is harmless");

    /* Cancelled while it may be running: either outcome, exactly one done. */
    struct expectation either = {0};
    uint64_t id;
    CHECK_STATUS(vframe_submit(pool, fixture("bframes_gop250.mp4"), "vframe/jpg/offset/9.9", NULL,
                               on_done_ok_or_cancelled, &either, &id, err, sizeof err),
                 VFRAME_STATUS_OK, err);
    vframe_cancel(pool, id);
    vframe_pool_wait(pool);
    CHECK(atomic_load(&either.calls) == 1, "done once");
    vframe_pool_free(pool);
}

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* A named pipe nobody writes: a job reading it stays in the library (holding its place in
   the pool) until it is cancelled. */
struct stall {
    char dir[64];
    char path[96];
};

static void stall_make(struct stall *s) {
    strcpy(s->dir, "/tmp/vframe-c-XXXXXX");
    CHECK(mkdtemp(s->dir) != NULL, "mkdtemp: %s", strerror(errno));
    snprintf(s->path, sizeof s->path, "%s/stall.fifo", s->dir);
    CHECK(mkfifo(s->path, 0600) == 0, "mkfifo: %s", strerror(errno));
}

static void stall_remove(struct stall *s) {
    unlink(s->path);
    rmdir(s->dir);
}

/* A submit on a thread of its own (it may wait for room). */
struct waiting_submit {
    vframe_pool *pool;
    vframe_job job;
    vframe_status status;
    char err[256];
    pthread_t thread;
};

static void *submit_in_thread(void *arg) {
    struct waiting_submit *w = arg;
    w->status = vframe_submit_job(w->pool, &w->job, NULL, w->err, sizeof w->err);
    return NULL;
}

/* A full pool: the plain submits and a job that may not wait get BUSY at once, a job that
   may wait a while gets BUSY after that while, and a job that may wait as long as it takes
   gets the place of the first job to end. A refused borrowed job keeps its buffer. */
static void test_busy_and_waiting_submits(void) {
    struct stall fifo;
    stall_make(&fifo);
    vframe_pool *pool = vframe_pool_new_with(1, 2); /* 3 places: 1 running, 2 queued */
    struct expectation stalled = {.status = VFRAME_STATUS_CANCELLED};
    struct expectation never = {.status = VFRAME_STATUS_OK};
    struct expectation ok = {.status = VFRAME_STATUS_OK};
    char err[256];
    uint64_t ids[3], id = 77;
    const char *tiny = fixture("tiny_h264.mp4");
    size_t len;
    unsigned char *bytes = read_file(tiny, &len);
    for (int i = 0; i < 3; i++)
        CHECK_STATUS(vframe_submit(pool, fifo.path, "vframe/jpg/offset/1", NULL, on_done, &stalled, &ids[i], err,
                                   sizeof err),
                     VFRAME_STATUS_OK, err);

    vframe_status st = vframe_submit(pool, tiny, "vframe/jpg/offset/0.5", NULL, on_done, &never, &id, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_BUSY, err);
    CHECK(strstr(err, "full") && strstr(err, "1 jobs running and 2 queued"), "the message says why: %s", err);
    CHECK(id == 77, "no id for a refused job");
    st = vframe_submit_memory(pool, bytes, len, "vframe/jpg/offset/0.5", NULL, on_done, &never, NULL, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_BUSY, err);
    struct lent refused = {.want = VFRAME_STATUS_OK};
    vframe_job lend = {.size = sizeof lend, .data = bytes, .len = len, .release = count_release,
                       .release_user = &refused, .spec = "vframe/jpg/offset/0.5", .done = on_done_lent,
                       .user = &refused};
    CHECK_STATUS(vframe_submit_job(pool, &lend, NULL, err, sizeof err), VFRAME_STATUS_BUSY, err);
    lend.wait_ms = 100;
    double started = seconds_now();
    CHECK_STATUS(vframe_submit_job(pool, &lend, NULL, err, sizeof err), VFRAME_STATUS_BUSY, err);
    CHECK(seconds_now() - started >= 0.099, "it waited 100 ms: %.3f s", seconds_now() - started);
    CHECK(strstr(err, "100 ms"), "the message says how long it waited: %s", err);
    /* A bad spec is refused at once, before any wait for room. */
    lend.wait_ms = -1;
    lend.spec = "vframe/jpg/offset/x";
    CHECK_STATUS(vframe_submit_job(pool, &lend, NULL, err, sizeof err), VFRAME_STATUS_INVALID_SPEC, err);

    /* Waits until a place frees up: the test cancels the running job. (The sleep only makes
       it likely that the submit is waiting by then; if not, it finds the place free.) */
    struct waiting_submit w = {.pool = pool,
                               .job = {.size = sizeof(vframe_job), .input_path = tiny, .spec = "vframe/jpg/offset/0.5",
                                       .done = on_done, .user = &ok, .wait_ms = -1}};
    pthread_create(&w.thread, NULL, submit_in_thread, &w);
    sleep_ms(100);
    CHECK(atomic_load(&ok.calls) == 0, "not accepted while the pool is full");
    CHECK(vframe_cancel(pool, ids[0]) == VFRAME_STATUS_OK, "cancel the running job");
    pthread_join(w.thread, NULL);
    CHECK_STATUS(w.status, VFRAME_STATUS_OK, w.err);
    CHECK(vframe_cancel(pool, ids[1]) == VFRAME_STATUS_OK && vframe_cancel(pool, ids[2]) == VFRAME_STATUS_OK,
          "cancel the queued jobs");
    vframe_pool_wait(pool);
    CHECK(atomic_load(&stalled.calls) == 3 && atomic_load(&ok.calls) == 1, "%d stalled and %d waiting jobs done",
          atomic_load(&stalled.calls), atomic_load(&ok.calls));
    CHECK(atomic_load(&never.calls) == 0, "done is never called for a refused job");
    CHECK(atomic_load(&refused.released) == 0 && atomic_load(&refused.done) == 0,
          "a refused borrowed job keeps its buffer: %d releases", atomic_load(&refused.released));
    vframe_pool_free(pool);
    free(bytes);
    stall_remove(&fifo);
}

/* vframe_pool_close wakes submits waiting for room (CANCELLED, nothing queued, no release,
   no done), refuses later ones, and cancels what is queued; then the threads are joined and
   the pool freed, the pattern vframe_pool_free's documentation asks for. */
static void test_close_wakes_waiting_submits(void) {
    enum { WAITERS = 3 };
    struct stall fifo;
    stall_make(&fifo);
    vframe_pool *pool = vframe_pool_new_with(1, 1);
    struct expectation stalled = {.status = VFRAME_STATUS_CANCELLED};
    struct expectation never = {.status = VFRAME_STATUS_OK};
    char err[256];
    for (int i = 0; i < 2; i++)
        CHECK_STATUS(vframe_submit(pool, fifo.path, "vframe/jpg/offset/1", NULL, on_done, &stalled, NULL, err,
                                   sizeof err),
                     VFRAME_STATUS_OK, err);
    size_t len;
    unsigned char *bytes = read_file(fixture("tiny_h264.mp4"), &len);
    struct lent lent = {.want = VFRAME_STATUS_OK};
    struct waiting_submit w[WAITERS];
    for (int i = 0; i < WAITERS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].pool = pool;
        w[i].job = (vframe_job){.size = sizeof(vframe_job), .data = bytes, .len = len, .release = count_release,
                                .release_user = &lent, .spec = "vframe/jpg/offset/0.5", .done = on_done_lent,
                                .user = &lent, .wait_ms = i == 0 ? 600000 : -1};
        pthread_create(&w[i].thread, NULL, submit_in_thread, &w[i]);
    }
    sleep_ms(100);
    vframe_pool_close(pool);
    for (int i = 0; i < WAITERS; i++) {
        pthread_join(w[i].thread, NULL);
        CHECK_STATUS(w[i].status, VFRAME_STATUS_CANCELLED, w[i].err);
        CHECK(strstr(w[i].err, "closed"), "the message says why: %s", w[i].err);
    }
    CHECK_STATUS(vframe_submit(pool, fixture("tiny_h264.mp4"), "vframe/jpg/offset/0.5", NULL, on_done, &never, NULL,
                               err, sizeof err),
                 VFRAME_STATUS_CANCELLED, err);
    vframe_pool_wait(pool); /* the stalled jobs, cancelled by the close */
    vframe_pool_close(pool); /* harmless twice */
    vframe_pool_close(NULL);
    CHECK(atomic_load(&stalled.calls) == 2, "%d stalled jobs done", atomic_load(&stalled.calls));
    CHECK(atomic_load(&lent.released) == 0 && atomic_load(&lent.done) == 0 && atomic_load(&never.calls) == 0,
          "nothing of a refused submit runs");
    vframe_pool_free(pool);
    free(bytes);
    stall_remove(&fifo);
}

/* vframe_job: many jobs borrow one buffer (no copy), each gives it back once before its
   done; the size field and the job's fields are checked, and a refused job keeps its buffer. */
static void test_submit_job(void) {
    enum { JOBS = 12 };
    vframe_pool *pool = vframe_pool_new(2);
    size_t len;
    unsigned char *bytes = read_file(fixture("tiny_h264.mp4"), &len);
    char err[256];
    struct lent lent[JOBS];
    for (int i = 0; i < JOBS; i++) {
        lent[i] = (struct lent){.want = VFRAME_STATUS_OK};
        vframe_job job = {.size = sizeof job, .data = bytes, .len = len, .release = count_release,
                          .release_user = &lent[i], .spec = i % 2 ? "vframe/jpg/offset/0.2" : "vframe/jpg/offset/0.8",
                          .done = on_done_lent, .user = &lent[i], .wait_ms = -1};
        CHECK_STATUS(vframe_submit_job(pool, &job, NULL, err, sizeof err), VFRAME_STATUS_OK, err);
    }
    vframe_pool_wait(pool);
    for (int i = 0; i < JOBS; i++)
        CHECK(atomic_load(&lent[i].released) == 1 && atomic_load(&lent[i].done) == 1, "job %d: %d releases, %d done",
              i, atomic_load(&lent[i].released), atomic_load(&lent[i].done));

    struct lent kept = {.want = VFRAME_STATUS_OK};
    vframe_job job = {.size = sizeof job, .data = bytes, .len = len, .release = count_release, .release_user = &kept,
                      .spec = "vframe/jpg/offset/0.5", .done = on_done_lent, .user = &kept, .wait_ms = -1};
    vframe_job bad = job;
    bad.size = 0;
    CHECK_STATUS(vframe_submit_job(pool, &bad, NULL, err, sizeof err), VFRAME_STATUS_INVALID_ARGUMENT, err);
    CHECK(strstr(err, "size"), "names the field: %s", err);
    bad.size = sizeof bad - 8;
    CHECK_STATUS(vframe_submit_job(pool, &bad, NULL, err, sizeof err), VFRAME_STATUS_INVALID_ARGUMENT, err);
    bad = job;
    bad.input_path = fixture("tiny_h264.mp4");
    CHECK_STATUS(vframe_submit_job(pool, &bad, NULL, err, sizeof err), VFRAME_STATUS_INVALID_ARGUMENT, err);
    CHECK(strstr(err, "not both"), "says why: %s", err);
    bad = job;
    bad.done = NULL;
    CHECK_STATUS(vframe_submit_job(pool, &bad, NULL, err, sizeof err), VFRAME_STATUS_INVALID_ARGUMENT, err);
    bad = job;
    bad.spec = "vframe/gif/offset/1";
    CHECK_STATUS(vframe_submit_job(pool, &bad, NULL, err, sizeof err), VFRAME_STATUS_INVALID_SPEC, err);
    bad = job;
    bad.data = NULL;
    CHECK_STATUS(vframe_submit_job(pool, &bad, NULL, err, sizeof err), VFRAME_STATUS_INVALID_ARGUMENT, err);
    CHECK_STATUS(vframe_submit_job(pool, NULL, NULL, err, sizeof err), VFRAME_STATUS_INVALID_ARGUMENT, err);
    CHECK_STATUS(vframe_submit_job(NULL, &job, NULL, err, sizeof err), VFRAME_STATUS_INVALID_ARGUMENT, err);
    CHECK(atomic_load(&kept.released) == 0 && atomic_load(&kept.done) == 0, "refused: no release, no done");

    /* A caller built against a newer header: a longer struct is fine while the fields this
       library does not know are zero, refused otherwise. */
    struct {
        vframe_job job;
        uint64_t newer_field;
    } newer = {job, 0};
    newer.job.size = sizeof newer;
    newer.newer_field = 1;
    CHECK_STATUS(vframe_submit_job(pool, &newer.job, NULL, err, sizeof err), VFRAME_STATUS_INVALID_ARGUMENT, err);
    CHECK(strstr(err, "newer"), "says why: %s", err);
    newer.newer_field = 0;
    CHECK_STATUS(vframe_submit_job(pool, &newer.job, NULL, err, sizeof err), VFRAME_STATUS_OK, err);
    vframe_pool_wait(pool);
    CHECK(atomic_load(&kept.released) == 1 && atomic_load(&kept.done) == 1, "accepted: one release, one done");
    vframe_pool_free(pool);
    free(bytes);
}

/* A done callback that uses the pool it runs on: wait returns at once (it would wait on
   itself), cancelling its own finished job is harmless, and it may submit a follow-up. */
struct reentrant {
    vframe_pool *pool;
    uint64_t id;
    int submit_follow_up;
    struct expectation follow_up;
    atomic_int calls;
};

static void on_done_reentrant(vframe_status status, vframe_image *image, const char *err, void *user) {
    struct reentrant *r = user;
    CHECK_STATUS(status, VFRAME_STATUS_OK, err);
    vframe_image_free(image);
    vframe_pool_wait(r->pool);
    CHECK(vframe_cancel(r->pool, r->id) == VFRAME_STATUS_OK, "cancel own job from its callback");
    if (r->submit_follow_up) {
        char buf[256];
        vframe_status st = vframe_submit(r->pool, fixture("tiny_h264.mp4"), "vframe/png/offset/0.2", NULL, on_done,
                                         &r->follow_up, NULL, buf, sizeof buf);
        CHECK_STATUS(st, VFRAME_STATUS_OK, buf);
    }
    atomic_fetch_add(&r->calls, 1);
}

static void test_callbacks_use_the_pool(void) {
    struct reentrant r = {.submit_follow_up = 1, .follow_up = {.status = VFRAME_STATUS_OK, .png = 1}};
    char err[256];
    r.pool = vframe_pool_new(1);
    /* job_id is stored before the job can start, so the callback may read r.id. */
    CHECK_STATUS(vframe_submit(r.pool, fixture("tiny_h264.mp4"), "vframe/jpg/offset/0.5", NULL, on_done_reentrant,
                               &r, &r.id, err, sizeof err),
                 VFRAME_STATUS_OK, err);
    vframe_pool_wait(r.pool);
    /* The follow-up was submitted before the first job finished, so wait covered it. */
    CHECK(atomic_load(&r.calls) == 1 && atomic_load(&r.follow_up.calls) == 1, "%d and %d done calls",
          atomic_load(&r.calls), atomic_load(&r.follow_up.calls));
    vframe_pool_free(r.pool);
}

static void *wait_on_pool(void *pool) {
    vframe_pool_wait(pool);
    return NULL;
}

static void test_wait_while_another_thread_frees(void) {
    char err[256];
    /* A wait in another thread while this one frees the pool: the wait returns once the
       cancelled jobs have called done, touching nothing freed (valgrind's run checks). */
    for (int round = 0; round < 3; round++) {
        vframe_pool *pool = vframe_pool_new_with(1, 8);
        struct expectation e = {0};
        for (int i = 0; i < 4; i++)
            CHECK_STATUS(vframe_submit(pool, fixture("bframes_gop250.mp4"), "vframe/jpg/offset/9", NULL,
                                       on_done_ok_or_cancelled, &e, NULL, err, sizeof err),
                         VFRAME_STATUS_OK, err);
        pthread_t waiter;
        pthread_create(&waiter, NULL, wait_on_pool, pool);
        sleep_ms(20); /* the waiter is inside vframe_pool_wait by now (a job takes longer) */
        vframe_pool_free(pool);
        pthread_join(waiter, NULL);
        CHECK(atomic_load(&e.calls) == 4, "%d of 4 done calls", atomic_load(&e.calls));
    }
}

static void test_free_with_jobs_pending(void) {
    /* Free right after submitting: every job still calls done (finished or cancelled)
       before vframe_pool_free returns. */
    vframe_pool *pool = vframe_pool_new_with(1, 8);
    struct expectation e = {0};
    char err[256];
    int jobs = 8;
    for (int i = 0; i < jobs; i++)
        CHECK_STATUS(vframe_submit(pool, fixture("tiny_h264.mp4"), "vframe/jpg/offset/0.9", NULL,
                                   on_done_ok_or_cancelled, &e, NULL, err, sizeof err),
                     VFRAME_STATUS_OK, err);
    vframe_pool_free(pool);
    CHECK(atomic_load(&e.calls) == jobs, "%d of %d done calls before free returned", atomic_load(&e.calls), jobs);
}

/* A pool belongs to the process that made it. After fork() the child has a copy of the pool
   but none of its threads (a job still runs in the parent, another is queued there): in the
   child, submit and cancel fail at once with INVALID_ARGUMENT and a message, wait returns at
   once, free neither hangs nor prints anything (no panic message) nor calls a parent job's
   done, and the child can make and use pools of its own. The parent's pool is untouched. */
static void test_pool_after_fork(void) {
    vframe_pool *pool = vframe_pool_new(1);
    pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
    struct expectation running = {.status = VFRAME_STATUS_OK, .gate = &gate};
    struct expectation queued = {.status = VFRAME_STATUS_OK};
    char err[256];
    uint64_t running_id = 0;
    const char *tiny = fixture("tiny_h264.mp4");

    pthread_mutex_lock(&gate); /* the only worker stays inside the first job's done */
    CHECK_STATUS(vframe_submit(pool, tiny, "vframe/jpg/offset/0.5", NULL, on_done, &running, &running_id, err,
                               sizeof err),
                 VFRAME_STATUS_OK, err);
    CHECK_STATUS(vframe_submit(pool, tiny, "vframe/jpg/offset/0.7", NULL, on_done, &queued, NULL, err, sizeof err),
                 VFRAME_STATUS_OK, err);
    fflush(stdout);
    fflush(stderr);
    pid_t child = fork();
    CHECK(child >= 0, "fork: %s", strerror(errno));
    if (child == 0) {
        alarm(120); /* a call that hangs kills the child: the parent reports it */
        /* The child's copy of the heap holds what the parent's threads were using at the
           fork; their stacks, the only pointers to some of it, are gone here. Under valgrind
           a leak check at the child's exit would count that as lost: skip it there (memory
           errors are still reported, and fail the child). A no-op outside valgrind. */
        VALGRIND_CLO_CHANGE("--leak-check=no");
        int before = failures;
        struct expectation never = {.status = VFRAME_STATUS_OK};
        char submit_err[256] = "", memory_err[256] = "";
        uint64_t id = 77;
        /* stderr goes to a file while the inherited pool is used: it must stay empty. */
        FILE *captured = tmpfile();
        int saved_stderr = dup(2);
        dup2(fileno(captured), 2);
        vframe_status submitted =
            vframe_submit(pool, tiny, "vframe/jpg/offset/0.5", NULL, on_done, &never, &id, submit_err, sizeof submit_err);
        vframe_status from_memory = vframe_submit_memory(pool, (const uint8_t *)"abc", 3, "vframe/jpg/offset/0.5", NULL,
                                                         on_done, &never, NULL, memory_err, sizeof memory_err);
        vframe_status cancelled = vframe_cancel(pool, running_id);
        char job_err[256] = "";
        vframe_job waiting = {.size = sizeof waiting, .input_path = tiny, .spec = "vframe/jpg/offset/0.5",
                              .done = on_done, .user = &never, .wait_ms = -1};
        vframe_status job_submitted = vframe_submit_job(pool, &waiting, NULL, job_err, sizeof job_err);
        vframe_pool_close(pool); /* the parent's pool: nothing to do here */
        vframe_pool_wait(pool);
        vframe_pool_free(pool);
        fflush(stderr);
        dup2(saved_stderr, 2);
        close(saved_stderr);
        long printed = ftell(captured);
        fclose(captured);
        CHECK_STATUS(submitted, VFRAME_STATUS_INVALID_ARGUMENT, submit_err);
        CHECK(strstr(submit_err, "fork") != NULL, "the message says why: %s", submit_err);
        CHECK(id == 77, "no id for a refused job");
        CHECK_STATUS(from_memory, VFRAME_STATUS_INVALID_ARGUMENT, memory_err);
        CHECK(strstr(memory_err, "fork") != NULL, "the message says why: %s", memory_err);
        CHECK_STATUS(cancelled, VFRAME_STATUS_INVALID_ARGUMENT, "(no message)");
        CHECK_STATUS(job_submitted, VFRAME_STATUS_INVALID_ARGUMENT, job_err);
        CHECK(strstr(job_err, "fork") != NULL, "the message says why: %s", job_err);
        CHECK(printed == 0, "the inherited pool printed %ld bytes on stderr", printed);
        CHECK(atomic_load(&never.calls) == 0 && atomic_load(&queued.calls) == 0 && atomic_load(&running.calls) == 0,
              "no done runs in the child for a refused or a parent's job");
        /* A pool made in the child works, and so do plain calls. */
        vframe_pool *own = vframe_pool_new(1);
        struct expectation ok = {.status = VFRAME_STATUS_OK, .png = 1};
        CHECK(own != NULL, "a pool in the child");
        CHECK_STATUS(vframe_submit(own, tiny, "vframe/png/offset/0.2", NULL, on_done, &ok, NULL, err, sizeof err),
                     VFRAME_STATUS_OK, err);
        vframe_pool_wait(own);
        CHECK(atomic_load(&ok.calls) == 1, "the child's own pool ran its job");
        vframe_pool_free(own);
        expect_image("tiny_h264.mp4", "vframe/jpg/offset/0.3", 0, 64, 48);
        fflush(stdout);
        _exit(failures == before ? 0 : 1);
    }
    int wstatus = 0;
    CHECK(waitpid(child, &wstatus, 0) == child, "waitpid: %s", strerror(errno));
    CHECK(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0, "the child %s %d (its failures are printed above)",
          WIFEXITED(wstatus) ? "exited with" : "was killed by signal",
          WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : WTERMSIG(wstatus));
    /* The parent's pool did not notice. */
    pthread_mutex_unlock(&gate);
    vframe_pool_wait(pool);
    CHECK(atomic_load(&running.calls) == 1 && atomic_load(&queued.calls) == 1, "the parent's jobs: %d and %d done calls",
          atomic_load(&running.calls), atomic_load(&queued.calls));
    vframe_pool_free(pool);
}

/* vframe_extract_many: per-spec results equal single calls; a bad spec fails alone. */
static void test_extract_many(void) {
    const char *specs[] = {"vframe/png/offset/7.01", "vframe/jpg/offset/2/w/160", "vframe/nope", "vframe/png/offset/99"};
    enum { N = sizeof specs / sizeof specs[0] };
    vframe_image images[N];
    vframe_status statuses[N];
    char err[256] = "";
    vframe_status st =
        vframe_extract_many(fixture("bframes_gop250.mp4"), specs, N, NULL, images, statuses, err, sizeof err);
    CHECK_STATUS(st, VFRAME_STATUS_INVALID_SPEC, err);
    CHECK(strstr(err, "nope") != NULL, "the message names the bad spec part: %s", err);
    for (size_t i = 0; i < N; i++) {
        if (i == 2) {
            CHECK_STATUS(statuses[i], VFRAME_STATUS_INVALID_SPEC, err);
            CHECK(is_empty(&images[i]), "a failed spec leaves its image empty");
            continue;
        }
        CHECK_STATUS(statuses[i], VFRAME_STATUS_OK, specs[i]);
        vframe_image single;
        char serr[256];
        CHECK_STATUS(vframe_extract(fixture("bframes_gop250.mp4"), specs[i], &single, serr, sizeof serr),
                     VFRAME_STATUS_OK, serr);
        CHECK(single.len == images[i].len && memcmp(single.data, images[i].data, single.len) == 0,
              "%s: batch and single images differ", specs[i]);
        vframe_image_free(&single);
        vframe_image_free(&images[i]);
    }
    /* Bad arguments fail every spec; an input that cannot be opened fails every spec but the
       malformed one, which fails alone as ever. */
    vframe_options too_many = vframe_options_default();
    too_many.threads = 100000;
    struct {
        const char *path;
        const vframe_options *opts;
        vframe_status want;
    } whole[] = {{"", NULL, VFRAME_STATUS_INVALID_ARGUMENT},
                 {fixture("bframes_gop250.mp4"), &too_many, VFRAME_STATUS_INVALID_ARGUMENT},
                 {"/nonexistent/vframe.mp4", NULL, VFRAME_STATUS_CANNOT_OPEN}};
    for (size_t w = 0; w < sizeof whole / sizeof whole[0]; w++) {
        CHECK_STATUS(vframe_extract_many(whole[w].path, specs, N, whole[w].opts, images, statuses, err, sizeof err),
                     whole[w].want, err);
        for (size_t i = 0; i < N; i++) {
            int malformed_alone = i == 2 && whole[w].want == VFRAME_STATUS_CANNOT_OPEN;
            CHECK_STATUS(statuses[i], malformed_alone ? VFRAME_STATUS_INVALID_SPEC : whole[w].want, specs[i]);
            CHECK(is_empty(&images[i]), "a failed spec leaves its image empty");
        }
    }
    CHECK_STATUS(vframe_extract_many(fixture("bframes_gop250.mp4"), NULL, 1, NULL, images, statuses, err, sizeof err),
                 VFRAME_STATUS_INVALID_ARGUMENT, err);
    CHECK_STATUS(vframe_extract_many(fixture("bframes_gop250.mp4"), NULL, 0, NULL, NULL, NULL, err, sizeof err),
                 VFRAME_STATUS_OK, err);
}

/* vframe_extract_many_errs: every failing spec keeps its own message, not only the first. */
static void test_extract_many_errs(void) {
    const char *specs[] = {"vframe/jpg/offset/1", "vframe/nope", "vframe/gif/offset/1", "vframe/png/offset/2"};
    enum { N = sizeof specs / sizeof specs[0], LEN = 128 };
    vframe_image images[N];
    vframe_status statuses[N];
    char errs[N][LEN];
    memset(errs, 'x', sizeof errs);
    CHECK_STATUS(vframe_extract_many_errs(fixture("bframes_gop250.mp4"), specs, N, NULL, images, statuses, &errs[0][0],
                                          LEN),
                 VFRAME_STATUS_INVALID_SPEC, errs[1]);
    CHECK(strstr(errs[1], "nope") != NULL, "specs[1]'s own message: %s", errs[1]);
    CHECK(strstr(errs[2], "gif") != NULL, "specs[2]'s own message, not only its class: %s", errs[2]);
    for (size_t i = 0; i < N; i += 3) {
        CHECK_STATUS(statuses[i], VFRAME_STATUS_OK, specs[i]);
        CHECK(errs[i][0] == '\0', "a spec that succeeded has no message: %s", errs[i]);
        vframe_image_free(&images[i]);
    }
    /* An input that cannot be opened: its message for every spec it fails, each malformed spec
       its own; truncated to the buffers' size, NUL included. */
    enum { SHORT = 12 };
    char short_errs[N][SHORT];
    CHECK_STATUS(vframe_extract_many_errs("/nonexistent/vframe.mp4", specs, N, NULL, images, statuses,
                                          &short_errs[0][0], SHORT),
                 VFRAME_STATUS_CANNOT_OPEN, short_errs[0]);
    CHECK(strlen(short_errs[0]) == SHORT - 1 && strcmp(short_errs[0], short_errs[3]) == 0,
          "the open's message, truncated, for both valid specs: '%s', '%s'", short_errs[0], short_errs[3]);
    CHECK_STATUS(statuses[1], VFRAME_STATUS_INVALID_SPEC, short_errs[1]);
    CHECK(strcmp(short_errs[1], short_errs[0]) != 0, "the malformed spec's own message: '%s'", short_errs[1]);
    char whole[N][LEN];
    CHECK_STATUS(vframe_extract_many_errs("", specs, N, NULL, images, statuses, &whole[0][0], LEN),
                 VFRAME_STATUS_INVALID_ARGUMENT, whole[0]);
    for (size_t i = 0; i < N; i++) {
        CHECK_STATUS(statuses[i], VFRAME_STATUS_INVALID_ARGUMENT, specs[i]);
        CHECK(strstr(whole[i], "input_path") != NULL, "a call that cannot run: its message for every spec: %s",
              whole[i]);
    }
    /* No buffers: statuses only. */
    CHECK_STATUS(vframe_extract_many_errs(fixture("bframes_gop250.mp4"), specs, N, NULL, images, statuses, NULL, 0),
                 VFRAME_STATUS_INVALID_SPEC, "NULL errs");
    for (size_t i = 0; i < N; i++) vframe_image_free(&images[i]);
    CHECK_STATUS(vframe_extract_many_errs(fixture("bframes_gop250.mp4"), NULL, 1, NULL, images, statuses, &whole[0][0],
                                          LEN),
                 VFRAME_STATUS_INVALID_ARGUMENT, whole[0]);
    CHECK(strstr(whole[0], "NULL") != NULL, "NULL arrays: %s", whole[0]);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FIXTURES_DIR [MEDIA_DIR]\n", argv[0]);
        return 2;
    }
    fixtures = argv[1];
    media = argc > 2 ? argv[2] : NULL;

    struct {
        const char *name;
        void (*run)(void);
    } tests[] = {
        {"version and statuses", test_version_and_statuses},
        {"options default", test_options_default},
        {"extract from files", test_extract_files},
        {"bad input", test_bad_input},
        {"NULL arguments and messages", test_null_arguments_and_messages},
        {"memory input", test_memory},
        {"options", test_options},
        {"threads", test_threads},
        {"pool from threads", test_pool_from_threads},
        {"submit errors", test_submit_errors},
        {"cancel", test_cancel},
        {"busy and waiting submits", test_busy_and_waiting_submits},
        {"close wakes waiting submits", test_close_wakes_waiting_submits},
        {"submit job", test_submit_job},
        {"callbacks use the pool", test_callbacks_use_the_pool},
        {"wait while another thread frees", test_wait_while_another_thread_frees},
        {"free with jobs pending", test_free_with_jobs_pending},
        {"extract many", test_extract_many},
        {"extract many, a message per spec", test_extract_many_errs},
        {"pool after fork", test_pool_after_fork},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        int before = failures;
        tests[i].run();
        printf("%s: %s\n", failures == before ? "ok  " : "FAIL", tests[i].name);
    }
    printf("%s: %d failure(s)\n", failures ? "FAILED" : "passed", failures);
    return failures ? 1 : 0;
}
