"""Vietnamese text in the legacy encodings old sites still serve: windows-1258, TCVN3 and VNI."""

import unicodedata

_TONES = "\u0301\u0300\u0309\u0303\u0323"  # sắc, huyền, hỏi, ngã, nặng

# TCVN3 ("ABC"): one latin-1 code per lower-case letter; upper-case letters with tones were
# written in a separate capitals font with the same codes.
_TCVN3_LOWER = {
    "à": "µ", "á": "¸", "ả": "¶", "ã": "·", "ạ": "¹",
    "ă": "¨", "ằ": "»", "ắ": "¾", "ẳ": "¼", "ẵ": "½", "ặ": "Æ",
    "â": "©", "ầ": "Ç", "ấ": "Ê", "ẩ": "È", "ẫ": "É", "ậ": "Ë",
    "đ": "®",
    "è": "Ì", "é": "Ð", "ẻ": "Î", "ẽ": "Ï", "ẹ": "Ñ",
    "ê": "ª", "ề": "Ò", "ế": "Õ", "ể": "Ó", "ễ": "Ô", "ệ": "Ö",
    "ì": "×", "í": "Ý", "ỉ": "Ø", "ĩ": "Ü", "ị": "Þ",
    "ò": "ß", "ó": "ã", "ỏ": "á", "õ": "â", "ọ": "ä",
    "ô": "«", "ồ": "å", "ố": "è", "ổ": "æ", "ỗ": "ç", "ộ": "é",
    "ơ": "¬", "ờ": "ê", "ớ": "í", "ở": "ë", "ỡ": "ì", "ợ": "î",
    "ù": "ï", "ú": "ó", "ủ": "ñ", "ũ": "ò", "ụ": "ô",
    "ư": "\u00ad", "ừ": "õ", "ứ": "ø", "ử": "ö", "ữ": "÷", "ự": "ù",
    "ỳ": "ú", "ý": "ý", "ỷ": "û", "ỹ": "ü", "ỵ": "þ",
}  # fmt: skip
_TCVN3_CAPITALS = {"Ă": "¡", "Â": "¢", "Ê": "£", "Ô": "¤", "Ơ": "¥", "Ư": "¦", "Đ": "§"}

# VNI: a plain letter followed by latin-1 letters standing for its marks.
_VNI_TONE = dict(zip(_TONES, "ùøûõï", strict=True))
_VNI_CIRCUMFLEX_TONE = dict(zip(_TONES, "áàåãä", strict=True))
_VNI_BREVE_TONE = dict(zip(_TONES, "éèúüë", strict=True))
_VNI_I = dict(zip(_TONES, "íìæóò", strict=True))


def windows_1258(text: str) -> bytes:
    """windows-1258: precomposed base letters (ư, ơ, â…), tones as combining marks."""
    out = bytearray()
    for char in unicodedata.normalize("NFC", text):
        decomposed = unicodedata.normalize("NFD", char)
        tones = "".join(c for c in decomposed if c in _TONES)
        base = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in _TONES))
        out += (base + tones).encode("cp1258")
    return bytes(out)


def tcvn3(text: str) -> bytes:
    """TCVN3 codes, as the windows-1252 bytes a page in a .Vn font is served as."""
    out = []
    for char in unicodedata.normalize("NFC", text):
        if char in _TCVN3_CAPITALS:
            out.append(_TCVN3_CAPITALS[char])
        elif char.lower() in _TCVN3_LOWER:
            out.append(_TCVN3_LOWER[char.lower()])
        else:
            out.append(char)
    return "".join(out).encode("cp1252")


def vni(text: str) -> bytes:
    """VNI-Windows, as the windows-1252 bytes a page in a VNI font is served as."""
    out = []
    for char in unicodedata.normalize("NFC", text):
        decomposed = unicodedata.normalize("NFD", char.lower())
        tone = next((c for c in decomposed if c in _TONES), None)
        base = decomposed[0]
        shape = decomposed[1:].replace(tone or "", "")
        if char.lower() == "đ":
            letters = "ñ"
        elif base == "i":
            letters = _VNI_I[tone] if tone else "i"
        elif shape == "\u0302":  # circumflex
            letters = base + (_VNI_CIRCUMFLEX_TONE[tone] if tone else "â")
        elif shape == "\u0306":  # breve
            letters = base + (_VNI_BREVE_TONE[tone] if tone else "ê")
        elif shape == "\u031b":  # horn: ơ and ư are single letters
            letters = {"o": "ô", "u": "ö"}[base] + (_VNI_TONE[tone] if tone else "")
        elif tone:
            letters = base + _VNI_TONE[tone]
        else:
            letters = char.lower()
        out.append(letters.upper() if char.isupper() else letters)
    return "".join(out).encode("cp1252")
