// JPEG encoding through libjpeg-turbo into memory. As in jpeg.c, libjpeg's fatal errors longjmp
// back here and become a status code with a message; warnings are ignored and nothing is printed.

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "cimagecodecs.h"

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char message[CIC_MESSAGE_LENGTH];
} cic_jpeg_encode_error;

static void on_encode_error_exit(j_common_ptr cinfo) {
    cic_jpeg_encode_error *err = (cic_jpeg_encode_error *)cinfo->err;
    char buffer[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, buffer);
    snprintf(err->message, sizeof err->message, "%s", buffer);
    longjmp(err->jump, 1);
}

static void on_encode_output_message(j_common_ptr cinfo) {
    (void)cinfo;  // never print to stderr
}

// A destination manager of our own (rather than jpeg_mem_dest, whose buffer is not reachable
// after an error midway): the buffer doubles as needed and is always owned by this struct.
typedef struct {
    struct jpeg_destination_mgr base;
    unsigned char *data;
    size_t capacity;
    size_t size;  // bytes of the finished file (set by dest_term)
} cic_jpeg_memory_dest;

static void dest_init(j_compress_ptr cinfo) {
    cic_jpeg_memory_dest *d = (cic_jpeg_memory_dest *)cinfo->dest;
    d->base.next_output_byte = d->data;
    d->base.free_in_buffer = d->capacity;
}

static boolean dest_grow(j_compress_ptr cinfo) {
    cic_jpeg_memory_dest *d = (cic_jpeg_memory_dest *)cinfo->dest;
    // libjpeg calls this when the whole buffer is full.
    size_t used = d->capacity;
    size_t capacity = d->capacity * 2;
    unsigned char *grown = realloc(d->data, capacity);
    if (!grown) {
        ERREXIT1(cinfo, JERR_OUT_OF_MEMORY, 10);
    }
    d->data = grown;
    d->capacity = capacity;
    d->base.next_output_byte = grown + used;
    d->base.free_in_buffer = capacity - used;
    return TRUE;
}

static void dest_term(j_compress_ptr cinfo) {
    cic_jpeg_memory_dest *d = (cic_jpeg_memory_dest *)cinfo->dest;
    d->size = d->capacity - d->base.free_in_buffer;
}

int cic_jpeg_encode(const unsigned char *pixels, int width, int height, int channels, int quality,
                    int subsampling, unsigned char **out, size_t *out_size,
                    char message[CIC_MESSAGE_LENGTH]) {
    *out = NULL;
    *out_size = 0;
    message[0] = 0;
    if (channels != 1 && channels != 3) {
        snprintf(message, CIC_MESSAGE_LENGTH, "%d channels (expected 1 grey or 3 RGB)", channels);
        return CIC_UNSUPPORTED;
    }
    if (width <= 0 || height <= 0 || width > JPEG_MAX_DIMENSION || height > JPEG_MAX_DIMENSION) {
        snprintf(message, CIC_MESSAGE_LENGTH, "image size %dx%d is outside 1...%d", width, height,
                 (int)JPEG_MAX_DIMENSION);
        return CIC_UNSUPPORTED;
    }
    if (quality < 1 || quality > 100) {
        snprintf(message, CIC_MESSAGE_LENGTH, "quality %d is outside 1...100", quality);
        return CIC_UNSUPPORTED;
    }
    int h_factor, v_factor;
    switch (subsampling) {
    case CIC_JPEG_SUBSAMPLING_444: h_factor = 1; v_factor = 1; break;
    case CIC_JPEG_SUBSAMPLING_422: h_factor = 2; v_factor = 1; break;
    case CIC_JPEG_SUBSAMPLING_420: h_factor = 2; v_factor = 2; break;
    default:
        snprintf(message, CIC_MESSAGE_LENGTH, "unknown chroma subsampling %d", subsampling);
        return CIC_UNSUPPORTED;
    }

    struct jpeg_compress_struct cinfo;
    cic_jpeg_encode_error err;
    memset(&err, 0, sizeof err);
    // On the heap, and the pointer is not changed after setjmp, so it is still valid after a
    // longjmp (unlike a local struct that libjpeg modified).
    cic_jpeg_memory_dest *dest = calloc(1, sizeof *dest);
    if (dest) {
        dest->capacity = 4096 + (size_t)width * (size_t)height * (size_t)channels / 4;
        dest->data = malloc(dest->capacity);
    }
    if (!dest || !dest->data) {
        free(dest);
        snprintf(message, CIC_MESSAGE_LENGTH, "out of memory for the encoded JPEG");
        return CIC_NO_MEMORY;
    }
    dest->base.init_destination = dest_init;
    dest->base.empty_output_buffer = dest_grow;
    dest->base.term_destination = dest_term;

    cinfo.err = jpeg_std_error(&err.base);
    err.base.error_exit = on_encode_error_exit;
    err.base.output_message = on_encode_output_message;

    if (setjmp(err.jump)) {
        jpeg_destroy_compress(&cinfo);
        free(dest->data);
        free(dest);
        snprintf(message, CIC_MESSAGE_LENGTH, "%s", err.message[0] ? err.message : "libjpeg error");
        return err.base.msg_code == JERR_OUT_OF_MEMORY ? CIC_NO_MEMORY : CIC_CORRUPT;
    }

    jpeg_create_compress(&cinfo);
    cinfo.dest = &dest->base;
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = channels;
    cinfo.in_color_space = channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    cinfo.dct_method = JDCT_ISLOW;  // integer DCT: the same bytes on every machine
    cinfo.optimize_coding = FALSE;
    if (channels == 3) {
        cinfo.comp_info[0].h_samp_factor = h_factor;
        cinfo.comp_info[0].v_samp_factor = v_factor;
        cinfo.comp_info[1].h_samp_factor = 1;
        cinfo.comp_info[1].v_samp_factor = 1;
        cinfo.comp_info[2].h_samp_factor = 1;
        cinfo.comp_info[2].v_samp_factor = 1;
    }
    jpeg_start_compress(&cinfo, TRUE);
    const size_t stride = (size_t)width * (size_t)channels;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW rows[16];
        JDIMENSION n = 0;
        for (; n < 16 && cinfo.next_scanline + n < cinfo.image_height; n++) {
            rows[n] = (JSAMPROW)(pixels + (size_t)(cinfo.next_scanline + n) * stride);
        }
        jpeg_write_scanlines(&cinfo, rows, n);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    *out = dest->data;
    *out_size = dest->size;
    free(dest);
    return CIC_OK;
}
