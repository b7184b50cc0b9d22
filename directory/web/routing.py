"""URL converters."""

from werkzeug.routing import BaseConverter


class IdConverter(BaseConverter):
    """A database id in a URL: 1 to 18 ASCII digits (fits a 64-bit integer), no leading zero.
    Unlike werkzeug's ``int``, it refuses other scripts' digits (``/centers/１``) and huge
    numbers, which then get the ordinary 404 instead of a second URL or an overflow."""

    regex = r"[1-9][0-9]{0,17}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value) -> str:
        return str(int(value))
