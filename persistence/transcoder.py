"""The library's JSON transcoder, with its encoder built once per thread instead of per call.

`JSONTranscoder.encode` goes through `json.JSONEncoder.encode` and `iterencode`, which build
a new C encoder (`c_make_encoder`) for every state they encode: 2.2 of the 6.9 µs that
encoding a registered manager's state takes (timeit, issue 18). This transcoder keeps the
C encoder it built, with the same separators, escaping and `default` hook, so the bytes it
writes are the library's own, byte for byte (tests/persistence/test_transcoder.py), and
the library's transcoder (or this one, which inherits its decoding) reads them back.
"""

from __future__ import annotations

import json.encoder
import threading
from collections.abc import Callable
from typing import Any

from eventsourcing.persistence import JSONTranscoder, Transcoder
from eventsourcing.utils import resolve_topic

# The C accelerator of the json module; without it (some other interpreters) this
# transcoder encodes as the library's does.
_C_MAKE_ENCODER: Callable[..., Any] | None = getattr(json.encoder, "c_make_encoder", None)


class KeptEncoderTranscoder(JSONTranscoder):
    """A JSONTranscoder whose encoder is built once per thread (it is not shareable:
    the markers it uses to detect circular references live as long as it does)."""

    def __init__(self) -> None:
        super().__init__()
        self._kept = threading.local()

    def encode(self, obj: Any) -> bytes:
        if _C_MAKE_ENCODER is None or self.encoder.indent is not None:
            return super().encode(obj)  # iterencode would not use the C encoder either
        encoder = getattr(self._kept, "encoder", None)
        if encoder is None:
            encoder = self._kept.encoder = self._new_encoder()
        try:
            return "".join(encoder(obj, 0)).encode("utf8")
        except BaseException:
            # An encoding that failed midway may leave its markers behind.
            self._kept.encoder = None
            raise

    def _new_encoder(self) -> Callable[[Any, int], Any]:
        # The arguments json.JSONEncoder.iterencode passes, from the library's own
        # encoder, so that any setting it chose is the one used here.
        library = self.encoder
        assert _C_MAKE_ENCODER is not None
        return _C_MAKE_ENCODER(  # type: ignore[no-any-return]
            {} if library.check_circular else None,
            library.default,
            json.encoder.encode_basestring_ascii if library.ensure_ascii
            else json.encoder.encode_basestring,
            library.indent,
            library.key_separator,
            library.item_separator,
            library.sort_keys,
            library.skipkeys,
            library.allow_nan,
        )


def transcoder_of(env_topic: str | None) -> Transcoder:
    """The transcoder a factory builds: the one TRANSCODER_TOPIC names, if it names one,
    else this module's."""
    if env_topic:
        transcoder: Transcoder = resolve_topic(env_topic)()
        return transcoder
    return KeptEncoderTranscoder()
