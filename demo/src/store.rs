//! Which stores the app runs on, and how their errors are read.
//!
//! The app is written once, generic over [`Backend`]: any
//! [`SessionStore`] whose error can say whether it is one of the store's own
//! answers. Generic rather than an enum over the two stores, because the
//! trait already is the seam the project designed for this: an enum would
//! repeat every operation twice, and a third store (a test double, a future
//! client) would mean editing it. The one thing the trait leaves open is how
//! to recognise "no such session" or "limit reached" inside a client's
//! error, which [`AsStoreError`] answers.

pub use sessiond_protocol::AsStoreError;
use sessiond_protocol::{SessionEvents, SessionStore};

use crate::error::AppError;

/// A session store the app can run on: the embedded `sessiond::Store` or
/// the network `sessiond_client::Client`.
pub trait Backend: SessionStore<Error: AsStoreError> + SessionEvents + 'static {}

impl<S: SessionStore<Error: AsStoreError> + SessionEvents + 'static> Backend for S {}

/// Turns a store result into the app's, keeping the store's answer (not
/// found, limit reached) apart from a store that cannot be reached. A
/// session not found becomes [`AppError::SignedOut`].
pub(crate) trait Checked<T> {
    /// The result with its error as an [`AppError`].
    fn checked(self) -> Result<T, AppError>;
}

impl<T, E: AsStoreError + std::fmt::Display> Checked<T> for Result<T, E> {
    fn checked(self) -> Result<T, AppError> {
        self.map_err(|err| match err.as_store_error() {
            Some(store) => AppError::from_store(store.clone()),
            None => AppError::Unavailable(err.to_string()),
        })
    }
}
