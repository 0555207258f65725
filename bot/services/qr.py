"""QR codes of links, as PNG bytes, drawn in a thread (off the event loop)."""

from __future__ import annotations

import asyncio
from io import BytesIO


def draw_qr(url: str) -> bytes:
    # Imported by the first code drawn (with PIL: about 5 MB a process that draws none keeps).
    import qrcode
    from qrcode.constants import ERROR_CORRECT_M

    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=10, border=3)
    code.add_data(url)
    code.make(fit=True)
    buffer = BytesIO()
    code.make_image().save(buffer)
    return buffer.getvalue()


async def qr_png(url: str) -> bytes:
    return await asyncio.to_thread(draw_qr, url)
