//! The traits a plugin implements (`Filter`, `Transform`), the filter's
//! `Verdict`, and the glue the `export_*!` macros call to translate between
//! the generated WIT types and the SDK's own.

use crate::bindings::filter::scaidrive::hooks::types as wit;
use crate::{Category, Config, Error, Event, Request};

/// A filter's answer for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send the event to the webhook.
    Deliver,
    /// Do not send it; the delivery is recorded as filtered.
    Skip,
}

impl Verdict {
    /// [`Verdict::Deliver`] when `deliver` holds, else [`Verdict::Skip`].
    pub fn deliver_if(deliver: bool) -> Self {
        if deliver { Self::Deliver } else { Self::Skip }
    }
}

/// A plugin that decides whether a webhook receives an event. Export it with
/// [`export_filter!`](crate::export_filter).
pub trait Filter {
    /// Judges `event` under the webhook's `config`.
    fn filter(event: &Event, config: &Config) -> Result<Verdict, Error>;
}

/// A plugin that rewrites the request a webhook will receive. Export it with
/// [`export_transform!`](crate::export_transform).
pub trait Transform {
    /// Turns `request`, built from `event`, into the request to send.
    fn transform(event: &Event, request: Request, config: &Config) -> Result<Request, Error>;
}

/// Called by the code [`export_filter!`](crate::export_filter) expands to.
#[doc(hidden)]
pub fn run_filter<P: Filter>(
    event: wit::Event,
    config: String,
) -> Result<wit::Verdict, wit::PluginError> {
    let verdict = P::filter(&event.into(), &Config::new(config))?;
    Ok(match verdict {
        Verdict::Deliver => wit::Verdict::Deliver,
        Verdict::Skip => wit::Verdict::Skip,
    })
}

/// Called by the code [`export_transform!`](crate::export_transform) expands to.
#[doc(hidden)]
pub fn run_transform<P: Transform>(
    event: wit::Event,
    request: wit::OutgoingRequest,
    config: String,
) -> Result<wit::OutgoingRequest, wit::PluginError> {
    let request = Request {
        body: request.body,
        headers: request.headers,
        content_type: request.content_type,
    };
    let out = P::transform(&event.into(), request, &Config::new(config))?;
    Ok(wit::OutgoingRequest {
        body: out.body,
        headers: out.headers,
        content_type: out.content_type,
    })
}

impl From<wit::Event> for Event {
    fn from(e: wit::Event) -> Self {
        Self {
            event_id: e.event_id,
            timestamp: e.timestamp,
            category: e.category.into(),
            action: e.action,
            user_id: e.user_id,
            resource_id: e.resource_id,
            payload: e.payload,
            ip_address: e.ip_address,
            share_id: e.share_id,
            service_account: e.service_account,
        }
    }
}

impl From<wit::Category> for Category {
    fn from(c: wit::Category) -> Self {
        match c {
            wit::Category::Authentication => Self::Authentication,
            wit::Category::Authorization => Self::Authorization,
            wit::Category::FileAccess => Self::FileAccess,
            wit::Category::FileModification => Self::FileModification,
            wit::Category::Sharing => Self::Sharing,
            wit::Category::Admin => Self::Admin,
            wit::Category::Security => Self::Security,
            wit::Category::Compliance => Self::Compliance,
        }
    }
}

impl From<Error> for wit::PluginError {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidConfig(m) => Self::InvalidConfig(m),
            Error::InvalidEvent(m) => Self::InvalidEvent(m),
            Error::Failed(m) => Self::Failed(m),
        }
    }
}
