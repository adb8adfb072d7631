//! HTTP tests of the demo app: every flow and every bad input, each run on
//! the embedded store and on a sessiond daemon started in this process,
//! over TLS with an auth token as deployed (`on_both_stores!`). Requests
//! go through the router with `oneshot`; `socket.rs` also serves it on a
//! real socket.

mod harness;

mod admin;
mod api;
mod devices;
mod jwt;
mod limits;
mod live;
mod restart;
mod review;
mod sessions;
mod socket;
mod visitor;
