"""Bar sources: the file formats of stooq and the GPW archive, detected from the header."""

from market_data.sources.formats import FORMATS, BarFormat, FormatError, detect_format
from market_data.sources.reader import LineIssue, ParsedFile, read_bar_file

__all__ = ["FORMATS", "BarFormat", "FormatError", "LineIssue", "ParsedFile", "detect_format", "read_bar_file"]
