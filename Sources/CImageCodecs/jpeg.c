// JPEG decoding through libjpeg-turbo. libjpeg reports fatal errors through `error_exit`, which
// must not return: we longjmp back to `cic_jpeg_decode` and turn the message into a status code.
// Warnings go through `emit_message`; "Premature end of JPEG file" (the data ran out and libjpeg
// would pad the rest of the image with grey) is promoted to an error so that a truncated file
// never yields a partial image. Other corrupt-data warnings are counted and ignored, as Pillow
// does.

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "cimagecodecs.h"

#define STR2(x) #x
#define STR(x) STR2(x)

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    int status;
    int warnings;
    char message[CIC_MESSAGE_LENGTH];
} cic_jpeg_error;

static int status_for_code(int code) {
    switch (code) {
    case JERR_INPUT_EOF:
    case JWRN_JPEG_EOF:
        return CIC_TRUNCATED;
    case JERR_BAD_PRECISION:
    case JERR_CONVERSION_NOTIMPL:
    case JERR_BAD_J_COLORSPACE:
    case JERR_NOTIMPL:
    case JERR_SOF_UNSUPPORTED:
        return CIC_UNSUPPORTED;
    case JERR_OUT_OF_MEMORY:
        return CIC_NO_MEMORY;
    case JERR_IMAGE_TOO_BIG:
        return CIC_TOO_LARGE;
    default:
        return CIC_CORRUPT;
    }
}

static void on_error_exit(j_common_ptr cinfo) {
    cic_jpeg_error *err = (cic_jpeg_error *)cinfo->err;
    char buffer[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, buffer);
    snprintf(err->message, sizeof err->message, "%s", buffer);
    err->status = status_for_code(cinfo->err->msg_code);
    longjmp(err->jump, 1);
}

static void on_emit_message(j_common_ptr cinfo, int msg_level) {
    cic_jpeg_error *err = (cic_jpeg_error *)cinfo->err;
    if (msg_level >= 0) {
        return;  // trace messages
    }
    if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
        on_error_exit(cinfo);  // does not return
    }
    err->warnings += 1;
    cinfo->err->num_warnings += 1;
}

static void on_output_message(j_common_ptr cinfo) {
    (void)cinfo;  // never print to stderr
}

typedef struct {
    unsigned char *pixels;
    unsigned char *exif;
    size_t exif_size;
    unsigned char *xmp;
    size_t xmp_size;
} cic_jpeg_buffers;

static int append(unsigned char **buf, size_t *size, const unsigned char *src, size_t n) {
    unsigned char *grown = realloc(*buf, *size + n + 1);
    if (!grown) {
        return 0;
    }
    memcpy(grown + *size, src, n);
    *size += n;
    *buf = grown;
    return 1;
}

static const char xmp_header[] = "http://ns.adobe.com/xap/1.0/";  // followed by a NUL

// Collects the Exif and XMP payloads from the saved APP1 markers (Pillow's rules: every Exif
// segment is concatenated, the first with its header; the last XMP packet wins).
static int collect_markers(struct jpeg_decompress_struct *cinfo, cic_jpeg_buffers *b) {
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next) {
        if (m->marker != JPEG_APP0 + 1) {
            continue;
        }
        if (m->data_length >= 6 && memcmp(m->data, "Exif\0\0", 6) == 0) {
            const unsigned char *src = m->data;
            size_t n = m->data_length;
            if (b->exif) {
                src += 6;
                n -= 6;
            }
            if (!append(&b->exif, &b->exif_size, src, n)) {
                return 0;
            }
        } else if (m->data_length >= sizeof xmp_header &&
                   memcmp(m->data, xmp_header, sizeof xmp_header) == 0) {
            free(b->xmp);
            b->xmp = NULL;
            b->xmp_size = 0;
            if (!append(&b->xmp, &b->xmp_size, m->data + sizeof xmp_header,
                        m->data_length - sizeof xmp_header)) {
                return 0;
            }
        }
    }
    return 1;
}

static void free_buffers(cic_jpeg_buffers *b) {
    free(b->pixels);
    free(b->exif);
    free(b->xmp);
    memset(b, 0, sizeof *b);
}

int cic_jpeg_decode(const unsigned char *data, size_t size, uint64_t max_pixels, cic_jpeg_result *out) {
    memset(out, 0, sizeof *out);
    struct jpeg_decompress_struct cinfo;
    cic_jpeg_error err;
    // Written after setjmp and read after a longjmp: keep them in memory, not in registers.
    volatile cic_jpeg_buffers buffers;
    memset((void *)&buffers, 0, sizeof buffers);
    memset(&err, 0, sizeof err);

    cinfo.err = jpeg_std_error(&err.base);
    err.base.error_exit = on_error_exit;
    err.base.emit_message = on_emit_message;
    err.base.output_message = on_output_message;

    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free_buffers((cic_jpeg_buffers *)&buffers);
        snprintf(out->message, sizeof out->message, "%s", err.message);
        return err.status ? err.status : CIC_CORRUPT;
    }

    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&cinfo, TRUE);

    out->width = (int)cinfo.image_width;
    out->height = (int)cinfo.image_height;
    out->jpeg_color_space = (int)cinfo.jpeg_color_space;
    out->saw_adobe_marker = cinfo.saw_Adobe_marker;
    out->adobe_transform = cinfo.Adobe_transform;
    out->progressive = cinfo.progressive_mode;

    if ((uint64_t)cinfo.image_width * (uint64_t)cinfo.image_height > max_pixels) {
        jpeg_destroy_decompress(&cinfo);
        snprintf(out->message, sizeof out->message, "%ux%u pixels is more than the limit of %llu",
                 cinfo.image_width, cinfo.image_height, (unsigned long long)max_pixels);
        return CIC_TOO_LARGE;
    }

    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
        cinfo.out_color_space = JCS_GRAYSCALE;
        break;
    case JCS_YCbCr:
    case JCS_RGB:
        cinfo.out_color_space = JCS_RGB;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        cinfo.out_color_space = JCS_CMYK;
        break;
    default:
        jpeg_destroy_decompress(&cinfo);
        snprintf(out->message, sizeof out->message,
                 "%d-component JPEG with an unknown colour space", cinfo.num_components);
        return CIC_UNSUPPORTED;
    }
    // libjpeg's defaults are what Pillow uses: JDCT_ISLOW and fancy upsampling.
    cinfo.dct_method = JDCT_ISLOW;
    cinfo.do_fancy_upsampling = TRUE;

    if (!collect_markers(&cinfo, (cic_jpeg_buffers *)&buffers)) {
        jpeg_destroy_decompress(&cinfo);
        free_buffers((cic_jpeg_buffers *)&buffers);
        snprintf(out->message, sizeof out->message, "out of memory reading metadata");
        return CIC_NO_MEMORY;
    }

    jpeg_start_decompress(&cinfo);
    const size_t stride = (size_t)cinfo.output_width * (size_t)cinfo.output_components;
    buffers.pixels = malloc(stride * cinfo.output_height + 1);
    if (!buffers.pixels) {
        jpeg_destroy_decompress(&cinfo);
        free_buffers((cic_jpeg_buffers *)&buffers);
        snprintf(out->message, sizeof out->message, "out of memory for %ux%u pixels",
                 cinfo.output_width, cinfo.output_height);
        return CIC_NO_MEMORY;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW rows[16];
        int n = 0;
        for (; n < 16 && cinfo.output_scanline + (JDIMENSION)n < cinfo.output_height; n++) {
            rows[n] = buffers.pixels + (size_t)(cinfo.output_scanline + (JDIMENSION)n) * stride;
        }
        jpeg_read_scanlines(&cinfo, rows, (JDIMENSION)n);
    }
    out->width = (int)cinfo.output_width;
    out->height = (int)cinfo.output_height;
    out->components = cinfo.output_components;
    out->warnings = err.warnings;
    // Every scanline is decoded; what follows the last scan (normally just EOI) is not needed,
    // so the decoder is released without jpeg_finish_decompress.
    jpeg_destroy_decompress(&cinfo);

    out->pixels = buffers.pixels;
    out->exif = buffers.exif;
    out->exif_size = buffers.exif_size;
    out->xmp = buffers.xmp;
    out->xmp_size = buffers.xmp_size;
    return CIC_OK;
}

void cic_jpeg_result_free(cic_jpeg_result *r) {
    free(r->pixels);
    free(r->exif);
    free(r->xmp);
    r->pixels = NULL;
    r->exif = NULL;
    r->xmp = NULL;
}

void cic_free(void *p) { free(p); }

const char *cic_jpeg_version(void) {
#ifdef LIBJPEG_TURBO_VERSION
    return "libjpeg-turbo " STR(LIBJPEG_TURBO_VERSION) " (JPEG_LIB_VERSION " STR(JPEG_LIB_VERSION) ")";
#else
    return "libjpeg (JPEG_LIB_VERSION " STR(JPEG_LIB_VERSION) ")";
#endif
}
