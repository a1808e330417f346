#ifndef CIMAGECODECS_H
#define CIMAGECODECS_H

// A thin C shim over Debian's libjpeg-turbo (libjpeg62-turbo-dev) and libpng (libpng-dev).
// Both libraries report errors with setjmp/longjmp, which Swift cannot do: every entry point
// here catches them and returns a status code with a message instead. No function aborts, and
// no function returns a partial image.
//
// Ownership: buffers returned through `cic_*_result` / `out` pointers are malloc'd; release them
// with `cic_free` (or `cic_jpeg_result_free` / `cic_png_result_free`).

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Status codes shared by the decoders and the encoder.
enum {
    CIC_OK = 0,
    CIC_TRUNCATED = 1,    ///< the data ends before the image does
    CIC_CORRUPT = 2,      ///< the library rejected the data
    CIC_UNSUPPORTED = 3,  ///< valid but not supported here (e.g. 12-bit JPEG, 2-channel JPEG)
    CIC_TOO_LARGE = 4,    ///< more pixels than `max_pixels`
    CIC_NO_MEMORY = 5,
};

#define CIC_MESSAGE_LENGTH 256

typedef struct {
    int width;
    int height;
    /// Channels of `pixels`: 1 (greyscale), 3 (RGB) or 4 (CMYK exactly as libjpeg outputs it,
    /// i.e. Adobe-inverted when the file follows Adobe's convention).
    int components;
    unsigned char *pixels;          ///< height × width × components, row-major
    /// The APP1 "Exif\0\0" payload(s): the first segment whole, later ones appended without their
    /// 6-byte header (as Pillow does). NULL when absent.
    unsigned char *exif;
    size_t exif_size;
    /// The last APP1 XMP packet (after "http://ns.adobe.com/xap/1.0/\0"). NULL when absent.
    unsigned char *xmp;
    size_t xmp_size;
    int jpeg_color_space;           ///< libjpeg's J_COLOR_SPACE of the file
    int saw_adobe_marker;
    int adobe_transform;
    int progressive;
    int warnings;                   ///< libjpeg warnings ignored (corrupt-data warnings, as Pillow does)
    char message[CIC_MESSAGE_LENGTH];
} cic_jpeg_result;

/// Decodes a whole JPEG held in memory. Returns a CIC_* status; on failure `message` says why
/// and no buffer is left allocated. A truncated file ("Premature end of JPEG file") fails.
int cic_jpeg_decode(const unsigned char *data, size_t size, uint64_t max_pixels, cic_jpeg_result *out);
void cic_jpeg_result_free(cic_jpeg_result *r);

typedef struct {
    int width;
    int height;
    /// Channels of `pixels` after libpng's expansion to 8 bits: 1 grey, 2 grey+alpha, 3 RGB,
    /// 4 RGBA (a palette with tRNS expands to RGBA).
    int channels;
    unsigned char *pixels;          ///< height × width × channels, row-major, de-interlaced
    int bit_depth;                  ///< as stored in the file
    int color_type;                 ///< as stored in the file (PNG_COLOR_TYPE_*)
    int interlaced;
    unsigned char *exif;            ///< eXIf chunk with a "Exif\0\0" prefix, NULL when absent
    size_t exif_size;
    unsigned char *xmp;             ///< iTXt "XML:com.adobe.xmp", NULL when absent
    size_t xmp_size;
    unsigned char *raw_exif;        ///< text chunk "Raw profile type exif" (hex), NULL when absent
    size_t raw_exif_size;
    char message[CIC_MESSAGE_LENGTH];
} cic_png_result;

/// Decodes a whole PNG held in memory; 16-bit samples keep their high byte.
int cic_png_decode(const unsigned char *data, size_t size, uint64_t max_pixels, cic_png_result *out);
void cic_png_result_free(cic_png_result *r);

/// Encodes 8-bit pixels (channels 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA) as a PNG in memory.
/// `compression_level` is zlib's 0–9 (-1: libpng's default). On success `*out` holds the file.
int cic_png_encode(const unsigned char *pixels, int width, int height, int channels,
                   int compression_level, unsigned char **out, size_t *out_size,
                   char message[CIC_MESSAGE_LENGTH]);

/// Chroma subsampling of `cic_jpeg_encode` (luma sampling factors 1×1, 2×1, 2×2).
enum {
    CIC_JPEG_SUBSAMPLING_444 = 0,
    CIC_JPEG_SUBSAMPLING_422 = 1,
    CIC_JPEG_SUBSAMPLING_420 = 2,
};

/// Encodes 8-bit pixels (channels 1 grey or 3 RGB, row-major) as a baseline JPEG in memory with
/// libjpeg's standard tables scaled to `quality` (1–100), the integer DCT and the given chroma
/// subsampling (ignored for grey). On success `*out` holds the file (release with `cic_free`).
int cic_jpeg_encode(const unsigned char *pixels, int width, int height, int channels, int quality,
                    int subsampling, unsigned char **out, size_t *out_size,
                    char message[CIC_MESSAGE_LENGTH]);

void cic_free(void *p);

/// Versions of the linked libraries, for reports ("libjpeg-turbo 2.1.5 (JPEG_LIB_VERSION 62)").
const char *cic_jpeg_version(void);
const char *cic_png_version(void);

#ifdef __cplusplus
}
#endif
#endif
