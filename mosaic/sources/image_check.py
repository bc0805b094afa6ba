"""Does an encoded image decode? (frames before labelling, shipped images in ``validate``)."""

from __future__ import annotations

import io


def decode_problem(data: bytes, size: tuple[int, int] | None = None) -> str | None:
    """Why ``data`` is not a decodable image of ``size`` = (width, height), or None.

    The whole entropy-coded stream is decoded (truncated or garbled files fail); JPEGs are
    decoded at 1/8 scale through libjpeg's DCT scaling, which reads every coefficient but
    skips most of the inverse transform.
    """
    from PIL import Image, UnidentifiedImageError

    if not data:
        return "is empty (0 bytes)"
    try:
        with Image.open(io.BytesIO(data)) as im:
            full = im.size
            if im.format == "JPEG":
                im.draft("RGB", (max(1, full[0] // 8), max(1, full[1] // 8)))
            im.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        return f"does not decode ({type(exc).__name__}: {exc})"
    if size is not None and tuple(full) != tuple(size):
        return f"decodes to {full[0]}x{full[1]}, expected {size[0]}x{size[1]}"
    return None
