"""Worklist attributes without a column, in the plain form WorklistItem.attributes
and Order.imported_attributes keep them (JSON): a string for text VRs (several
values joined by a backslash, as DICOM writes them; a person name with all its
groups), an int or a list of ints for binary integers, a list of items
(keyword -> plain value) for a sequence. From a pydicom element (an imported
file) and back onto a response dataset, in the station profile's character set."""

from __future__ import annotations

from typing import Any

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from dicom_gateway.profiles import ProfileSettings, format_person_name, transliterate

INTEGER_VRS = frozenset({"US", "SS", "UL", "SL", "UV", "SV"})
TEXT_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
)


class NotKept(ValueError):
    """An element the plain form cannot hold (binary data, private or unknown tags)."""


def plain_value(element: DataElement) -> Any:
    """The plain form of an element's value; None when it is empty. Raises
    NotKept for what the worklist does not keep."""
    vr, value = element.VR, element.value
    if value is None or value == "" or (isinstance(value, list | MultiValue) and len(value) == 0):
        return None
    if vr == "SQ":
        return [plain_item(item) for item in value]
    if vr in INTEGER_VRS:
        return [int(v) for v in value] if isinstance(value, MultiValue) else int(value)
    if vr in TEXT_VRS:
        values = list(value) if isinstance(value, MultiValue) else [value]
        return "\\".join(str(v).strip() if vr != "PN" else str(v) for v in values)
    raise NotKept(f"{element.keyword or element.tag} has VR {vr}, which the worklist does not keep")


def plain_item(item: Dataset) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for element in item:
        if element.tag.is_private or not element.keyword or element.tag.element == 0:
            raise NotKept(f"sequence item element {element.tag} is private or unknown")
        value = plain_value(element)
        kept[element.keyword] = "" if value is None else value
    return kept


def _text(value: str, vr: str, profile: ProfileSettings) -> str:
    if vr == "PN":
        return "\\".join(format_person_name(v, profile) for v in value.split("\\"))
    return transliterate(value, profile.charset)


# A response element in the neutral form both encoders read (encoding.py
# builds pydicom Datasets from it, fastencode.py bytes): (tag, keyword, VR,
# value), the value a str, an int, a list of ints, None (empty), or for a
# sequence a list of items, each a list of elements in tag order.
Element = tuple[int, str, str, Any]


def element(keyword: str, value: Any, profile: ProfileSettings) -> Element:
    """The response element for ``keyword`` from its plain value."""
    tag = int(tag_for_keyword(keyword))  # type: ignore[arg-type]  # every keyword here is in the dictionary
    vr = dictionary_VR(tag)
    if vr == "SQ":
        return tag, keyword, vr, [item_elements(item, profile) for item in value or []]
    if value is None or value == "" or value == []:
        return tag, keyword, vr, (None if vr in INTEGER_VRS or vr in ("DS", "IS") else "")
    if vr in INTEGER_VRS:
        return tag, keyword, vr, value
    return tag, keyword, vr, _text(str(value), vr, profile)


def item_elements(item: dict[str, Any], profile: ProfileSettings) -> list[Element]:
    elements = [element(keyword, value, profile) for keyword, value in item.items() if tag_for_keyword(keyword)]
    return sorted(elements, key=lambda e: e[0])
