//! `hostile-filter`: a filter that misbehaves as configured; see
//! `hostile-behaviour` for the behaviours. With `huge-output` its error
//! message is the huge output; with `none` it delivers.

use hostile_behaviour::{Behaviour, huge_output};
use scaihub_sdk::{Config, Error, Event, Filter, Verdict, export_filter};

/// The plugin.
pub struct HostileFilter;

impl Filter for HostileFilter {
    fn filter(_: &Event, config: &Config) -> Result<Verdict, Error> {
        let behaviour = Behaviour::from_config(config)?;
        behaviour.misbehave()?;
        match behaviour {
            Behaviour::HugeOutput { bytes } => {
                let text = String::from_utf8(huge_output(bytes)).map_err(Error::failed)?;
                Err(Error::Failed(text))
            }
            _ => Ok(Verdict::Deliver),
        }
    }
}

export_filter!(HostileFilter);
