"""`Request`: the outgoing HTTP request a transform receives and returns."""

from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple

from . import jsontext
from .errors import InvalidEvent

#: The content type of JSON bodies.
APPLICATION_JSON = "application/json"


@dataclass
class Request:
    """The request the host is about to send for a delivery. The host adds
    its own `X-ScaiDrive-*` headers and signs the body after the transform,
    and refuses headers it reserves (`X-ScaiDrive-*`, `Host`,
    `Content-Type`, `Content-Length`, hop-by-hop ones): set the content type
    with `content_type`, not as a header."""

    #: The exact bytes of the body.
    body: bytes = b""
    #: Extra headers, name and value, in order.
    headers: List[Tuple[str, str]] = field(default_factory=list)
    #: The `Content-Type` of the body.
    content_type: str = APPLICATION_JSON

    @classmethod
    def from_json(cls, value: Any) -> "Request":
        """A request whose body is `value` as JSON, with no headers."""
        request = cls()
        request.set_body_json(value)
        return request

    def body_text(self) -> str:
        """The body as UTF-8 text; `InvalidEvent` when it is not UTF-8."""
        try:
            return bytes(self.body).decode("utf-8")
        except UnicodeDecodeError as e:
            raise InvalidEvent(f"body is not UTF-8: {e}") from None

    def body_json(self) -> Any:
        """The body parsed as JSON; `InvalidEvent` when it is not JSON."""
        try:
            return jsontext.loads(bytes(self.body))
        except ValueError as e:
            raise InvalidEvent(f"body is not JSON: {e}") from None

    def set_body_json(self, value: Any) -> None:
        """Replaces the body with `value` as compact JSON (keys sorted, as
        the Rust SDK writes it) and sets the content type to
        `application/json`."""
        self.body = jsontext.dumps(value).encode("utf-8")
        self.content_type = APPLICATION_JSON

    def set_body_text(self, text: str, content_type: str = "text/plain; charset=utf-8") -> None:
        """Replaces the body with `text` in UTF-8 and sets the content type."""
        self.body = text.encode("utf-8")
        self.content_type = content_type

    def header(self, name: str) -> Optional[str]:
        """The value of the first header named `name` (case-insensitive)."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def set_header(self, name: str, value: str) -> None:
        """Sets header `name` to `value`, replacing every header of that
        name (case-insensitive); the new one goes last."""
        self.remove_header(name)
        self.headers.append((name, value))

    def remove_header(self, name: str) -> None:
        """Removes every header named `name` (case-insensitive)."""
        wanted = name.lower()
        self.headers = [(k, v) for k, v in self.headers if k.lower() != wanted]
