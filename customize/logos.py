"""Turn an uploaded logo into a small, metadata-free PNG, or refuse it."""

import io
import logging
import warnings

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

log = logging.getLogger(__name__)

MAX_BYTES = 2 * 1024 * 1024
MAX_SIDE = 4096
OUTPUT_SIDE = 512
ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
ACCEPTED_TYPES = "image/png,image/jpeg,image/webp,image/gif"

TOO_MANY_BYTES = "The logo must be 2 MB or smaller."
UNREADABLE = "This file is not a PNG, JPEG, WebP or GIF image we can read."
NO_SVG = (
    "SVG logos are not accepted, as they can carry scripts. Upload a PNG,"
    " JPEG, WebP or GIF instead."
)


class LogoRejected(ValueError):
    """The upload cannot become a logo; the message says why, for a person."""


def prepare_logo(upload):
    """PNG bytes of ``upload`` (a file object) fit to show in Link."""
    data = _read_limited(upload)
    if _looks_like_svg(data):
        raise LogoRejected(NO_SVG)
    image = _open(data)
    try:
        return _to_png(image)
    finally:
        image.close()


def _read_limited(upload):
    data = upload.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise LogoRejected(TOO_MANY_BYTES)
    if not data:
        raise LogoRejected("The file is empty.")
    return data


def _looks_like_svg(data):
    head = data[:2048].lstrip().lower()
    return head.startswith((b"<?xml", b"<svg", b"<!doctype svg")) or b"<svg" in head


def _open(data):
    # Pillow warns about, then refuses, images whose pixel count could
    # exhaust memory; both become a refusal here, before any decoding.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise LogoRejected(_too_large_message()) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise LogoRejected(UNREADABLE) from None

    width, height = image.size
    if width > MAX_SIDE or height > MAX_SIDE:
        image.close()
        raise LogoRejected(_too_large_message(width, height))
    return image


def _too_large_message(width=None, height=None):
    limit = f"The logo can be at most {MAX_SIDE}×{MAX_SIDE} pixels"
    if width is None:
        return f"{limit}."
    return f"{limit}; this one is {width}×{height}."


def _to_png(image):
    try:
        small = _shrunk_upright(image)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        log.debug("Logo refused while decoding: %s", exc)
        raise LogoRejected(
            "This image is damaged or incomplete; export it again and retry."
        ) from None

    # A fresh image carries none of the source's metadata (EXIF, text, ICC).
    clean = Image.frombytes(small.mode, small.size, small.tobytes())
    output = io.BytesIO()
    clean.save(output, format="PNG", optimize=True)
    return output.getvalue()


def _shrunk_upright(image):
    image.seek(0)  # an animation shows its first frame
    if image.mode.startswith("I"):
        # 16-bit greyscale: scale to 8 bits rather than clip to white.
        image = image.convert("I").point(lambda value: value / 256).convert("L")
    elif image.mode in ("1", "P", "PA"):
        # Palette images would otherwise shrink by dropping pixels.
        has_alpha = image.mode == "PA" or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
    # Shrinking before decoding lets a JPEG decode at a fraction of its size.
    image.thumbnail((OUTPUT_SIDE, OUTPUT_SIDE), Image.Resampling.LANCZOS)
    ImageOps.exif_transpose(image, in_place=True)
    return _in_srgb(image)


def _in_srgb(image):
    """RGB or RGBA pixels, colour-managed into sRGB when a profile is embedded."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    mode = "RGBA" if has_alpha else "RGB"
    profile = image.info.get("icc_profile")
    if not profile or image.mode not in ("RGB", "RGBA", "CMYK", "L"):
        return image.convert(mode)

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        srgb = ImageCms.createProfile("sRGB")
        managed = ImageCms.profileToProfile(
            image, source, srgb, outputMode="RGBA" if has_alpha else "RGB"
        )
    except (ImageCms.PyCMSError, OSError, ValueError):
        log.debug("Logo's colour profile ignored: it cannot be applied")
        return image.convert(mode)
    return managed.convert(mode)
