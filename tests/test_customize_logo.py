"""Logo upload: what is refused, how it is re-encoded, how it is served."""

import io
import struct
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageCms
from PIL.PngImagePlugin import PngInfo

from accounts.services import api_key_for
from customize import services
from customize.logos import MAX_BYTES, LogoRejected, prepare_logo
from customize.models import LinkSettings

SAVE_URL = "/customize/save"
REMOVE_URL = "/customize/logo/remove"


def image_bytes(size=(64, 32), format="PNG", mode="RGB", **save_options):
    buffer = io.BytesIO()
    Image.new(mode, size, "navy").save(buffer, format=format, **save_options)
    return buffer.getvalue()


def png_claiming(width, height):
    """A valid PNG header for a huge image, with almost no pixel data."""

    def chunk(kind, body):
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 16)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )


def upload(client, content, name="logo.png", content_type="image/png", **fields):
    data = {
        "environment": "sandbox",
        "show_title": "on",
        "title": "Acme Capital",
        "shown_platforms": ["QUICKBOOKS", "XERO"],
        "logo": SimpleUploadedFile(name, content, content_type=content_type),
        **fields,
    }
    return client.post(SAVE_URL, data)


def stored_png(scope):
    settings = scope.all(LinkSettings).first()
    return bytes(settings.logo_png) if settings and settings.logo_png else None


def logo_error(response):
    return response.context["form"].errors["logo"][0]


def open_png(data):
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image


def png_chunk_types(data):
    kinds, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kinds.append(data[offset + 4 : offset + 8].decode())
        offset += length + 12
    return kinds


# Refusals: each answers 400 with a field error, keeps the other fields, stores nothing


def assert_refused(response, scope, message):
    assert response.status_code == 400
    assert message in logo_error(response)
    assert b'value="Acme Capital"' in response.content
    assert b"choose the logo file again" in response.content
    assert stored_png(scope) is None
    assert not scope.all(LinkSettings).exists()


def test_a_file_over_two_megabytes_is_refused(developer_client, sandbox):
    padded = image_bytes() + b"\x00" * MAX_BYTES

    response = upload(developer_client, padded)

    assert_refused(response, sandbox, "2 MB or smaller")
    # Dropped while arriving, not read into memory and measured afterwards.
    assert response.wsgi_request.upload_too_large is True


def test_the_size_limit_holds_without_the_upload_handler(sandbox):
    with pytest.raises(LogoRejected, match="2 MB or smaller"):
        prepare_logo(io.BytesIO(b"\x00" * (MAX_BYTES + 1)))


def test_more_than_4096_pixels_on_a_side_is_refused(developer_client, sandbox):
    response = upload(developer_client, png_claiming(4097, 10))

    assert_refused(response, sandbox, "at most 4096×4096 pixels; this one is 4097×10")


def test_a_decompression_bomb_is_refused_before_decoding(developer_client, sandbox):
    response = upload(developer_client, png_claiming(40000, 40000))

    # Pillow's own refusal, raised while reading the header.
    assert_refused(response, sandbox, "at most 4096×4096 pixels.")


def test_an_image_past_pillows_warning_threshold_is_refused(developer_client, sandbox):
    # 100 million pixels: Pillow only warns (below twice its limit).
    response = upload(developer_client, png_claiming(10000, 10000))

    assert_refused(response, sandbox, "at most 4096×4096 pixels.")


def test_svg_is_refused_with_its_own_reason(developer_client, sandbox):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'

    response = upload(developer_client, svg, "logo.svg", "image/svg+xml")

    assert_refused(response, sandbox, "SVG logos are not accepted")


def test_svg_renamed_to_png_is_still_refused(developer_client, sandbox):
    svg = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>'

    response = upload(developer_client, svg)

    assert_refused(response, sandbox, "SVG logos are not accepted")


def test_a_text_file_renamed_png_is_refused(developer_client, sandbox):
    response = upload(developer_client, b"quarterly figures, not a picture\n")

    assert_refused(response, sandbox, "not a PNG, JPEG, WebP or GIF image")


def test_a_truncated_image_is_refused(developer_client, sandbox):
    whole = image_bytes((300, 300), "JPEG", quality=95)

    response = upload(developer_client, whole[: len(whole) // 2], "logo.jpg")

    assert_refused(response, sandbox, "damaged or incomplete")


@pytest.mark.parametrize("format", ["BMP", "TIFF", "ICO"])
def test_other_image_types_are_refused(developer_client, sandbox, format):
    response = upload(developer_client, image_bytes(format=format), "logo.img")

    assert_refused(response, sandbox, "not a PNG, JPEG, WebP or GIF image")


def test_an_empty_file_is_refused(developer_client, sandbox):
    response = upload(developer_client, b"")

    assert response.status_code == 400
    assert stored_png(sandbox) is None


# What is kept


@pytest.mark.parametrize("format", ["PNG", "JPEG", "WEBP", "GIF"])
def test_each_accepted_type_becomes_a_png(developer_client, sandbox, format):
    response = upload(developer_client, image_bytes(format=format), "logo.any")

    assert response.status_code == 302
    assert open_png(stored_png(sandbox)).size == (64, 32)


def test_large_logos_shrink_to_512_keeping_their_shape(developer_client, sandbox):
    upload(developer_client, image_bytes((2000, 1000)))

    assert open_png(stored_png(sandbox)).size == (512, 256)


def test_small_logos_are_not_enlarged(sandbox):
    png = prepare_logo(io.BytesIO(image_bytes((40, 120))))

    assert open_png(png).size == (40, 120)


def test_exif_orientation_is_applied(developer_client, sandbox):
    # Stored 300 wide and 100 tall, to be shown rotated a quarter turn.
    exif = Image.Exif()
    exif[0x0112] = 6
    jpeg = image_bytes((300, 100), "JPEG", exif=exif.tobytes())

    upload(developer_client, jpeg, "photo.jpg", "image/jpeg")

    assert open_png(stored_png(sandbox)).size == (100, 300)


def test_output_carries_no_metadata(sandbox):
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    source = Image.new("RGB", (50, 50), "red")
    buffer = io.BytesIO()
    info = PngInfo()
    info.add_text("Author", "someone@example.com")
    info.add_itxt("Comment", "private note")
    source.save(buffer, "PNG", pnginfo=info, exif=exif.tobytes())
    assert b"someone@example.com" in buffer.getvalue()

    png = prepare_logo(io.BytesIO(buffer.getvalue()))

    assert set(png_chunk_types(png)) <= {"IHDR", "PLTE", "tRNS", "IDAT", "IEND"}
    assert b"someone@example.com" not in png
    assert b"Camera maker" not in png


def test_transparency_is_kept(sandbox):
    clear = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    buffer = io.BytesIO()
    clear.save(buffer, "PNG")

    png = prepare_logo(io.BytesIO(buffer.getvalue()))

    assert open_png(png).convert("RGBA").getpixel((5, 5))[3] == 0


def test_an_animated_gif_keeps_its_first_frame(sandbox):
    frames = [Image.new("RGB", (30, 30), colour) for colour in ("red", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])

    png = prepare_logo(io.BytesIO(buffer.getvalue()))

    image = open_png(png)
    assert getattr(image, "n_frames", 1) == 1
    assert image.convert("RGB").getpixel((10, 10)) == (255, 0, 0)


def test_a_new_logo_replaces_the_old_one(developer_client, sandbox):
    upload(developer_client, image_bytes((64, 32)))
    upload(developer_client, image_bytes((10, 20)))

    assert open_png(stored_png(sandbox)).size == (10, 20)
    assert sandbox.all(LinkSettings).count() == 1


def test_saving_without_a_file_keeps_the_logo(developer_client, sandbox):
    upload(developer_client, image_bytes())

    response = developer_client.post(
        SAVE_URL,
        {"environment": "sandbox", "title": "New", "shown_platforms": ["XERO"]},
    )

    assert response.status_code == 302
    assert stored_png(sandbox) is not None


def test_the_logo_can_be_removed(developer_client, sandbox):
    upload(developer_client, image_bytes())

    response = developer_client.post(REMOVE_URL, {"environment": "sandbox"})

    assert response.status_code == 302
    assert stored_png(sandbox) is None
    assert services.logo_url(sandbox) is None
    assert sandbox.all(LinkSettings).get().title == "Acme Capital"


def test_remove_logo_is_post_only(developer_client):
    assert developer_client.get(REMOVE_URL).status_code == 405


# Serving


@pytest.fixture
def stored_logo(sandbox):
    services.logo_store(sandbox, prepare_logo(io.BytesIO(image_bytes())))
    return services.logo_url(sandbox)


def test_logo_is_public_at_a_versioned_url(client, stored_logo, sandbox):
    api_key, _ = api_key_for(sandbox)
    assert stored_logo.startswith(f"/customize/logo/{api_key.public_key}.png?v=")

    response = client.get(stored_logo)

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "immutable" in response["Cache-Control"]
    assert "public" in response["Cache-Control"]
    assert response.content == stored_png(sandbox)


def test_unversioned_logo_url_is_revalidated_with_its_etag(client, stored_logo):
    bare = stored_logo.split("?")[0]
    first = client.get(bare)
    assert "no-cache" in first["Cache-Control"]

    again = client.get(bare, HTTP_IF_NONE_MATCH=first["ETag"])

    assert again.status_code == 304
    assert again.content == b""


def test_no_logo_answers_404(client, sandbox):
    api_key, _ = api_key_for(sandbox)

    assert client.get(f"/customize/logo/{api_key.public_key}.png").status_code == 404
    assert client.get("/customize/logo/pk_test_unknown.png").status_code == 404


def test_the_logo_belongs_to_one_environment(client, stored_logo, production):
    production_key, _ = api_key_for(production)

    response = client.get(f"/customize/logo/{production_key.public_key}.png")

    assert response.status_code == 404


def test_logo_answers_head_requests(client, stored_logo):
    response = client.head(stored_logo)

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response.content == b""


def test_sixteen_bit_greyscale_is_scaled_not_clipped(sandbox):
    buffer = io.BytesIO()
    Image.new("I;16", (40, 40), 30000).save(buffer, "PNG")

    png = prepare_logo(io.BytesIO(buffer.getvalue()))

    assert open_png(png).getpixel((5, 5)) == (117, 117, 117)


def test_a_palette_gif_keeps_its_transparent_colour(sandbox):
    buffer = io.BytesIO()
    Image.new("P", (600, 300), 0).save(buffer, "GIF", transparency=0)

    png = prepare_logo(io.BytesIO(buffer.getvalue()))

    image = open_png(png)
    assert image.size == (512, 256)
    assert image.convert("RGBA").getpixel((5, 5))[3] == 0


def test_a_cmyk_jpeg_becomes_rgb(sandbox):
    buffer = io.BytesIO()
    Image.new("CMYK", (60, 30), (0, 100, 200, 0)).save(buffer, "JPEG")

    image = open_png(prepare_logo(io.BytesIO(buffer.getvalue())))

    assert image.mode == "RGB"
    red, green, blue = image.getpixel((5, 5))
    assert red > green > blue


def test_an_embedded_colour_profile_is_applied_then_dropped(sandbox):
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buffer = io.BytesIO()
    Image.new("RGB", (60, 30), (200, 40, 40)).save(buffer, "PNG", icc_profile=profile)

    png = prepare_logo(io.BytesIO(buffer.getvalue()))

    assert "iCCP" not in png_chunk_types(png)
    red, green, blue = open_png(png).getpixel((5, 5))
    assert abs(red - 200) <= 2 and abs(green - 40) <= 2


def test_an_unreadable_colour_profile_is_ignored(sandbox):
    buffer = io.BytesIO()
    Image.new("RGB", (60, 30), (200, 40, 40)).save(
        buffer, "PNG", icc_profile=b"not a colour profile"
    )

    png = prepare_logo(io.BytesIO(buffer.getvalue()))

    assert open_png(png).getpixel((5, 5)) == (200, 40, 40)
