"""`hostile-transform` (Python): a transform that misbehaves as configured;
see `behaviour` for the behaviours. With `huge-output` it returns a body of
that many bytes; with `none` it returns the request unchanged."""

from behaviour import Behaviour, huge_output
from scaihub_plugin import Config, Event, Request, transform


@transform
def hostile_transform(event: Event, request: Request, config: Config) -> Request:
    behaviour = Behaviour.from_config(config)
    behaviour.misbehave()
    if behaviour.behaviour == "huge-output":
        request.body = huge_output(behaviour.bytes)
        request.content_type = "text/plain"
    return request
