/* thumbnail VIDEO SPEC OUT: writes the frame SPEC names (e.g. vframe/jpg/offset/7/w/480) to OUT.
   Build: cc thumbnail.c $(pkg-config --cflags --libs vframe) -o thumbnail */
#include <stdio.h>
#include <vframe.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s VIDEO SPEC OUT\n", argv[0]);
        return 2;
    }
    vframe_image image;
    char err[512];
    vframe_status status = vframe_extract(argv[1], argv[2], &image, err, sizeof err);
    if (status != VFRAME_STATUS_OK) {
        fprintf(stderr, "%s: %s: %s\n", argv[1], vframe_status_str(status), err);
        return 1;
    }
    FILE *out = fopen(argv[3], "wb");
    int written = out && fwrite(image.data, 1, image.len, out) == image.len;
    if (out && fclose(out) != 0) written = 0;
    if (written) printf("%s: %ux%u, %zu bytes\n", argv[3], image.width, image.height, image.len);
    else perror(argv[3]);
    vframe_image_free(&image);
    return written ? 0 : 1;
}
