"""`hostile-filter` (Python): a filter that misbehaves as configured; see
`behaviour` for the behaviours. With `huge-output` its error message is the
huge output; with `none` it delivers."""

from behaviour import Behaviour, huge_output
from scaihub_plugin import Config, Event, Failed, Verdict, filter


@filter
def hostile_filter(event: Event, config: Config) -> Verdict:
    behaviour = Behaviour.from_config(config)
    behaviour.misbehave()
    if behaviour.behaviour == "huge-output":
        raise Failed(huge_output(behaviour.bytes).decode("ascii"))
    return Verdict.DELIVER
