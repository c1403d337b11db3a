//! `hostile-transform`: a transform that misbehaves as configured; see
//! `hostile-behaviour` for the behaviours. With `huge-output` it returns a
//! body of that many bytes; with `none` it returns the request unchanged.

use hostile_behaviour::{Behaviour, huge_output};
use scaihub_sdk::{Config, Error, Event, Request, Transform, export_transform};

/// The plugin.
pub struct HostileTransform;

impl Transform for HostileTransform {
    fn transform(_: &Event, mut request: Request, config: &Config) -> Result<Request, Error> {
        let behaviour = Behaviour::from_config(config)?;
        behaviour.misbehave()?;
        if let Behaviour::HugeOutput { bytes } = behaviour {
            request.body = huge_output(bytes);
            request.content_type = "text/plain".to_owned();
        }
        Ok(request)
    }
}

export_transform!(HostileTransform);
