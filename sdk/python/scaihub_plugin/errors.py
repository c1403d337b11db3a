"""The errors a plugin raises, mirroring the WIT `plugin-error` variant.

Raise one of `InvalidConfig`, `InvalidEvent` or `Failed` from a filter or a
transform; the host records its message on the delivery and the webhook's
policy decides what happens to the event. Any other exception escaping a
plugin becomes `Failed` naming the exception (see `scaihub_plugin.dispatch`).
"""


class PluginError(Exception):
    """Why a plugin could not do its work. Use one of the three subclasses."""

    #: The name of the WIT `plugin-error` case this error becomes.
    kind = "failed"
    #: How `str()` introduces the message, as the Rust SDK prints it.
    _label = "failed"

    def __init__(self, message: object) -> None:
        super().__init__(str(message))

    @property
    def message(self) -> str:
        """The message without its kind."""
        return str(self.args[0])

    def __str__(self) -> str:
        return f"{self._label}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.message == other.message  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self.message))


class InvalidConfig(PluginError):
    """The configuration attached to the webhook is unusable; says why."""

    kind = "invalid-config"
    _label = "invalid config"


class InvalidEvent(PluginError):
    """The event or request lacks something the plugin needs; says what."""

    kind = "invalid-event"
    _label = "invalid event"


class Failed(PluginError):
    """Anything else that went wrong; says what."""

    kind = "failed"
    _label = "failed"
