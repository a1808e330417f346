// PNG decoding and encoding through libpng. libpng's errors longjmp back to the caller of
// png_* functions; each entry point sets its own jump target and turns the message into a
// status code. Data is read from and written to memory.

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "cimagecodecs.h"

typedef struct {
    const unsigned char *data;
    size_t size;
    size_t pos;
    int truncated;
    char message[CIC_MESSAGE_LENGTH];
} cic_png_reader;

static void on_png_error(png_structp png, png_const_charp msg) {
    cic_png_reader *r = png_get_error_ptr(png);
    if (r && !r->message[0]) {
        snprintf(r->message, sizeof r->message, "%s", msg ? msg : "libpng error");
    }
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;  // ancillary-chunk problems: libpng drops the chunk and goes on, as Pillow does
}

static void read_from_memory(png_structp png, png_bytep out, size_t n) {
    cic_png_reader *r = png_get_io_ptr(png);
    if (r->size - r->pos < n) {
        r->truncated = 1;
        snprintf(r->message, sizeof r->message, "the data ends after %zu bytes", r->size);
        png_error(png, "truncated");
    }
    memcpy(out, r->data + r->pos, n);
    r->pos += n;
}

typedef struct {
    unsigned char *pixels;
    png_bytep *rows;
} cic_png_buffers;

static int copy_bytes(unsigned char **dst, size_t *dst_size, const void *src, size_t n,
                      const char *prefix, size_t prefix_size) {
    unsigned char *p = malloc(prefix_size + n + 1);
    if (!p) {
        return 0;
    }
    if (prefix_size) {
        memcpy(p, prefix, prefix_size);
    }
    memcpy(p + prefix_size, src, n);
    free(*dst);
    *dst = p;
    *dst_size = prefix_size + n;
    return 1;
}

// eXIf and the text chunks Pillow reads orientation from (the last one of a kind wins).
static int collect_metadata(png_structp png, png_infop info, cic_png_result *out) {
#ifdef PNG_eXIf_SUPPORTED
    png_uint_32 exif_len = 0;
    png_bytep exif = NULL;
    if (png_get_eXIf_1(png, info, &exif_len, &exif) && exif && exif_len > 0) {
        if (!copy_bytes(&out->exif, &out->exif_size, exif, exif_len, "Exif\0\0", 6)) {
            return 0;
        }
    }
#endif
    png_textp text = NULL;
    int num_text = 0;
    if (png_get_text(png, info, &text, &num_text) > 0) {
        for (int i = 0; i < num_text; i++) {
            if (!text[i].key || !text[i].text) {
                continue;
            }
            size_t len = text[i].compression >= PNG_ITXT_COMPRESSION_NONE ? text[i].itxt_length
                                                                           : text[i].text_length;
            if (strcmp(text[i].key, "XML:com.adobe.xmp") == 0) {
                if (!copy_bytes(&out->xmp, &out->xmp_size, text[i].text, len, NULL, 0)) {
                    return 0;
                }
            } else if (strcmp(text[i].key, "Raw profile type exif") == 0) {
                if (!copy_bytes(&out->raw_exif, &out->raw_exif_size, text[i].text, len, NULL, 0)) {
                    return 0;
                }
            }
        }
    }
    return 1;
}

// Reads the chunks after the image data (metadata only). A file that ends here, or has a broken
// chunk here, still has a complete image: like Pillow, ignore such problems.
static void read_tail(png_structp png, png_infop info) {
    if (setjmp(png_jmpbuf(png))) {
        return;
    }
    png_read_end(png, info);
}

int cic_png_decode(const unsigned char *data, size_t size, uint64_t max_pixels, cic_png_result *out) {
    memset(out, 0, sizeof *out);
    cic_png_reader reader;
    memset(&reader, 0, sizeof reader);
    reader.data = data;
    reader.size = size;
    volatile cic_png_buffers buffers;
    memset((void *)&buffers, 0, sizeof buffers);
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &reader, on_png_error, on_png_warning);
    if (!png) {
        snprintf(out->message, sizeof out->message, "cannot create a libpng decoder");
        return CIC_NO_MEMORY;
    }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        snprintf(out->message, sizeof out->message, "cannot create a libpng decoder");
        return CIC_NO_MEMORY;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(buffers.pixels);
        free(buffers.rows);
        cic_png_result_free(out);
        snprintf(out->message, sizeof out->message, "%s", reader.message[0] ? reader.message : "libpng error");
        return reader.truncated ? CIC_TRUNCATED : CIC_CORRUPT;
    }
    png_set_read_fn(png, &reader, read_from_memory);
    png_read_info(png, info);

    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
    out->width = (int)width;
    out->height = (int)height;
    out->bit_depth = bit_depth;
    out->color_type = color_type;
    out->interlaced = interlace != PNG_INTERLACE_NONE;
    if ((uint64_t)width * (uint64_t)height > max_pixels) {
        png_destroy_read_struct(&png, &info, NULL);
        snprintf(out->message, sizeof out->message, "%ux%u pixels is more than the limit of %llu",
                 width, height, (unsigned long long)max_pixels);
        return CIC_TOO_LARGE;
    }

    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_set_palette_to_rgb(png);  // a tRNS chunk makes this RGBA; the caller drops alpha
    }
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) {
        png_set_expand_gray_1_2_4_to_8(png);  // 0..2^n-1 scaled to 0..255, as Pillow's L;2 / L;4
    }
    if (bit_depth == 16) {
        png_set_strip_16(png);  // keep the high byte, as Pillow's RGB;16B / RGBA;16B / LA;16B
    }
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    const int channels = png_get_channels(png, info);
    const size_t rowbytes = png_get_rowbytes(png, info);
    if (rowbytes != (size_t)width * (size_t)channels) {
        png_destroy_read_struct(&png, &info, NULL);
        snprintf(out->message, sizeof out->message, "unexpected row size %zu for %u pixels × %d channels",
                 rowbytes, width, channels);
        return CIC_UNSUPPORTED;
    }
    buffers.pixels = malloc(rowbytes * height + 1);
    buffers.rows = malloc(sizeof(png_bytep) * (height + 1));
    if (!buffers.pixels || !buffers.rows) {
        png_destroy_read_struct(&png, &info, NULL);
        free(buffers.pixels);
        free(buffers.rows);
        snprintf(out->message, sizeof out->message, "out of memory for %ux%u pixels", width, height);
        return CIC_NO_MEMORY;
    }
    for (png_uint_32 y = 0; y < height; y++) {
        buffers.rows[y] = buffers.pixels + (size_t)y * rowbytes;
    }
    png_read_image(png, buffers.rows);

    read_tail(png, info);
    int ok = collect_metadata(png, info, out);
    png_destroy_read_struct(&png, &info, NULL);
    free(buffers.rows);
    if (!ok) {
        free(buffers.pixels);
        cic_png_result_free(out);
        snprintf(out->message, sizeof out->message, "out of memory reading metadata");
        return CIC_NO_MEMORY;
    }
    out->channels = channels;
    out->pixels = buffers.pixels;
    return CIC_OK;
}

void cic_png_result_free(cic_png_result *r) {
    free(r->pixels);
    free(r->exif);
    free(r->xmp);
    free(r->raw_exif);
    r->pixels = NULL;
    r->exif = NULL;
    r->xmp = NULL;
    r->raw_exif = NULL;
}

typedef struct {
    unsigned char *data;
    size_t size;
    size_t capacity;
    int failed;
    char message[CIC_MESSAGE_LENGTH];
} cic_png_writer;

static void on_png_write_error(png_structp png, png_const_charp msg) {
    cic_png_writer *w = png_get_error_ptr(png);
    if (w && !w->message[0]) {
        snprintf(w->message, sizeof w->message, "%s", msg ? msg : "libpng error");
    }
    png_longjmp(png, 1);
}

static void write_to_memory(png_structp png, png_bytep src, size_t n) {
    cic_png_writer *w = png_get_io_ptr(png);
    if (w->size + n > w->capacity) {
        size_t cap = w->capacity ? w->capacity : 4096;
        while (cap < w->size + n) {
            cap *= 2;
        }
        unsigned char *grown = realloc(w->data, cap);
        if (!grown) {
            w->failed = 1;
            png_error(png, "out of memory for the encoded PNG");
        }
        w->data = grown;
        w->capacity = cap;
    }
    memcpy(w->data + w->size, src, n);
    w->size += n;
}

static void flush_memory(png_structp png) { (void)png; }

int cic_png_encode(const unsigned char *pixels, int width, int height, int channels,
                   int compression_level, unsigned char **out, size_t *out_size,
                   char message[CIC_MESSAGE_LENGTH]) {
    *out = NULL;
    *out_size = 0;
    message[0] = 0;
    int color_type;
    switch (channels) {
    case 1: color_type = PNG_COLOR_TYPE_GRAY; break;
    case 2: color_type = PNG_COLOR_TYPE_GRAY_ALPHA; break;
    case 3: color_type = PNG_COLOR_TYPE_RGB; break;
    case 4: color_type = PNG_COLOR_TYPE_RGB_ALPHA; break;
    default:
        snprintf(message, CIC_MESSAGE_LENGTH, "%d channels (expected 1-4)", channels);
        return CIC_UNSUPPORTED;
    }
    if (width <= 0 || height <= 0) {
        snprintf(message, CIC_MESSAGE_LENGTH, "empty image (%dx%d)", width, height);
        return CIC_UNSUPPORTED;
    }
    cic_png_writer writer;
    memset(&writer, 0, sizeof writer);
    volatile png_bytep *rows = NULL;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &writer, on_png_write_error, on_png_warning);
    if (!png) {
        snprintf(message, CIC_MESSAGE_LENGTH, "cannot create a libpng encoder");
        return CIC_NO_MEMORY;
    }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        snprintf(message, CIC_MESSAGE_LENGTH, "cannot create a libpng encoder");
        return CIC_NO_MEMORY;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free((void *)rows);
        free(writer.data);
        snprintf(message, CIC_MESSAGE_LENGTH, "%s", writer.message[0] ? writer.message : "libpng error");
        return writer.failed ? CIC_NO_MEMORY : CIC_CORRUPT;
    }
    rows = malloc(sizeof(png_bytep) * (size_t)height);
    if (!rows) {
        png_error(png, "out of memory");
    }
    const size_t stride = (size_t)width * (size_t)channels;
    for (int y = 0; y < height; y++) {
        rows[y] = (png_bytep)(pixels + (size_t)y * stride);
    }
    png_set_write_fn(png, &writer, write_to_memory, flush_memory);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, color_type, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (compression_level >= 0 && compression_level <= 9) {
        png_set_compression_level(png, compression_level);
    }
    png_write_info(png, info);
    png_write_image(png, (png_bytepp)rows);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free((void *)rows);
    *out = writer.data;
    *out_size = writer.size;
    return CIC_OK;
}

const char *cic_png_version(void) { return "libpng " PNG_LIBPNG_VER_STRING; }
