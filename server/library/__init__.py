"""A user's reference library in and out: BibTeX, RIS, CSL-JSON and plain lists of ids.

``import_library`` reads a library file (the format is detected) into catalog papers and the
user's ``save`` events, idempotently; ``export_library`` writes stored papers in any of those
formats, which read back as the same papers. The CLI (``nextpaper library import``), the HTTP
API (``POST /api/v1/library``) and the web app's saved list all go through these two.
"""

from .formats import FORMATS, export_library, read_library
from .importer import ImportResult, describe, import_library
from .records import LibraryError, NothingImported

__all__ = [
    "FORMATS",
    "ImportResult",
    "LibraryError",
    "NothingImported",
    "describe",
    "export_library",
    "import_library",
    "read_library",
]
