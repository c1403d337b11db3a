//! What every request handler gets, the API's and the console's alike.
//! It sits below both (`http` and `console` look down to it; neither
//! looks at the other); `server::app` mounts the two side by side.

use std::sync::Arc;

use crate::hub::Hub;

/// The state of the web application.
#[derive(Clone)]
pub struct AppState {
    pub hub: Arc<Hub>,
    /// The OpenAPI document of this build, served at `/openapi.json`.
    pub openapi: Arc<String>,
}
