"""Whisper's languages as plain data: the codes and names decode options accept.

:data:`LANGUAGES` maps each code to its English name in whisper.cpp's order (ids 0..99);
:func:`language_code` reads a code or a name, so options are checked without loading
whisper.cpp (a test holds the table to whisper.cpp's own).

Example::

    >>> language_code(" ES "), language_code("Haitian Creole"), language_code("auto")
    ('es', 'ht', None)
    >>> LANGUAGES["yue"]
    'cantonese'
"""

from __future__ import annotations

from livewhisper.errors import DecodeOptionsError

__all__ = ["LANGUAGES", "language_code"]

# One string, so that the table reads as a table; "_" stands for a space in a name.
LANGUAGES: dict[str, str] = {
    code: name.replace("_", " ")
    for code, name in (
        pair.split(":")
        for pair in (  # noqa: SIM905
            "en:english zh:chinese de:german es:spanish ru:russian ko:korean fr:french "
            "ja:japanese pt:portuguese tr:turkish pl:polish ca:catalan nl:dutch ar:arabic "
            "sv:swedish it:italian id:indonesian hi:hindi fi:finnish vi:vietnamese he:hebrew "
            "uk:ukrainian el:greek ms:malay cs:czech ro:romanian da:danish hu:hungarian "
            "ta:tamil no:norwegian th:thai ur:urdu hr:croatian bg:bulgarian lt:lithuanian "
            "la:latin mi:maori ml:malayalam cy:welsh sk:slovak te:telugu fa:persian lv:latvian "
            "bn:bengali sr:serbian az:azerbaijani sl:slovenian kn:kannada et:estonian "
            "mk:macedonian br:breton eu:basque is:icelandic hy:armenian ne:nepali mn:mongolian "
            "bs:bosnian kk:kazakh sq:albanian sw:swahili gl:galician mr:marathi pa:punjabi "
            "si:sinhala km:khmer sn:shona yo:yoruba so:somali af:afrikaans oc:occitan "
            "ka:georgian be:belarusian tg:tajik sd:sindhi gu:gujarati am:amharic yi:yiddish "
            "lo:lao uz:uzbek fo:faroese ht:haitian_creole ps:pashto tk:turkmen nn:nynorsk "
            "mt:maltese sa:sanskrit lb:luxembourgish my:myanmar bo:tibetan tl:tagalog "
            "mg:malagasy as:assamese tt:tatar haw:hawaiian ln:lingala ha:hausa ba:bashkir "
            "jw:javanese su:sundanese yue:cantonese"
        ).split()
    )
}
"""ISO 639-1 code (``haw`` and ``yue`` excepted) -> English name, lower case."""

_BY_NAME = {name: code for code, name in LANGUAGES.items()}


def language_code(language: str | None) -> str | None:
    """The code of ``language``, given as a code or an English name in any case; None
    (detect the language) for None, ``""`` or ``"auto"``.

    Raises :class:`~livewhisper.errors.DecodeOptionsError` for a language Whisper does
    not know.

    Example: ``language_code("Spanish")`` is ``"es"``; ``language_code("klingon")`` raises.
    """
    if language is None:
        return None
    key = " ".join(language.split()).lower()
    if key in ("", "auto"):
        return None
    if key in LANGUAGES:
        return key
    if key in _BY_NAME:
        return _BY_NAME[key]
    raise DecodeOptionsError(
        f"unknown language {language!r}: use an ISO 639-1 code such as 'en', 'es', 'de', "
        "or 'auto' to detect it"
    )
