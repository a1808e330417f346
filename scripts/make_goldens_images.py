#!/usr/bin/env python3
"""Golden files for the Images module (seeded; Pillow 12.3 + torchvision 0.28 are the reference).

Writes Tests/Goldens/images/:
  inputs/*.jpg, *.png   small synthetic files covering the decoder's cases: baseline JPEG at
                        4:2:0 / 4:2:2 / 4:4:4, progressive, greyscale, CMYK (Adobe, inverted as
                        Pillow writes it), YCCK, EXIF orientation 2-8 (little- and big-endian),
                        XMP orientation; PNG grey 1/2/8/16-bit, grey+alpha 8/16-bit, RGB 8/16-bit,
                        RGBA, RGB with tRNS, palette 4/8-bit with tRNS, Adam7-interlaced RGB and
                        palette, eXIf orientation. The PNGs are written by a small encoder here,
                        because Pillow cannot write 16-bit colour or interlaced PNGs.
  expected/<name>.png   Pillow's `ImageOps.exif_transpose(Image.open(f)).convert("RGB")`
                        (for 16-bit greyscale: the high byte, see NOTE below)
  eval/*.png            torchvision `Resize(S, BICUBIC)` + `CenterCrop(S)` of the RGB image, i.e.
                        `ToTensor()` output × 255 (ToTensor divides uint8 by 255 exactly)
  crop/*.png            torchvision `F.resized_crop(img, i, j, h, w, [S, S], BICUBIC)` for fixed
                        boxes, and Pillow `Image.resize(size, BICUBIC, box)` with fractional boxes
  photos/<name>.png     every 4th pixel of Pillow's decoding of each real photo (scikit-image's
                        data folder, installed by `bash scripts/assets.sh skimage-data`)
  manifest.json         what each file is, with the CRC-32 of every full expected RGB array

NOTE: Pillow opens a 16-bit greyscale PNG as mode "I;16" and its convert("RGB") clips each value
to 255 instead of scaling it, which whitens real 16-bit images. The Swift decoder keeps the high
byte (what Pillow itself does for 16-bit RGB, RGBA and grey+alpha); the golden for that file is
Pillow's raw 16-bit array >> 8, and the manifest records Pillow's own (clipped) result's CRC too.

    bash scripts/assets.sh skimage-data
    source scripts/python-env.sh && python3 scripts/make_goldens_images.py
"""
import io
import json
import os
import struct
import sys
import types
import zlib

import numpy as np
import PIL
from PIL import Image, ImageOps, features

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "Goldens", "images")
ASSETS = os.path.join(ROOT, ".cache", "assets", "skimage-data")


def import_torchvision_transforms():
    """torchvision's PyPI wheel is a CUDA build whose C ops do not load against the CPU torch,
    and its package __init__ registers those ops. The PIL code paths used here are pure Python:
    import torchvision.transforms without running the package __init__."""
    import torch  # noqa: F401
    import importlib.util
    tvdir = os.environ.get("LLM2CLIP_TORCHVISION_DIR") or os.path.join(ROOT, ".cache", "python-torchvision")
    if os.path.isdir(tvdir) and tvdir not in sys.path:
        sys.path.append(tvdir)
    spec = importlib.util.find_spec("torchvision")
    if spec is None:
        sys.exit("torchvision is not installed: source scripts/python-env.sh first")
    pkg = types.ModuleType("torchvision")
    pkg.__path__ = list(spec.submodule_search_locations)
    sys.modules["torchvision"] = pkg
    import torchvision.transforms as T
    import torchvision.transforms.functional as F
    from torchvision.transforms import InterpolationMode
    import importlib.metadata
    return T, F, InterpolationMode, importlib.metadata.version("torchvision")


T, F, InterpolationMode, TORCHVISION_VERSION = import_torchvision_transforms()
BICUBIC = InterpolationMode.BICUBIC
rng = np.random.default_rng(20261201)
manifest = {
    "pillow": PIL.__version__,
    "pillow_libjpeg_turbo": features.version("libjpeg_turbo"),
    "torchvision": TORCHVISION_VERSION,
    "decode": [],
    "photos": [],
    "eval": [],
    "resized_crop": [],
    "resize_box": [],
}


def crc(a):
    return zlib.crc32(np.ascontiguousarray(a, dtype=np.uint8).tobytes()) & 0xFFFFFFFF


def save_rgb_png(arr, rel):
    path = os.path.join(OUT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.ascontiguousarray(arr, dtype=np.uint8), "RGB").save(path, optimize=True)
    return rel


def pillow_rgb(path):
    with Image.open(path) as im:
        return ImageOps.exif_transpose(im).convert("RGB")


# --------------------------------------------------------------------------------------------
# synthetic content

def picture(w, h, channels=3, noise=6.0):
    """Smooth colour gradients, a little noise, and a solid red block in the top-left corner and
    a blue one at the top right, so that a wrong flip or rotation is visible."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * x / max(w - 1, 1)
    g = 255 * y / max(h - 1, 1)
    b = 128 + 100 * np.sin(x / 5.0) * np.cos(y / 7.0)
    img = np.stack([r, g, b], axis=-1) + rng.normal(0, noise, size=(h, w, 3))
    img[: h // 4, : w // 4] = (230, 20, 20)
    img[: h // 5, -w // 5:] = (20, 20, 230)
    img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    if channels == 1:
        return np.clip(np.rint(img @ np.array([0.299, 0.587, 0.114])), 0, 255).astype(np.uint8)
    return img


def write_input(name, data):
    path = os.path.join(OUT, "inputs", name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path


# A minimal PNG encoder (filter type 0 per row), with Adam7 interlacing, for the cases Pillow
# cannot write.
def png_bytes(samples, color_type, bit_depth, palette=None, trns=None, interlace=False, exif=None,
              text=(), itext=()):
    """samples: uint8/uint16 array (h, w, c) of raw sample values (palette indices for type 3)."""
    if samples.ndim == 2:
        samples = samples[:, :, None]
    h, w, c = samples.shape

    def pack_rows(s):
        rows = []
        for row in s:
            if bit_depth == 16:
                data = row.astype(">u2").tobytes()
            elif bit_depth == 8:
                data = row.astype(np.uint8).tobytes()
            else:
                vals = row.reshape(-1).astype(np.uint8)
                per = 8 // bit_depth
                pad = (-len(vals)) % per
                vals = np.concatenate([vals, np.zeros(pad, np.uint8)]).reshape(-1, per)
                shifts = np.array([8 - bit_depth * (k + 1) for k in range(per)], np.uint8)
                data = np.bitwise_or.reduce(vals << shifts, axis=1).astype(np.uint8).tobytes()
            rows.append(b"\x00" + data)
        return b"".join(rows)

    if interlace:
        raw = b""
        for x0, y0, dx, dy in [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
                               (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]:
            sub = samples[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                raw += pack_rows(sub)
    else:
        raw = pack_rows(samples)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    out = b"\x89PNG\r\n\x1a\n"
    out += chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 1 if interlace else 0))
    if exif is not None:
        out += chunk(b"eXIf", exif)
    for key, value in text:
        out += chunk(b"tEXt", key + b"\x00" + value)
    for key, value in itext:
        out += chunk(b"iTXt", key + b"\x00\x00\x00\x00\x00" + value)
    if palette is not None:
        out += chunk(b"PLTE", np.asarray(palette, np.uint8).tobytes())
    if trns is not None:
        out += chunk(b"tRNS", trns)
    out += chunk(b"IDAT", zlib.compress(raw, 9))
    out += chunk(b"IEND", b"")
    return out


def exif_block(orientation, big_endian=False):
    """A minimal TIFF-structured Exif block with one IFD0 entry: Orientation (SHORT)."""
    if big_endian:
        tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1)
        tiff += struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    else:
        tiff = b"II\x2a\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
        tiff += struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack("<I", 0)
    return b"Exif\x00\x00" + tiff


def jpeg_bytes(img, mode="RGB", **kw):
    buf = io.BytesIO()
    Image.fromarray(img, mode).save(buf, "JPEG", **kw)
    return buf.getvalue()


def set_adobe_transform(data, transform):
    """Rewrites the transform byte of the APP14 Adobe segment."""
    i = data.find(b"Adobe")
    assert i > 0 and data[i - 4:i - 2] == b"\xff\xee", "no Adobe segment"
    data = bytearray(data)
    data[i + 11] = transform
    return bytes(data)


def ycck_bytes(w, h):
    """A YCCK JPEG: libjpeg's YCCK is YCbCr of (255-C', 255-M', 255-Y') plus K', where C'M'Y'K'
    are the stored (Adobe-inverted) values. Pillow cannot write YCCK, so write the YCbCr+K planes
    as a plain 4-channel JPEG and mark it YCCK in the Adobe segment (transform 2)."""
    stored = rng.integers(0, 256, size=(h, w, 4)).astype(np.float64)
    stored[..., :3] = picture(w, h).astype(np.float64)
    stored[..., 3] = 60 + 100 * (np.arange(w)[None, :] / w)
    rgb = 255 - stored[..., :3]
    y = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    cb = -0.168735892 * rgb[..., 0] - 0.331264108 * rgb[..., 1] + 0.5 * rgb[..., 2] + 128
    cr = 0.5 * rgb[..., 0] - 0.418687589 * rgb[..., 1] - 0.081312411 * rgb[..., 2] + 128
    planes = np.stack([y, cb, cr, stored[..., 3]], axis=-1)
    planes = np.clip(np.rint(planes), 0, 255).astype(np.uint8)
    # Pillow stores 255 - value for CMYK ("CMYK;I"): hand it the complement.
    data = jpeg_bytes(255 - planes, "CMYK", quality=95)
    return set_adobe_transform(data, 2)


def make_inputs():
    W, H = 61, 45   # odd sizes: partial MCUs, odd chroma, uneven Adam7 passes
    rgb = picture(W, H)
    grey = picture(W, H, 1)
    files = {}
    files["baseline_420.jpg"] = jpeg_bytes(rgb, quality=90)
    files["baseline_422.jpg"] = jpeg_bytes(rgb, quality=90, subsampling=1)
    files["baseline_444.jpg"] = jpeg_bytes(rgb, quality=95, subsampling=0)
    files["progressive.jpg"] = jpeg_bytes(rgb, quality=85, progressive=True)
    files["grey.jpg"] = jpeg_bytes(grey, "L", quality=90)
    cmyk = rng.integers(0, 256, size=(H, W, 4)).astype(np.uint8)
    cmyk[..., :3] = 255 - rgb
    cmyk[..., 3] = (np.arange(W)[None, :] * 3).astype(np.uint8)
    files["cmyk.jpg"] = jpeg_bytes(cmyk, "CMYK", quality=95)
    files["ycck.jpg"] = ycck_bytes(W, H)
    small = picture(40, 24)   # non-square, so a rotation changes the size
    for o in range(2, 9):
        files[f"exif_orientation_{o}.jpg"] = jpeg_bytes(small, quality=92, exif=exif_block(o))
    files["exif_orientation_6_big_endian.jpg"] = jpeg_bytes(small, quality=92, exif=exif_block(6, big_endian=True))
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           b'<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="8"/>'
           b"</rdf:RDF></x:xmpmeta>")
    files["xmp_orientation_8.jpg"] = jpeg_bytes(small, quality=92, xmp=xmp)

    # PNG
    files["png_grey1.png"] = png_bytes((grey > 128).astype(np.uint8), 0, 1)
    files["png_grey2.png"] = png_bytes(grey >> 6, 0, 2)
    files["png_grey8.png"] = png_bytes(grey, 0, 8)
    grey16 = (grey.astype(np.uint16) * 257 + rng.integers(0, 257, size=grey.shape)).astype(np.uint16)
    files["png_grey16.png"] = png_bytes(grey16, 0, 16)
    alpha = rng.integers(0, 256, size=(H, W)).astype(np.uint8)
    files["png_grey_alpha8.png"] = png_bytes(np.stack([grey, alpha], -1), 4, 8)
    files["png_grey_alpha16.png"] = png_bytes(np.stack([grey16, alpha.astype(np.uint16) * 257], -1), 4, 16)
    files["png_rgb8.png"] = png_bytes(rgb, 2, 8)
    rgb16 = (rgb.astype(np.uint16) * 257 + rng.integers(0, 257, size=rgb.shape)).astype(np.uint16)
    files["png_rgb16.png"] = png_bytes(rgb16, 2, 16)
    files["png_rgba8.png"] = png_bytes(np.concatenate([rgb, alpha[..., None]], -1), 6, 8)
    files["png_rgba16.png"] = png_bytes(np.concatenate([rgb16, alpha[..., None].astype(np.uint16) * 257], -1), 6, 16)
    files["png_rgb_trns.png"] = png_bytes(rgb, 2, 8, trns=struct.pack(">HHH", 230, 20, 20))
    palette = rng.integers(0, 256, size=(256, 3)).astype(np.uint8)
    idx8 = ((rgb[..., 0].astype(np.int32) + 2 * rgb[..., 1] + 3 * rgb[..., 2]) % 256).astype(np.uint8)
    files["png_palette8_trns.png"] = png_bytes(idx8, 3, 8, palette=palette,
                                               trns=bytes(rng.integers(0, 256, size=200).astype(np.uint8)))
    files["png_palette4.png"] = png_bytes(idx8 % 16, 3, 4, palette=palette[:16], trns=b"\x00\x80")
    files["png_interlaced_rgb.png"] = png_bytes(rgb, 2, 8, interlace=True)
    files["png_interlaced_palette2.png"] = png_bytes(idx8 % 4, 3, 2, palette=palette[:4], interlace=True)
    files["png_interlaced_rgba16.png"] = png_bytes(
        np.concatenate([rgb16, alpha[..., None].astype(np.uint16) * 257], -1), 6, 16, interlace=True)
    files["png_exif_orientation_6.png"] = png_bytes(small, 2, 8, exif=exif_block(6)[6:])
    # ImageMagick's way: the Exif block as hex in a "Raw profile type exif" text chunk.
    hexed = exif_block(3).hex()
    raw_profile = b"\nexif\n" + b"%8d" % len(exif_block(3)) + b"\n" + "\n".join(
        hexed[k:k + 72] for k in range(0, len(hexed), 72)).encode() + b"\n"
    files["png_raw_exif_orientation_3.png"] = png_bytes(small, 2, 8, text=[(b"Raw profile type exif", raw_profile)])
    files["png_xmp_orientation_8.png"] = png_bytes(small, 2, 8, itext=[(b"XML:com.adobe.xmp", xmp)])
    for name, data in sorted(files.items()):
        path = write_input(name, data)
        with Image.open(path) as im:
            mode = im.mode
            if name == "png_grey16.png":
                # See NOTE: the high byte, not Pillow's clipped convert("RGB").
                raw = np.asarray(im).astype(np.uint16)
                g = (raw >> 8).astype(np.uint8)
                expected = np.stack([g, g, g], -1)
                clipped = np.asarray(im.convert("RGB"))
            else:
                expected = np.asarray(pillow_rgb(path))
                clipped = None
        stem = os.path.splitext(name)[0]
        entry = {
            "input": f"inputs/{name}",
            "expected": save_rgb_png(expected, f"expected/{stem}.png"),
            "pillow_mode": mode,
            "width": int(expected.shape[1]),
            "height": int(expected.shape[0]),
            "crc32": crc(expected),
        }
        if clipped is not None:
            entry["pillow_convert_rgb_crc32"] = crc(clipped)
        manifest["decode"].append(entry)
    # A JPEG whose Adobe segment says YCCK is really decoded through libjpeg's YCCK path:
    with Image.open(os.path.join(OUT, "inputs", "ycck.jpg")) as im:
        assert im.info.get("adobe_transform") == 2, im.info


def clip_eval(img, size):
    t = T.Compose([T.Resize(size, interpolation=BICUBIC), T.CenterCrop(size)])
    out = t(img)
    # ToTensor(): uint8 → float / 255, exactly; store the uint8 image.
    tensor = T.ToTensor()(out)
    back = np.rint(tensor.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    assert np.array_equal(back, np.asarray(out)), "ToTensor is not x/255"
    return np.asarray(out)


PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
          "camera.png", "hubble_deep_field.jpg", "retina.jpg", "horse.png", "logo.png"]


def make_photos():
    for name in PHOTOS:
        path = os.path.join(ASSETS, name)
        if not os.path.exists(path):
            sys.exit(f"{path} is missing: run `bash scripts/assets.sh skimage-data`")
        img = pillow_rgb(path)
        a = np.asarray(img)
        stem = os.path.splitext(name)[0]
        with Image.open(path) as im:
            mode = im.mode
        manifest["photos"].append({
            "asset": name,
            "pillow_mode": mode,
            "width": img.width,
            "height": img.height,
            "crc32": crc(a),
            "sample": save_rgb_png(a[::4, ::4], f"photos/{stem}.png"),
            "sample_step": 4,
        })
    eval_cases = [(n, 224) for n in ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg",
                                     "motorcycle_left.png", "camera.png", "hubble_deep_field.jpg"]]
    eval_cases.append(("coffee.png", 336))
    for name, size in eval_cases:
        img = pillow_rgb(os.path.join(ASSETS, name))
        out = clip_eval(img, size)
        stem = os.path.splitext(name)[0]
        manifest["eval"].append({
            "asset": name, "size": size,
            "expected": save_rgb_png(out, f"eval/{stem}_{size}.png"),
        })
    # Odd-sized synthetic image: Resize(224) gives 261×224, and CenterCrop's offset
    # round(18.5) = 18 (Python rounds half to even).
    syn = picture(300, 257, noise=1.0)
    save_rgb_png(syn, "inputs/eval_300x257.png")
    out = clip_eval(Image.fromarray(syn, "RGB"), 224)
    manifest["eval"].append({"input": "inputs/eval_300x257.png", "size": 224,
                             "expected": save_rgb_png(out, "eval/synthetic_300x257_224.png")})
    # Upscaling: a 61×45 image to 224.
    out = clip_eval(pillow_rgb(os.path.join(OUT, "inputs", "png_rgb8.png")), 224)
    manifest["eval"].append({"input": "inputs/png_rgb8.png", "size": 224,
                             "expected": save_rgb_png(out, "eval/png_rgb8_224.png")})


def make_crops():
    # torchvision's crop-then-resize for fixed boxes (i, j, h, w): downscale, upscale, and a box
    # touching the right/bottom edges.
    cases = [("rocket.jpg", (37, 21, 400, 390), 128),
             ("chelsea.png", (10, 100, 90, 120), 160),
             ("astronaut.png", (112, 112, 400, 400), 224)]
    for name, (i, j, h, w), size in cases:
        img = pillow_rgb(os.path.join(ASSETS, name))
        out = np.asarray(F.resized_crop(img, i, j, h, w, [size, size], interpolation=BICUBIC))
        stem = os.path.splitext(name)[0]
        manifest["resized_crop"].append({
            "asset": name, "box": [i, j, h, w], "size": size,
            "expected": save_rgb_png(out, f"crop/{stem}_{i}_{j}_{h}_{w}_{size}.png"),
        })
    # Pillow resize with fractional boxes (filter reads outside the box) and a plain resize.
    src = pillow_rgb(os.path.join(OUT, "inputs", "png_rgb8.png"))
    for k, (size, box, flt) in enumerate([((37, 29), (3.5, 2.25, 50.75, 40.0), "bicubic"),
                                          ((100, 70), (0.0, 0.0, 61.0, 45.0), "bicubic"),
                                          ((20, 45), (10.0, 0.0, 30.0, 45.0), "bicubic"),
                                          ((61, 30), None, "bicubic"),
                                          ((23, 71), (1.25, 0.5, 60.0, 44.5), "bilinear")]):
        resample = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}[flt]
        out = np.asarray(src.resize(size, resample, box=box))
        manifest["resize_box"].append({
            "input": "inputs/png_rgb8.png", "size": list(size), "box": list(box) if box else None,
            "filter": flt, "expected": save_rgb_png(out, f"crop/resize_{k}.png"),
        })


def main():
    for sub in ["inputs", "expected", "eval", "crop", "photos"]:
        d = os.path.join(OUT, sub)
        if os.path.isdir(d):
            for f in os.listdir(d):
                os.remove(os.path.join(d, f))
    make_inputs()
    make_photos()
    make_crops()
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(OUT) for fn in fns)
    print(f"wrote {OUT} ({total / 1e6:.2f} MB); Pillow {PIL.__version__} "
          f"(libjpeg-turbo {manifest['pillow_libjpeg_turbo']}), torchvision {TORCHVISION_VERSION}")


if __name__ == "__main__":
    main()
