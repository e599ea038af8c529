/*
 * Many frames from C: vframe_sample / vframe_storyboard (arrays the library owns and
 * frees whole), their streaming forms (a callback per frame or sheet), from a path and
 * from memory, a callback that stops early, and bad arguments. Run by `make test-c`,
 * natively and under valgrind (no leaks, no invalid reads or writes).
 *
 * usage: test_frames FIXTURES_DIR
 */
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
            failures++;                                                       \
        }                                                                     \
    } while (0)

static char *fixture(const char *name) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", fixtures, name);
    return path;
}

static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = malloc((size_t)n);
    if (!data || fread(data, 1, (size_t)n, f) != (size_t)n) exit(2);
    fclose(f);
    *len = (size_t)n;
    return data;
}

static const char *SAMPLE = "vsample/jpg/interval/1/s/160x/pattern/dmZyYW1lLSQoY291bnQp";

/* Each frame equals a single vframe_extract call at its moment. */
static void test_sample(void) {
    char err[256];
    vframe_frames frames;
    vframe_status st = vframe_sample(fixture("gop25_25fps.mp4"), SAMPLE, NULL, &frames, err, sizeof err);
    CHECK(st == VFRAME_STATUS_OK, "vframe_sample: %s", err);
    CHECK(frames.count == 6, "%zu frames of a 6 s video at 1 s", frames.count);
    for (size_t i = 0; i < frames.count; i++) {
        const vframe_frame *f = &frames.frames[i];
        char spec[128], key[32];
        snprintf(spec, sizeof spec, "vframe/jpg/offset/%.3f/w/160", f->offset_ms / 1000.0);
        snprintf(key, sizeof key, "vframe-%06zu", i + 1);
        vframe_image single;
        CHECK(vframe_extract(fixture("gop25_25fps.mp4"), spec, &single, err, sizeof err) == VFRAME_STATUS_OK, "%s", err);
        CHECK(f->offset_ms == i * 1000 && f->index == i, "frame %zu at %llu ms", i, (unsigned long long)f->offset_ms);
        CHECK(single.len == f->image.len && memcmp(single.data, f->image.data, single.len) == 0, "frame %zu differs from %s", i, spec);
        CHECK(f->key && strcmp(f->key, key) == 0, "frame %zu key %s", i, f->key ? f->key : "(null)");
        CHECK(f->time > i - 0.001 && f->time < i + 0.001, "frame %zu time %f", i, f->time);
        vframe_image_free(&single);
    }
    vframe_frames_free(&frames);
    CHECK(frames.frames == NULL && frames.count == 0, "emptied");
    vframe_frames_free(&frames); /* harmless twice */
    vframe_frames_free(NULL);

    /* From memory, the same frames. */
    size_t len;
    unsigned char *data = read_file(fixture("gop25_25fps.mp4"), &len);
    vframe_frames again;
    CHECK(vframe_sample_memory(data, len, "vsample/png/frames/3/s/64x48", NULL, &again, err, sizeof err) == VFRAME_STATUS_OK, "%s", err);
    CHECK(again.count == 3 && again.frames[0].key == NULL, "%zu frames", again.count);
    CHECK(again.frames[1].offset_ms == 2000, "frames/3 over 6 s: the second at %llu ms", (unsigned long long)again.frames[1].offset_ms);
    vframe_frames_free(&again);
    free(data);
}

struct counter {
    int calls;
    int stop_after;
    size_t bytes;
};

static int on_frame(const vframe_frame *frame, void *user) {
    struct counter *c = user;
    c->calls++;
    c->bytes += frame->image.len;
    return c->stop_after && c->calls >= c->stop_after;
}

static void test_sample_each(void) {
    char err[256];
    struct counter c = {0, 0, 0};
    vframe_status st = vframe_sample_each(fixture("bframes_gop250.mp4"), "vsample/jpg/interval/0.5", NULL, on_frame, &c, err, sizeof err);
    CHECK(st == VFRAME_STATUS_OK && c.calls == 20 && c.bytes > 0, "%s; %d calls", err, c.calls);
    struct counter stop = {0, 3, 0};
    st = vframe_sample_each(fixture("bframes_gop250.mp4"), "vsample/jpg/interval/0.5", NULL, on_frame, &stop, err, sizeof err);
    CHECK(st == VFRAME_STATUS_CANCELLED && stop.calls == 3, "%s; %d calls", err, stop.calls);
    size_t len;
    unsigned char *data = read_file(fixture("gop25_25fps.mp4"), &len);
    struct counter m = {0, 0, 0};
    st = vframe_sample_each_memory(data, len, "vsample/webp/interval/2/mode/fast", NULL, on_frame, &m, err, sizeof err);
    CHECK(st == VFRAME_STATUS_OK && m.calls == 3, "%s; %d calls", err, m.calls);
    free(data);
    st = vframe_sample_each(fixture("gop25_25fps.mp4"), SAMPLE, NULL, NULL, NULL, err, sizeof err);
    CHECK(st == VFRAME_STATUS_INVALID_ARGUMENT, "NULL callback: %s", err);
}

static int on_sheet(const vframe_sheet *sheet, void *user) {
    struct counter *c = user;
    c->calls++;
    c->bytes += sheet->image.len;
    return sheet->name == NULL || sheet->image.data == NULL;
}

static void test_storyboard(void) {
    char err[256];
    vframe_sheets sb;
    const char *spec = "storyboard/jpg/interval/1/s/80x60/columns/2/rows/2";
    vframe_status st = vframe_storyboard(fixture("gop25_25fps.mp4"), spec, NULL, &sb, err, sizeof err);
    CHECK(st == VFRAME_STATUS_OK, "vframe_storyboard: %s", err);
    CHECK(sb.count == 2, "6 tiles, 4 a sheet: %zu sheets", sb.count);
    if (sb.count == 2) {
        CHECK(strcmp(sb.sheets[0].name, "storyboard-000001.jpg") == 0, "%s", sb.sheets[0].name);
        CHECK(sb.sheets[0].image.width == 160 && sb.sheets[0].image.height == 120, "%ux%u", sb.sheets[0].image.width, sb.sheets[0].image.height);
        CHECK(sb.sheets[1].first_tile == 4 && sb.sheets[1].tile_count == 2 && sb.sheets[1].image.height == 60, "last sheet");
    }
    CHECK(sb.vtt && strncmp(sb.vtt, "WEBVTT\n", 7) == 0 && strlen(sb.vtt) == sb.vtt_len, "vtt");
    CHECK(sb.vtt && strstr(sb.vtt, "00:00:05.000 --> 00:00:06.000\nstoryboard-000002.jpg#xywh=80,0,80,60\n"), "%s", sb.vtt);
    CHECK(sb.json && sb.json[0] == '{' && strlen(sb.json) == sb.json_len && strstr(sb.json, "\"tile_width\":80"), "json");
    vframe_sheets_free(&sb);
    CHECK(sb.sheets == NULL && sb.vtt == NULL && sb.json == NULL, "emptied");
    vframe_sheets_free(&sb);
    vframe_sheets_free(NULL);

    struct counter c = {0, 0, 0};
    vframe_sheets index;
    st = vframe_storyboard_each(fixture("gop25_25fps.mp4"), spec, NULL, on_sheet, &c, &index, err, sizeof err);
    CHECK(st == VFRAME_STATUS_OK && c.calls == 2 && index.count == 0 && index.vtt != NULL, "%s", err);
    vframe_sheets_free(&index);
    size_t len;
    unsigned char *data = read_file(fixture("gop25_25fps.mp4"), &len);
    st = vframe_storyboard_memory(data, len, "storyboard/png/frames/3", NULL, &sb, err, sizeof err);
    CHECK(st == VFRAME_STATUS_OK && sb.count == 1, "%s", err);
    vframe_sheets_free(&sb);
    struct counter m = {0, 0, 0};
    st = vframe_storyboard_each_memory(data, len, "storyboard/webp/interval/3", NULL, on_sheet, &m, &index, err, sizeof err);
    CHECK(st == VFRAME_STATUS_OK && m.calls == 1, "%s", err);
    vframe_sheets_free(&index);
    free(data);
}

static void test_failures(void) {
    char err[256];
    vframe_frames frames;
    vframe_sheets sb;
    CHECK(vframe_sample(fixture("gop25_25fps.mp4"), "vsample/jpg/frames/0", NULL, &frames, err, sizeof err) == VFRAME_STATUS_INVALID_SPEC, "%s", err);
    CHECK(strstr(err, "frames '0'") != NULL && frames.count == 0, "%s", err);
    CHECK(vframe_sample(fixture("audio_only.m4a"), SAMPLE, NULL, &frames, err, sizeof err) == VFRAME_STATUS_NO_VIDEO_STREAM, "%s", err);
    CHECK(vframe_sample(fixture("gop25_25fps.mp4"), SAMPLE, NULL, NULL, err, sizeof err) == VFRAME_STATUS_INVALID_ARGUMENT, "%s", err);
    CHECK(vframe_sample(NULL, SAMPLE, NULL, &frames, err, sizeof err) == VFRAME_STATUS_INVALID_ARGUMENT, "%s", err);
    /* A bad path empties *out too (it held the caller's garbage), so a cleanup that frees it
       frees nothing. */
    const char *bad_paths[] = {NULL, ""};
    struct counter never = {0};
    for (int i = 0; i < 2; i++) {
        memset(&frames, 0x41, sizeof frames);
        CHECK(vframe_sample(bad_paths[i], SAMPLE, NULL, &frames, err, sizeof err) == VFRAME_STATUS_INVALID_ARGUMENT, "%s", err);
        CHECK(frames.frames == NULL && frames.count == 0, "vframe_sample: out emptied for path %d", i);
        vframe_frames_free(&frames);
        memset(&sb, 0x41, sizeof sb);
        CHECK(vframe_storyboard(bad_paths[i], "storyboard/jpg", NULL, &sb, err, sizeof err) == VFRAME_STATUS_INVALID_ARGUMENT, "%s", err);
        CHECK(sb.sheets == NULL && sb.count == 0 && sb.vtt == NULL && sb.json == NULL, "vframe_storyboard: out emptied for path %d", i);
        vframe_sheets_free(&sb);
        memset(&sb, 0x41, sizeof sb);
        CHECK(vframe_storyboard_each(bad_paths[i], "storyboard/jpg", NULL, on_sheet, &never, &sb, err, sizeof err) == VFRAME_STATUS_INVALID_ARGUMENT, "%s", err);
        CHECK(sb.sheets == NULL && sb.vtt == NULL && sb.json == NULL, "vframe_storyboard_each: out emptied for path %d", i);
        vframe_sheets_free(&sb);
    }
    CHECK(never.calls == 0, "no sheet for a bad path");
    CHECK(vframe_sample_memory(NULL, 5, SAMPLE, NULL, &frames, err, sizeof err) == VFRAME_STATUS_INVALID_ARGUMENT, "%s", err);
    CHECK(vframe_storyboard(fixture("gop25_25fps.mp4"), "vsample/jpg", NULL, &sb, err, sizeof err) == VFRAME_STATUS_INVALID_SPEC, "%s", err);
    CHECK(vframe_storyboard(fixture("gop25_25fps.mp4"), "storyboard/jpg/s/3000x/interval/0.5/columns/10", NULL, &sb, err, sizeof err) == VFRAME_STATUS_LIMIT_EXCEEDED, "%s", err);
    CHECK(sb.count == 0 && sb.vtt == NULL, "emptied on failure");
    /* A time limit reached in the middle frees what was made. */
    vframe_options opts = vframe_options_default();
    opts.timeout_ms = 1;
    vframe_status st = vframe_sample(fixture("long_single_gop.ts"), "vsample/png/interval/5", &opts, &frames, err, sizeof err);
    CHECK(st == VFRAME_STATUS_TIMEOUT && frames.count == 0, "status %u: %s", (unsigned)st, err);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FIXTURES_DIR\n", argv[0]);
        return 2;
    }
    fixtures = argv[1];
    test_sample();
    test_sample_each();
    test_storyboard();
    test_failures();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test_frames: all checks passed\n");
    return 0;
}
