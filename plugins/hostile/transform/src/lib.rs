//! `hostile-transform`: a transform that misbehaves as configured; see
//! `hostile-behaviour` for the behaviours. With `huge-output` it returns a
//! body of that many bytes; with `remember`, the request with header
//! `x-seen-before`; with `none` it returns the request unchanged.

use hostile_behaviour::{Behaviour, huge_output, remember};
use scaihub_sdk::{Config, Error, Event, Request, Transform, export_transform};

/// The plugin.
pub struct HostileTransform;

impl Transform for HostileTransform {
    fn transform(event: &Event, mut request: Request, config: &Config) -> Result<Request, Error> {
        let behaviour = Behaviour::from_config(config)?;
        behaviour.misbehave()?;
        match behaviour {
            Behaviour::HugeOutput { bytes } => {
                request.body = huge_output(bytes);
                request.content_type = "text/plain".to_owned();
            }
            Behaviour::Remember => {
                request.set_header("x-seen-before", &remember(&event.event_id));
            }
            _ => {}
        }
        Ok(request)
    }
}

export_transform!(HostileTransform);
