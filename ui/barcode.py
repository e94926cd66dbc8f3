"""The accession number as a Code 128 barcode (python-barcode, SVG).

Code 128 because the USB barcode readers found at hospital reception desks read
it and type it like a keyboard, followed by Enter: the day list's arrival box
takes it as typed text.
"""

from __future__ import annotations

import base64
import io

import barcode
from barcode.writer import SVGWriter


def code128_data_uri(value: str) -> str:
    """``value`` as a Code 128 SVG image (text under it) in a data: URI for an
    <img>: as an image the SVG's own style attributes are outside the page's
    Content-Security-Policy, which allows no inline style. Empty when Code 128
    cannot carry the value (an imported accession number with a character
    outside ASCII): the slip then shows the number alone, never fails."""
    if not value or not value.isascii():
        return ""
    out = io.BytesIO()
    barcode.get("code128", value, writer=SVGWriter()).write(
        out, options={"module_width": 0.3, "module_height": 12.0, "font_size": 8, "text_distance": 4, "quiet_zone": 4}
    )
    return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode("ascii")
