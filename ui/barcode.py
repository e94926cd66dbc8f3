"""The accession number as a Code 128 barcode (python-barcode, SVG).

Code 128 because the USB barcode readers found at hospital reception desks read
it and type it like a keyboard, followed by Enter: the day list's arrival box
takes it as typed text.
"""

from __future__ import annotations

import io

import barcode
from barcode.writer import SVGWriter


def code128_svg(value: str) -> str:
    """An inline SVG element (no XML prolog) of ``value`` as Code 128, text under it;
    empty when Code 128 cannot carry the value (an imported accession number with a
    character outside ASCII): the slip then shows the number alone, never fails."""
    if not value or not value.isascii():
        return ""
    out = io.BytesIO()
    barcode.get("code128", value, writer=SVGWriter()).write(
        out, options={"module_width": 0.3, "module_height": 12.0, "font_size": 8, "text_distance": 4, "quiet_zone": 4}
    )
    svg = out.getvalue().decode("utf-8")
    return svg[svg.index("<svg") :]
